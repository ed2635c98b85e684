/**
 * Request pools for the load generator.
 *
 * Sealed and forged requests are built with `buildRequest` from @wxseal/protocol, the function the
 * client calls, with exactly the fields @wxseal/client passes for `client.post(path, { json,
 * identity })` (JSON body and content type, identity, a generated traceparent, the current
 * timestamp, a fresh nonce; with session-key reuse, one session key and wrapped key for up to
 * `maxMessages` requests and a fresh IV each, as the client's SessionKeyReuse does). Building them
 * directly is ~10× faster than driving the client over HTTP, which matters for pools of 10^5
 * requests. To keep them honest, `checkSameShape` compares them with requests the real client sends,
 * captured on the wire by a throw-away local server (`captureClientRequests`).
 *
 * Every request has its own nonce, timestamp (the time it was built), IV and signature, so a pool
 * of N distinct requests can be sent at most N times before the gateway would (rightly) see
 * replays. Pools are generated before the measurement starts, in the load generator's process.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, randomBytes } from 'node:crypto';
import { createClient, type ClientOptions } from '@wxseal/client';
import { gm } from '../gm.js';
import { buildRequest, deviceRequestSpec, type RequestSpec, type ServerPublicKey } from '@wxseal/protocol';
import { b64uDecodeStrict, b64uEncode, generateSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';
import { deviceKeyOf, hotSetSerial } from '../device-serials.js';
import type { BenchKeys } from '../keys.js';

/** One HTTP request as it goes on the wire (hop-by-hop headers removed; autocannon adds its own). */
export interface WireRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** What a scenario sends. */
export type TrafficKind = 'plain' | 'sealed' | 'forged' | 'sealed-reuse' | 'sealed-x25519' | 'sealed-sm' | 'device-signed';

/** The server key a sealed request of `traffic` is wrapped for: the X25519 one (SPEC 6.5), the SM2 one (SPEC 6.6) or the RSA one. */
export function serverKeyFor(keys: BenchKeys, traffic: TrafficKind): { id: string; publicKeyPem: string } {
  if (traffic === 'sealed-sm') return { id: keys.sm2ServerKeyId, publicKeyPem: keys.sm2PublicKeyPem };
  return traffic === 'sealed-x25519' ? { id: keys.x25519ServerKeyId, publicKeyPem: keys.x25519PublicKeyPem } : { id: keys.serverKeyId, publicKeyPem: keys.publicKeyPem };
}

/** The SM2 server key of the run as a client holds it (SPEC 6.6: the SM suite, primitives from @wxseal/gm). */
export function smServerPublicKey(keys: BenchKeys): ServerPublicKey {
  return { id: keys.sm2ServerKeyId, sm2: { type: 'sm2', publicKeyHex: keys.sm2PublicKeyHex, primitives: gm } };
}

/** The application payload every scenario carries: a small JSON order, the same plaintext for all. */
export const PAYLOAD = {
  orderId: 'ord_20250101_000042',
  items: [
    { sku: 'SKU-1001', qty: 2, priceFen: 1999 },
    { sku: 'SKU-2002', qty: 1, priceFen: 4999 },
  ],
  address: { city: 'Shenzhen', district: 'Nanshan', line: 'Keji South 12th Road 2' },
  note: 'please deliver before 18:00',
} as const;

export const PAYLOAD_BYTES = Buffer.from(JSON.stringify(PAYLOAD), 'utf8');

/** Smallest body `benchPayload` can make: the JSON `{"pad":""}`. */
const PAD_OVERHEAD = '{"pad":""}'.length;

/**
 * The JSON document a request carries: the order document by default, or `{"pad":"xx…"}` of exactly
 * `bytes` bytes (the latency matrix's 100 B, 10 KB and 1 MB bodies).
 */
export function benchPayload(bytes?: number): { json: unknown; bytes: Buffer } {
  if (bytes === undefined) return { json: PAYLOAD, bytes: PAYLOAD_BYTES };
  if (!Number.isSafeInteger(bytes) || bytes < PAD_OVERHEAD) throw new RangeError(`a bench body has at least ${PAD_OVERHEAD} bytes, got ${bytes}`);
  const json = { pad: 'x'.repeat(bytes - PAD_OVERHEAD) };
  return { json, bytes: Buffer.from(JSON.stringify(json), 'utf8') };
}

