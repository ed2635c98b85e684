// What the tests of a gateway need, in the gateway package and in tests/e2e: fresh keys, a
// recording upstream, configs on disk, a log capture, a client for a gateway, plain HTTP requests,
// and a poll on a condition.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import * as gm from '@wxseal/gm';
import { sm2ServerKeyId } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { serverKeyIdFor } from '@wxseal/server';
import { createClient, type ClientOptions, type WxsealClient } from '@wxseal/client';
import type { GatewayConfigInput } from '@wxseal/gateway';
import { Redis } from 'ioredis';

export interface TestKeys {
  keyId: string;
  secret: string; // b64u
  serverKeyId: string;
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A client credential and a server key pair: RSA-2048 by default, or X25519 (SPEC 6.5). */
export function makeKeys(keyId = 'bff-gw', type: 'rsa' | 'x25519' = 'rsa'): TestKeys {
  const { privateKey, publicKey } = type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    keyId,
    secret: newSecret(),
    serverKeyId: serverKeyIdFor(publicKey),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * A client credential and an SM2 server key pair (the SM suite, SPEC 6.6) as PKCS#8 / SPKI PEM, as
 * OpenSSL and `wxseal keygen --type sm2` write them; the public point in hex too.
 */
export function makeSm2Keys(keyId: string, secret: string = newSecret()): TestKeys & { publicKeyHex: string } {
  const pair = gm.sm2GenerateKeyPair();
  return {
    keyId,
    secret,
    serverKeyId: sm2ServerKeyId(pair.publicKeyHex),
    privateKeyPem: gm.sm2PrivateKeyToPem(pair.privateKeyHex),
    publicKeyPem: gm.sm2PublicKeyToPem(pair.publicKeyHex),
    publicKeyHex: pair.publicKeyHex,
  };
}

export function newSecret(): string {
  return b64uEncode(randomBytes(32));
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'wxseal-gw-'));
}

/** One request as the upstream saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

export type UpstreamHandler = (req: Seen, res: ServerResponse) => void | Promise<void>;

export interface Upstream {
  url: string;
  port: number;
  seen: Seen[];
  server: Server;
  close(): Promise<void>;
}

/**
 * A plain HTTP upstream that records every request. By default it answers JSON describing the
 * request; `/slow/<ms>` waits that long first, `/status/<n>` answers with that status.
 */
export async function startUpstream(handler?: UpstreamHandler): Promise<Upstream> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
    seen.push(s);
    if (handler) return handler(s, res);
    return defaultHandler(s, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function defaultHandler(s: Seen, res: ServerResponse): Promise<void> {
  const slow = /\/slow\/(\d+)/.exec(s.url);
  // unref: a test that gave up waiting must not be kept alive by this timer.
  if (slow) await new Promise((r) => setTimeout(r, Number(slow[1])).unref());
  const bytes = /\/bytes\/(\d+)/.exec(s.url);
  if (bytes) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(Number(bytes[1]), 0x61));
    return;
  }
  if (s.url.includes('/gzip')) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(JSON.stringify({ compressed: true })));
    return;
  }
  if (s.url.includes('/fake-rejection')) {
    // An upstream (or an attacker behind it) trying to pass for a verifier rejection.
    res.writeHead(401, { 'content-type': 'application/json', 'wxseal-error': 'WXSEAL_BAD_SIGNATURE', 'wxseal-server-time': '1' }).end('{"error":"upstream"}');
    return;
  }
  const status = /\/status\/(\d{3})/.exec(s.url);
  const code = status ? Number(status[1]) : 200;
  if (code === 204 || code === 304) {
    res.writeHead(code).end();
    return;
  }
  const body = JSON.stringify({ method: s.method, url: s.url, body: s.body.toString('utf8'), contentType: s.headers['content-type'] ?? null });
  res.writeHead(code, { 'content-type': 'application/json', 'x-upstream': 'yes', etag: '"plain-derived"' });
  res.end(body);
}

