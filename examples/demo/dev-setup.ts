/**
 * Development keys and gateway config for `npm start` and `npm run demo`: generated once with
 * `wxseal keygen` into .wxseal/dev (git-ignored, private files 0600) and reused afterwards.
 */
import { randomBytes } from 'node:crypto';
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
  /** The development admin token (admin API and console login), kept in `admin-token.txt` (0600). */
  adminToken: string;
  adminTokenPath: string;
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

/** The development admin token: generated once into `<dir>/admin-token.txt` (0600) and reused. */
export function ensureDevAdminToken(dir: string): { token: string; path: string } {
  const path = join(dir, 'admin-token.txt');
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length >= 32) return { token, path };
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, path };
}

/**
 * Writes the gateway config for a local run: /api → the demo upstream, in-memory nonce store, and
 * the admin API + console on the admin listener (login with the development admin token).
 */
export function writeDevConfig(opts: { dir: string; serverKeyId: string; upstreamUrl: string; port: number; adminPort: number }): DevSetup {
  const gatewayConfigPath = join(opts.dir, 'gateway.json');
  const admin = ensureDevAdminToken(opts.dir);
  const config = {
    listeners: { public: { host: '127.0.0.1', port: opts.port }, admin: { host: '127.0.0.1', port: opts.adminPort } },
    routes: [{ name: 'api', prefix: '/api', upstream: opts.upstreamUrl, mode: 'sealed-or-signed', timeoutMs: 5000 }],
    clients: [{ keyId: KEY_ID, secrets: [{ secretFile: 'client-secret.txt' }] }],
    serverKeys: [{ privateKeyFile: 'server-private.pem' }],
    nonceStore: { type: 'memory', maxEntries: 100000 },
    sessionKeyCache: { maxEntries: 1000, ttlSeconds: 300 },
    log: { level: process.env.WXSEAL_LOG_LEVEL ?? 'warn' },
    // Development only: a generated token; in production prefer users with scrypt hashes
    // (`wxseal admin hash-password`) and tokenEnv.
    admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: 'admin-state', sessionTtl: '8h' },
  };
  writeFileSync(gatewayConfigPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return {
    dir: opts.dir,
    clientConfigPath: join(opts.dir, 'client.json'),
    gatewayConfigPath,
    keyId: KEY_ID,
    serverKeyId: opts.serverKeyId,
    adminToken: admin.token,
    adminTokenPath: admin.path,
  };
}

/** Points the generated client config at the gateway's actual address. */
export function pointClientAt(clientConfigPath: string, baseUrl: string): void {
  const client = JSON.parse(readFileSync(clientConfigPath, 'utf8')) as Record<string, unknown>;
  client.baseUrl = baseUrl;
  writeFileSync(clientConfigPath, JSON.stringify(client, null, 2) + '\n', { mode: 0o600 });
}