/** The WeChat identity a Mini Program call would carry (encrypted inside sealed requests). */
export const IDENTITY = { openid: 'oBench_7k3pLm9QxZ2vT8sYw4RnU1eHc', appid: 'wx5f3c8e1b2a9d7c60', source: 'wx_client' } as const;

export const BENCH_PATH = '/api/orders';

/** The bench's sealed request as @wxseal/client builds it for `client.post(BENCH_PATH, { json, identity })`: what (e) measures. */
export function benchSealedSpec(keys: BenchKeys, secret: Uint8Array, serverKey: ServerPublicKey, body: Buffer = PAYLOAD_BYTES): RequestSpec {
  return { mode: 'sealed', method: 'POST', target: BENCH_PATH, keyId: keys.keyId, secret, body, contentType: 'application/json', identity: IDENTITY, serverKey };
}

const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection']);

/** The plain request of scenario (a): the same JSON, no wxseal. */
export function plainRequest(body: Buffer = PAYLOAD_BYTES): WireRequest {
  return { method: 'POST', path: BENCH_PATH, headers: { 'content-type': 'application/json' }, body };
}

export interface CaptureOptions {
  keys: BenchKeys;
  count: number;
  /** Sign with a random secret the server does not know: an attacker holding only the public key. */
  forged?: boolean;
  /** Extra client options (e.g. `sessionKeyReuse`), passed through untyped so the bench compiles before they exist. */
  extraClientOptions?: Record<string, unknown>;
  concurrency?: number;
  /** The JSON document sent (default: the order document). */
  json?: unknown;
}

/**
 * Runs the real client against a local capture server `count` times and returns what it sent
 * (feature detection and the shape check; too slow for whole pools).
 * The capture server answers every request with a WXSEAL_BAD_SIGNATURE rejection (a verifier
 * answer the client recognises and never retries), so each call is exactly one request.
 */