/** A pino logger whose lines are kept in memory, and the lines. */
export function captureLogger(level: 'info' | 'debug' = 'info'): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines, text: () => lines.join('') };
}

/** A minimal gateway config object for `keys` and one upstream, on port 0 everywhere. */
export function baseConfig(keys: TestKeys, upstreamUrl: string, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    listeners: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    routes: [{ prefix: '/api', upstream: upstreamUrl, mode: 'sealed-or-signed' }],
    clients: [{ keyId: keys.keyId, secrets: [{ id: 's1', secret: keys.secret }] }],
    serverKeys: [{ privateKey: keys.privateKeyPem }],
    nonceStore: { type: 'memory' },
    log: { level: 'info' },
    ...extra,
  };
}

export function writeYaml(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, toYaml(value));
  return path;
}

export function clientFor(keys: TestKeys, baseUrl: string, options: Partial<ClientOptions> = {}): WxsealClient {
  return createClient({
    baseUrl,
    keyId: keys.keyId,
    secret: keys.secret,
    serverKeyId: keys.serverKeyId,
    serverPublicKey: keys.publicKeyPem,
    retry: { maxAttempts: 1 },
    timeoutMs: 5000,
    ...options,
  });
}

/**
 * Plain HTTP request (no wxseal), for passthrough routes, spoofing and the admin listener. The
 * path goes on the request line exactly as given (a URL string would be normalised first).
 */
export async function plainRequest(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string> | [string, string][]; body?: string | Buffer } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string; raw: Buffer }> {
  const { request } = await import('node:http');
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // Node adds neither Host nor Content-Length for array-form headers: the body would read as a second request.
    const list: [string, string][] = Array.isArray(options.headers) ? [...options.headers] : Object.entries(options.headers ?? {});
    if (options.body !== undefined && !list.some(([n]) => n.toLowerCase() === 'content-length')) {
      list.push(['content-length', String(Buffer.byteLength(options.body))]);
    }
    if (!list.some(([n]) => n.toLowerCase() === 'host')) list.unshift(['host', `${hostname}:${port}`]);
    const headers = list.flat();
    const req = request({ hostname, port, path, method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), raw });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, at most `ms`. */
export async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

/** The shared Redis at 127.0.0.1:6379, connected; a test that needs it fails (never skips) without it. */
export async function connectSharedRedis(): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    assert.equal(await redis.ping(), 'PONG');
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not reachable at 127.0.0.1:6379 (${(err as Error).message}). Start it with \`npm run services\`; this test fails rather than skips.`);
  }
  return redis;
}

/**
 * An upstream handler whose requests to `/…/hold/<name>` wait until the test releases `<name>`:
 * a request kept in flight for as long as a test needs (a reload, a drain), without a sleep.
 */
export class HoldingUpstream {
  readonly #releases = new Map<string, () => void>();
  readonly #released = new Map<string, Promise<void>>();

  /** Holds requests to `hold/<name>` from now on; call the answer to let them through. */
  hold(name: string): () => void {
    let release = (): void => undefined;
    this.#released.set(name, new Promise<void>((r) => (release = r)));
    this.#releases.set(name, release);
    return release;
  }

  releaseAll(): void {
    for (const release of this.#releases.values()) release();
  }

  readonly handler = async (s: Seen, res: ServerResponse): Promise<void> => {
    const name = /\/hold\/([\w-]+)/.exec(s.url)?.[1];
    if (name !== undefined) await this.#released.get(name);
    return defaultHandler(s, res);
  };
}

/** Deletes a test's keys under `prefix` from the shared Redis and disconnects (for `after`; never the whole server). */
export async function dropRedisPrefix(redis: Redis | undefined, prefix: string): Promise<void> {
  if (redis?.status !== 'ready') return;
  const found = await redis.keys(`${prefix}*`);
  if (found.length > 0) await redis.del(...found);
  redis.disconnect();
}
