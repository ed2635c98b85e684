/**
 * The REAL gateway (packages/gateway, `startGateway(config)`) as a bench target, in its own
 * process, configured for the bench: one sealed route to the bench's upstream, the bench's
 * client credential and server key, an in-memory nonce store, logs off, and optionally the
 * session-key cache. The config is passed as a plain object (validated by the gateway itself), so
 * the bench keeps compiling while the gateway's types evolve; a config the gateway no longer
 * accepts fails at start with the gateway's own error message.
 */
import { readBenchKeys } from '../keys.js';
import { announceReady, childConfig } from '../process.js';
import type { ForwardingServerConfig } from './common.js';

interface RealGatewayConfig extends ForwardingServerConfig {
  sessionKeyCache?: boolean;
}

interface RunningGatewayLike {
  url: string;
  adminUrl: string;
  close?: () => Promise<void>;
}

const config = childConfig<RealGatewayConfig>();
const keys = readBenchKeys();
const mod = (await import('@wxseal/gateway')) as Record<string, unknown>;
const startGateway = mod['startGateway'] as ((config: unknown) => Promise<RunningGatewayLike>) | undefined;
if (typeof startGateway !== 'function') throw new Error('@wxseal/gateway does not export startGateway(config)');

const gatewayConfig = {
  listeners: {
    public: { host: '127.0.0.1', port: 0, keepAliveTimeoutMs: 65_000 },
    admin: { host: '127.0.0.1', port: 0 },
  },
  routes: [{ name: 'bench', prefix: '/', upstream: config.upstreamUrl, mode: 'sealed' }],
  clients: [{ keyId: keys.keyId, secrets: [{ id: 'bench', secret: keys.secret }] }],
  serverKeys: [{ id: keys.serverKeyId, privateKey: keys.privateKeyPem }],
  nonceStore: { type: 'memory', maxEntries: 4_000_000 },
  log: { level: 'silent' },
  ...(config.sessionKeyCache ? { sessionKeyCache: { maxEntries: 10_000, ttlSeconds: 300 } } : {}),
};

const gateway = await startGateway(gatewayConfig);
if (typeof gateway?.url !== 'string') throw new Error('startGateway did not resolve with { url }');
announceReady({ url: gateway.url, adminUrl: gateway.adminUrl }, () => gateway.close?.());
