/**
 * The REAL gateway (packages/gateway, `startGateway(config)`) as a bench target, in its own
 * process, configured for the bench: one sealed route to the bench's upstream, the bench's
 * client credential and server key, an in-memory nonce store, logs off, and optionally the
 * session-key cache. The config is passed as a plain object (validated by the gateway itself), so
 * the bench keeps compiling while the gateway's types evolve; a config the gateway no longer
 * accepts fails at start with the gateway's own error message.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serialOf } from '../device-serials.js';
import { readBenchKeys } from '../keys.js';
import { announceReady, childConfig } from '../process.js';
import { DEVICE_CACHE_KEY_ENV, DEVICE_MASTER_KEYS_ENV } from '../targets.js';
import type { ForwardingServerConfig } from './common.js';

interface RealGatewayConfig extends ForwardingServerConfig {
  sessionKeyCache?: boolean;
  /** The TLS part: HTTPS on the public listener (listeners.public.tls). */
  tls?: { certFile: string; keyFile: string };
  /** Scenario (g): a `devices` section over this registry and a sign-only route (keys in the environment). */
  devices?: { databaseUrl: string; devices: number; redis?: { url: string; prefix: string }; preloadBudgetS: number };
  /** The admin part: an `admin` section (token auth from this environment variable, stateDir), the console off. */
  admin?: { tokenEnv: string; stateDir: string };
}

interface RunningGatewayLike {
  url: string;
  adminUrl: string;
  close?: () => Promise<void>;
  devices?: { resolver: { resolve(serial: string): Promise<unknown> }; stats(): { resolver: Record<string, unknown> } & Record<string, unknown> };
}

const config = childConfig<RealGatewayConfig>();
const keys = readBenchKeys();
const mod = (await import('@wxseal/gateway')) as Record<string, unknown>;
const startGateway = mod['startGateway'] as ((config: unknown) => Promise<RunningGatewayLike>) | undefined;
if (typeof startGateway !== 'function') throw new Error('@wxseal/gateway does not export startGateway(config)');

const gatewayConfig = {
  listeners: {
    public: { host: '127.0.0.1', port: 0, keepAliveTimeoutMs: 65_000, ...(config.tls ? { tls: { certFile: config.tls.certFile, keyFile: config.tls.keyFile, watch: false } } : {}) },
    admin: { host: '127.0.0.1', port: 0 },
  },
  // Scenario (g): device requests are sign-only (the brief's "sign-only mode").
  routes: [{ name: 'bench', prefix: '/', upstream: config.upstreamUrl, mode: config.devices ? 'signed' : 'sealed' }],
  clients: [{ keyId: keys.keyId, secrets: [{ id: 'bench', secret: keys.secret }] }],
  serverKeys: [
    { id: keys.serverKeyId, privateKey: keys.privateKeyPem },
    { id: keys.x25519ServerKeyId, privateKey: keys.x25519PrivateKeyPem },
    // Scenario (l): the SM suite (SPEC 6.6), chosen by requests that name this key.
    { id: keys.sm2ServerKeyId, privateKey: keys.sm2PrivateKeyPem },
  ],
  nonceStore: { type: 'memory', maxEntries: 4_000_000 },
  log: { level: 'silent' },
  ...(config.sessionKeyCache ? { sessionKeyCache: { maxEntries: 10_000, ttlSeconds: 300 } } : {}),
  ...(config.devices
    ? {
        devices: {
          database: { url: config.devices.databaseUrl },
          masterKeys: { env: DEVICE_MASTER_KEYS_ENV },
          ...(config.devices.redis ? { redis: { url: config.devices.redis.url, prefix: config.devices.redis.prefix, cacheKeyEnv: DEVICE_CACHE_KEY_ENV } } : {}),
          bloom: { expectedSerials: Math.max(1000, config.devices.devices), falsePositiveRate: 0.01, rebuildIntervalMs: 0 },
          allowedModes: ['signed'],
        },
      }
    : {}),
  ...(config.admin ? { admin: { auth: { tokenEnv: config.admin.tokenEnv }, stateDir: config.admin.stateDir, console: { enabled: false } } } : {}),
};

const gateway = await startGateway(gatewayConfig);
if (typeof gateway?.url !== 'string') throw new Error('startGateway did not resolve with { url }');

let statsUrl: string | undefined;
let closeStats = async (): Promise<void> => undefined;
if (config.devices) {
  const devices = gateway.devices;
  if (!devices) throw new Error('the gateway started without its devices runtime (gateway.devices)');
  // Steady state first, as in the devices part: load the hot set (every 10th serial, 10 % of the
  // devices) into the gateway's own L1 (and Redis), 32 lookups in flight, within a time budget. A
  // long-running gateway has its hot devices cached; a cold start would measure SQLite loads only.
  const hot = Math.max(1, Math.floor(config.devices.devices / 10));
  const end = performance.now() + config.devices.preloadBudgetS * 1000;
  let preloaded = 0;
  while (preloaded < hot && performance.now() < end) {
    const batch: Array<Promise<unknown>> = [];
    for (let j = 0; j < 32 && preloaded < hot; j++, preloaded++) batch.push(devices.resolver.resolve(serialOf(10 * preloaded)));
    await Promise.all(batch);
  }
  // The device cache's counters (gateway.devices.stats()), which /metrics does not carry.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...devices.stats(), hotDevices: hot, hotPreloaded: preloaded }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  statsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeStats = () => new Promise<void>((resolve) => server.close(() => resolve()));
}
announceReady({ url: gateway.url, adminUrl: gateway.adminUrl, ...(statsUrl ? { statsUrl } : {}) }, async () => {
  await closeStats();
  await gateway.close?.();
});
