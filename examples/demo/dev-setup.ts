/**
 * Development keys and gateway config for `npm start` and `npm run demo`: generated once with
 * `wxseal keygen` into .wxseal/dev (git-ignored, private files 0600) and reused afterwards.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keygen } from '@wxseal/cli';

export interface DevSetup {
  dir: string;
  clientConfigPath: string;
  gatewayConfigPath: string;
  keyId: string;
  serverKeyId: string;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
export const KEY_ID = 'bff-dev';

export function ensureDevKeys(dir = process.env.WXSEAL_DEV_DIR ?? join(root, '.wxseal/dev')): { dir: string; serverKeyId: string; fresh: boolean } {
  dir = resolve(dir);
  const clientPath = join(dir, 'client.json');
  if (existsSync(clientPath) && existsSync(join(dir, 'server-private.pem'))) {
    const client = JSON.parse(readFileSync(clientPath, 'utf8')) as { serverKeyId: string };
    return { dir, serverKeyId: client.serverKeyId, fresh: false };
  }
  const r = keygen({ out: dir, bits: 2048, keyId: KEY_ID, baseUrl: 'http://127.0.0.1:8080', force: true });
  return { dir, serverKeyId: r.serverKeyId, fresh: true };
}

/** Writes the gateway config for a local run: /api → the demo upstream, in-memory nonce store. */
export function writeDevConfig(opts: { dir: string; serverKeyId: string; upstreamUrl: string; port: number; adminPort: number }): DevSetup {
  const gatewayConfigPath = join(opts.dir, 'gateway.json');
  const config = {
    listeners: { public: { host: '127.0.0.1', port: opts.port }, admin: { host: '127.0.0.1', port: opts.adminPort } },
    routes: [{ name: 'api', prefix: '/api', upstream: opts.upstreamUrl, mode: 'sealed-or-signed', timeoutMs: 5000 }],
    clients: [{ keyId: KEY_ID, secrets: [{ secretFile: 'client-secret.txt' }] }],
    serverKeys: [{ privateKeyFile: 'server-private.pem' }],
    nonceStore: { type: 'memory', maxEntries: 100000 },
    sessionKeyCache: { maxEntries: 1000, ttlSeconds: 300 },
    log: { level: process.env.WXSEAL_LOG_LEVEL ?? 'warn' },
  };
  writeFileSync(gatewayConfigPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { dir: opts.dir, clientConfigPath: join(opts.dir, 'client.json'), gatewayConfigPath, keyId: KEY_ID, serverKeyId: opts.serverKeyId };
}

/** Points the generated client config at the gateway's actual address. */
export function pointClientAt(clientConfigPath: string, baseUrl: string): void {
  const client = JSON.parse(readFileSync(clientConfigPath, 'utf8')) as Record<string, unknown>;
  client.baseUrl = baseUrl;
  writeFileSync(clientConfigPath, JSON.stringify(client, null, 2) + '\n', { mode: 0o600 });
}