export async function captureClientRequests(options: CaptureOptions): Promise<WireRequest[]> {
  const { keys, count } = options;
  const captured: WireRequest[] = [];
  const rejection = Buffer.from('{"error":{"code":"WXSEAL_BAD_SIGNATURE","message":"captured by the bench"}}');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      const raw = req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (!HOP_BY_HOP.has(name)) headers[name] = raw[i + 1]!;
      }
      captured.push({ method: req.method ?? 'POST', path: req.url ?? '/', headers, body: Buffer.concat(chunks) });
      res.writeHead(401, {
        'content-type': 'application/json',
        'wxseal-error': 'WXSEAL_BAD_SIGNATURE',
        'wxseal-server-time': String(Math.floor(Date.now() / 1000)),
        'content-length': String(rejection.length),
      });
      res.end(rejection);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const clientOptions: ClientOptions = {
    baseUrl: `http://127.0.0.1:${port}`,
    keyId: keys.keyId,
    secret: options.forged ? b64uEncode(randomBytes(32)) : keys.secret,
    serverPublicKey: keys.publicKeyPem,
    serverKeyId: keys.serverKeyId,
    mode: 'sealed',
    timeoutMs: 30_000,
    retry: { maxAttempts: 1 },
    ...(options.extraClientOptions ?? {}),
  };
  const client = createClient(clientOptions);
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 32, count));
  let started = 0;
  let unexpected: unknown;
  const worker = async (): Promise<void> => {
    while (started < count && unexpected === undefined) {
      started++;
      try {
        await client.post(BENCH_PATH, { json: options.json ?? PAYLOAD, identity: IDENTITY });
        unexpected = new Error('the capture server answered with something the client accepted');
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'WXSEAL_BAD_SIGNATURE') unexpected = err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  if (unexpected !== undefined) throw unexpected instanceof Error ? unexpected : new Error(String(unexpected));
  if (captured.length !== count) throw new Error(`captured ${captured.length} requests, expected ${count}`);
  return captured;
}

export interface GenerateOptions {
  keys: BenchKeys;
  count: number;
  /** Sign with a random secret the server does not know: an attacker holding only the public key. */
  forged?: boolean;
  /** Reuse one session key and wrapped key for this many requests (the client's `sessionKeyReuse`). */
  reuseMaxMessages?: number;
  /** Wrap for the X25519 server key instead of the RSA one. */
  x25519?: boolean;
  /** Wrap for the SM2 server key: the SM suite (SPEC 6.6), every algorithm from @wxseal/gm. */
  sm?: boolean;
  /** The JSON body (default: the order document). */
  body?: Buffer;
  onProgress?: (done: number) => void;
  /** Stop early (with fewer requests) when building takes longer than this (performance.now() time). */
  deadline?: number;
}

/** Cryptographically random bytes, drawn from a large block: one syscall per 64 KiB instead of several per request. */
class RandomBlock {
  #block = Buffer.alloc(0);
  #offset = 0;
  take(n: number): Buffer {
    if (this.#offset + n > this.#block.length) {
      this.#block = randomBytes(65_536);
      this.#offset = 0;
    }
    const out = this.#block.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
}

/** Copies many small buffers into large slabs, so a pool of 10^5 bodies does not pin 10^5 pooled 8 KiB slabs. */
class Arena {
  #slab = Buffer.alloc(0);
  #offset = 0;
  copy(bytes: Uint8Array): Buffer {
    if (this.#offset + bytes.length > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(bytes.length, 8 * 1024 * 1024));
      this.#offset = 0;
    }
    const out = this.#slab.subarray(this.#offset, this.#offset + bytes.length);
    out.set(bytes);
    this.#offset += bytes.length;
    return out;
  }
}

const NONCE_BYTES = 16;
const IV_BYTES = 12;

/** Builds `count` distinct sealed requests as @wxseal/client would send them (see the top of this file). */
export async function generateSealedRequests(options: GenerateOptions): Promise<WireRequest[]> {
  const { keys, count } = options;
  const secret = options.forged ? randomBytes(32) : b64uDecodeStrict(keys.secret)!;
  const chosen = serverKeyFor(keys, options.x25519 ? 'sealed-x25519' : 'sealed');
  const serverKey: ServerPublicKey = options.sm ? smServerPublicKey(keys) : { id: chosen.id, publicKey: createPublicKey(chosen.publicKeyPem) };
  const random = new RandomBlock();
  const arena = new Arena();
  const out: WireRequest[] = new Array<WireRequest>(count);
  let reused: { sessionKey: Buffer; wrappedKey: Buffer; wrappedText?: string } | undefined;
  let uses = 0;
  let lastYield = performance.now();
  for (let i = 0; i < count; i++) {
    if (options.reuseMaxMessages !== undefined && (!reused || uses >= options.reuseMaxMessages)) {
      const sessionKey = generateSessionKey();
      if (!serverKey.publicKey) throw new RangeError('session-key reuse in the bench pool is for the RSA and X25519 keys');
      reused = { sessionKey, wrappedKey: wrapSessionKey(serverKey.publicKey, sessionKey) };
      uses = 0;
    }
    uses++;
    const trace = random.take(24).toString('hex');
    const built = buildRequest({
      ...benchSealedSpec(keys, secret, serverKey, options.body),
      // What the client generates (generateTraceparent, 16 + 8 random bytes), drawn from the block.
      traceparent: `00-${trace.slice(0, 32)}-${trace.slice(32)}-01`,
      // Fresh random nonce and IV, as buildRequest would draw them, from the block.
      nonce: b64uEncode(random.take(NONCE_BYTES)),
      iv: random.take(IV_BYTES),
      ...(reused ? { sessionKey: reused.sessionKey, wrappedKey: reused.wrappedKey } : {}),
    });
    const headers = built.headers;
    if (reused) {
      // One string for all the requests sharing a wrapped key, not one copy each.
      reused.wrappedText ??= headers['wxseal-wrapped-key'];
      headers['wxseal-wrapped-key'] = reused.wrappedText!;
    }
    out[i] = { method: 'POST', path: BENCH_PATH, headers, body: arena.copy(built.body) };
    // The deadline by the clock, not by a count: an SM request takes ~3 ms to build (its SM2
    // encryption is JavaScript), so 10,000 of them would overrun the nonce window between checks.
    const now = performance.now();
    if (options.deadline !== undefined && now > options.deadline) {
      options.onProgress?.(i + 1);
      return out.slice(0, i + 1);
    }
    if ((i + 1) % 10_000 === 0 || now - lastYield > 500) {
      lastYield = now;
      options.onProgress?.(i + 1);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let progress messages out
    }
  }
  return out;
}

export interface DeviceGenerateOptions {
  /** Devices registered: serials serialOf(0 … devices-1). */
  devices: number;
  /** The run secret their keys derive from (deviceKeyOf). */
  runSecret: Uint8Array;
  count: number;
  onProgress?: (done: number) => void;
  deadline?: number;
}

/**
 * Scenario (g): `count` distinct SIGNED requests, each from a device drawn from the hot-set
 * distribution (hotSetSerial) and signed with its own key (deviceRequestSpec: the serial is the key
 * id), with the fields @wxseal/client passes in signed mode and a fresh nonce each.
 */
export async function generateDeviceSignedRequests(options: DeviceGenerateOptions): Promise<WireRequest[]> {
  const random = new RandomBlock();
  const keyCache = new Map<string, Buffer>();
  const out: WireRequest[] = new Array<WireRequest>(options.count);
  for (let i = 0; i < options.count; i++) {
    const serial = hotSetSerial(options.devices);
    let key = keyCache.get(serial);
    if (!key) {
      key = deviceKeyOf(options.runSecret, serial);
      if (keyCache.size < 200_000) keyCache.set(serial, key);
    }
    const trace = random.take(24).toString('hex');
    const built = buildRequest(
      deviceRequestSpec(serial, key, {
        mode: 'signed',
        method: 'POST',
        target: BENCH_PATH,
        body: PAYLOAD_BYTES,
        contentType: 'application/json',
        identity: IDENTITY,
        traceparent: `00-${trace.slice(0, 32)}-${trace.slice(32)}-01`,
        nonce: b64uEncode(random.take(NONCE_BYTES)),
      }),
    );
    out[i] = { method: 'POST', path: BENCH_PATH, headers: built.headers, body: PAYLOAD_BYTES };
    if ((i + 1) % 10_000 === 0) {
      options.onProgress?.(i + 1);
      if (options.deadline !== undefined && performance.now() > options.deadline) return out.slice(0, i + 1);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return out;
}

/**
 * Throws unless generated requests look exactly like the real client's: same method, target,
 * header names, protocol header values that do not vary per request, and body length.
 */
export function checkSameShape(generated: WireRequest, captured: WireRequest): void {
  const names = (r: WireRequest): string => Object.keys(r.headers).sort().join(', ');
  const problems: string[] = [];
  if (generated.method !== captured.method || generated.path !== captured.path) problems.push(`request line ${generated.method} ${generated.path} vs ${captured.method} ${captured.path}`);
  if (names(generated) !== names(captured)) problems.push(`headers [${names(generated)}] vs the client's [${names(captured)}]`);
  for (const name of ['wxseal-version', 'wxseal-mode', 'wxseal-key-id', 'wxseal-server-key-id', 'content-type']) {
    if (generated.headers[name] !== captured.headers[name]) problems.push(`${name} ${String(generated.headers[name])} vs ${String(captured.headers[name])}`);
  }
  if (generated.body.length !== captured.body.length) problems.push(`body of ${generated.body.length} bytes vs ${captured.body.length}`);
  if (problems.length > 0) {
    throw new Error(`the bench's generated requests no longer match what @wxseal/client sends (${problems.join('; ')}): update loadgen/pool.ts`);
  }
}

/** Number of distinct values of a header across a pool (e.g. wrapped keys, to see session-key reuse). */
export function distinctHeaderValues(pool: readonly WireRequest[], name: string): number {
  return new Set(pool.map((r) => r.headers[name])).size;
}
