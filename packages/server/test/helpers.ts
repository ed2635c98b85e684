// Shared test fixtures: keys, a verifier over in-memory stores, an HTTP client (node:http and raw
// sockets), and the same small app on each of the three frameworks.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Readable } from 'node:stream';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import {
  HEADERS,
  buildRequest,
  canonicalRequestString,
  openResponse,
  parseRejection,
  type BuiltRequest,
  type HeaderGetter,
  type Mode,
  type OpenedResponse,
  type Rejection,
  type RequestSpec,
} from '@wxseal/protocol';
import { aesGcmEncrypt, requestAad, sha256Hex, signCanonical, splitTarget } from '@wxseal/protocol/primitives';
import {
  MemoryNonceStore,
  ServerKeyRing,
  StaticKeyResolver,
  createVerifier,
  serverKeyIdFor,
  type KeyResolver,
  type NonceStore,
  type Verifier,
  type VerifierOptions,
} from '@wxseal/server';
import { wxsealExpress } from '@wxseal/server/express';
import { wxsealFastify } from '@wxseal/server/fastify';
import { wxsealKoa, type WxsealKoaState } from '@wxseal/server/koa';

export interface TestServerKey {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** RSA key generation is slow-ish, so a test file makes a handful and reuses them. */
export function generateServerKey(bits = 2048): TestServerKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
  return { id: serverKeyIdFor(publicKey), privateKey, publicKey };
}

export const newSecret = (): Buffer => randomBytes(32);
export const unixNow = (): number => Math.floor(Date.now() / 1000);

export interface Fixture {
  verifier: Verifier;
  resolver: StaticKeyResolver;
  ring: ServerKeyRing;
  nonceStore: NonceStore;
  keyId: string;
  secret: Buffer;
  serverKey: TestServerKey;
  /** A request from the fixture's client, to its server key, timestamped now unless told otherwise. */
  build(spec: Partial<RequestSpec> & { mode: Mode; target: string; method?: string }): BuiltRequest;
}

export function makeFixture(
  serverKey: TestServerKey,
  overrides: Partial<VerifierOptions> & { keys?: KeyResolver } = {},
): Fixture {
  const keyId = 'bff-test';
  const secret = newSecret();
  const resolver = new StaticKeyResolver([{ keyId, secrets: [{ id: 's1', secret }] }]);
  const ring = new ServerKeyRing([{ id: serverKey.id, privateKey: serverKey.privateKey }]);
  const nonceStore = overrides.nonceStore ?? new MemoryNonceStore();
  const verifier = createVerifier({ keys: resolver, nonceStore, serverKeys: ring, ...overrides });
  return {
    verifier,
    resolver,
    ring,
    nonceStore,
    keyId,
    secret,
    serverKey,
    build: (spec) =>
      buildRequest({
        method: 'POST',
        keyId,
        secret,
        serverKey: { id: serverKey.id, publicKey: serverKey.publicKey },
        ...spec,
      }),
  };
}

/**
 * A sealed request whose plaintext is `plaintext` exactly (not framed by encodePayload), correctly
 * encrypted and signed: what a buggy or malicious client holding a real secret could send.
 */
export function sealedWithPlaintext(fx: Fixture, target: string, plaintext: Buffer): BuiltRequest {
  const built = fx.build({ mode: 'sealed', target, body: Buffer.from('x') });
  const h = built.headers;
  const { path, rawQuery } = splitTarget(target);
  const aad = requestAad({
    method: 'POST',
    path,
    rawQuery,
    timestamp: h[HEADERS.timestamp]!,
    nonce: h[HEADERS.nonce]!,
    keyId: fx.keyId,
    serverKeyId: h[HEADERS.serverKeyId]!,
  });
  const body = aesGcmEncrypt(built.context.sessionKey!, Buffer.from(h[HEADERS.iv]!, 'base64url'), aad, plaintext);
  return resign(fx.secret, { ...built, body }, 'POST', target);
}

/** Recomputes the signature of a (modified) request, as a client holding the secret would. */
export function resign(secret: Uint8Array, built: BuiltRequest, method: string, target: string): BuiltRequest {
  const h = built.headers;
  const { path, rawQuery } = splitTarget(target);
  const canonical = canonicalRequestString({
    mode: h[HEADERS.mode] as Mode,
    method,
    path,
    rawQuery,
    timestamp: h[HEADERS.timestamp]!,
    nonce: h[HEADERS.nonce]!,
    keyId: h[HEADERS.keyId]!,
    contentType: h[HEADERS.contentType] ?? '',
    serverKeyId: h[HEADERS.serverKeyId] ?? '',
    wrappedKey: h[HEADERS.wrappedKey] ?? '',
    iv: h[HEADERS.iv] ?? '',
    identity: h[HEADERS.identity] ?? '',
    traceparent: h[HEADERS.traceparent] ?? '',
    bodySha256: sha256Hex(built.body),
  });
  return { ...built, canonical, headers: { ...h, [HEADERS.signature]: signCanonical(secret, canonical) } };
}

// ---------------------------------------------------------------------------------------------
// HTTP clients

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  header: HeaderGetter;
  body: Buffer;
}

export type HeaderList = Record<string, string | string[]> | Array<[string, string]>;

/** node:http request (GET with a body allowed, unlike fetch). */
export function send(port: number, method: string, target: string, headers: HeaderList, body: Buffer = Buffer.alloc(0)): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const list: Record<string, string | string[]> = {};
    for (const [name, value] of Array.isArray(headers) ? headers : Object.entries(headers)) {
      const prev = list[name];
      list[name] = prev === undefined ? value : ([] as string[]).concat(prev, value);
    }
    if (body.length > 0 && list['content-length'] === undefined && list['transfer-encoding'] === undefined) {
      list['content-length'] = String(body.length);
    }
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, headers: list, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, header: (n) => res.headers[n], body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends a built wxseal request. */
export function sendBuilt(port: number, method: string, target: string, built: BuiltRequest, extra: HeaderList = {}): Promise<HttpResult> {
  const headers: Array<[string, string]> = [...Object.entries(built.headers), ...(Array.isArray(extra) ? extra : flatten(extra))];
  return send(port, method, target, headers, built.body);
}

function flatten(h: Record<string, string | string[]>): Array<[string, string]> {
  return Object.entries(h).flatMap(([n, v]) => (Array.isArray(v) ? v.map((x) => [n, x] as [string, string]) : [[n, v] as [string, string]]));
}

/**
 * Writes a request byte for byte on a socket (any header bytes, duplicates, bodies of any length)
 * and parses the response. Always sends Connection: close and reads to the end.
 */
export function rawSend(port: number, head: string, body: Buffer = Buffer.alloc(0)): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      // The server may close while we still write an oversized body; what it answered still counts.
      if (chunks.length > 0) finish();
      else reject(err);
    });
    socket.on('end', finish);
    let done = false;
    function finish(): void {
      if (done) return;
      done = true;
      socket.destroy();
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    }
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  });
}

function parseResponse(raw: Buffer): HttpResult {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: IncomingHttpHeaders = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : ([] as string[]).concat(prev as string | string[], value);
  }
  let body = raw.subarray(end + 4);
  if (String(headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked') {
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', pos);
      const size = parseInt(body.subarray(pos, lineEnd).toString('latin1'), 16);
      if (!size) break;
      out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(out);
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, header: (n) => headers[n], body };
}

/** The request head for rawSend. */
export function rawHead(method: string, target: string, headers: Array<[string, string]>): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers.map(([n, v]) => `${n}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Opens a response to `built` the way a client must, throwing WXSEAL_RESPONSE_INVALID if it does not authenticate. */
export function open(built: BuiltRequest, res: HttpResult): OpenedResponse {
  return openResponse(built.context, { status: res.status, header: res.header, body: res.body });
}

/** The rejection a response carries, checked against SPEC.md section 10 (headers, JSON body, status). */
export function rejectionOf(res: HttpResult): Rejection | undefined {
  return parseRejection(res.status, res.header, res.body);
}

// ---------------------------------------------------------------------------------------------
// The same app on the three frameworks

export type AdapterName = 'fastify' | 'express' | 'koa';
export const ADAPTERS: readonly AdapterName[] = ['fastify', 'express', 'koa'];

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** What the echo routes answer: everything the handler learned from the verified request. */
export interface EchoBody {
  adapter: AdapterName;
  mode: Mode;
  keyId: string;
  secretId: string | null;
  identity: Record<string, string>;
  body: string;
  contentType: string | null;
  traceparent: string | null;
  method: string;
  path: string;
  rawQuery: string;
  /** Fastify only: what its parsers made of the body. */
  parsed?: unknown;
}

export const SMALL_RESPONSE_LIMIT = 4096;
export const STREAM_CHUNKS = ['chunk-1 ', 'chunk-2 ', 'chunk-3'];

function echo(adapter: AdapterName, v: import('@wxseal/server').VerifiedRequest, parsed?: unknown): EchoBody {
  const out: EchoBody = {
    adapter,
    mode: v.mode,
    keyId: v.keyId,
    secretId: v.secretId ?? null,
    identity: { ...v.identity } as Record<string, string>,
    body: v.body.toString('utf8'),
    contentType: v.contentType ?? null,
    traceparent: v.traceparent ?? null,
    method: v.method,
    path: v.path,
    rawQuery: v.rawQuery,
  };
  if (parsed !== undefined) out.parsed = Buffer.isBuffer(parsed) ? { buffer: parsed.toString('utf8') } : parsed;
  return out;
}

const modesFor = (path: string): readonly Mode[] | undefined =>
  path.startsWith('/sealed-only') ? ['sealed'] : path.startsWith('/signed-only') ? ['signed'] : undefined;

function listen(server: Server): Promise<RunningServer> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * Routes (same on every adapter):
 *  any  /echo, /api/*         201 JSON echo of the verified request
 *  POST /sealed-only, /signed-only   echo, mode restricted
 *  POST /no-content           204
 *  POST /not-modified         304
 *  POST /text                 200 text/plain "hello, <openid>"
 *  POST /boom                 the handler throws
 *  POST /big                  a response larger than SMALL_RESPONSE_LIMIT
 *  POST /accepted             202 text/plain "accepted" (Express: through res.writeHead)
 *  POST /stream               200 text/plain streamed in three chunks
 *  GET  /public               not protected (Fastify: config.wxseal false; others: outside the middleware)
 */
export async function startServer(adapter: AdapterName, verifier: Verifier): Promise<RunningServer> {
  const big = Buffer.alloc(SMALL_RESPONSE_LIMIT + 1, 0x61).toString();
  if (adapter === 'fastify') {
    const app = Fastify({ logger: false });
    app.get('/public', { config: { wxseal: false } }, async () => ({ public: true }));
    await app.register(async (scope) => {
      await scope.register(wxsealFastify, { verifier, maxResponseBytes: SMALL_RESPONSE_LIMIT });
      const echoHandler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
        reply.code(201);
        return echo('fastify', request.wxseal!, request.body);
      };
      scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/echo', handler: echoHandler });
      scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/api/*', handler: echoHandler });
      scope.post('/sealed-only', { config: { wxseal: { modes: ['sealed'] } } }, echoHandler);
      scope.post('/signed-only', { config: { wxseal: { modes: ['signed'] } } }, echoHandler);
      scope.post('/no-content', async (_req, reply) => reply.code(204).send());
      scope.post('/not-modified', async (_req, reply) => reply.code(304).send());
      scope.post('/text', async (req, reply) => reply.type('text/plain').send(`hello, ${req.wxseal!.identity.openid ?? 'nobody'}`));
      scope.post('/boom', async () => {
        throw new Error('handler failed');
      });
      scope.post('/big', async (_req, reply) => reply.type('text/plain').send(big));
      scope.post('/accepted', async (_req, reply) => reply.code(202).type('text/plain').send('accepted'));
      scope.post('/stream', async (_req, reply) => reply.type('text/plain').send(Readable.from(STREAM_CHUNKS)));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { port, close: () => app.close() };
  }

  if (adapter === 'express') {
    const app = express();
    app.set('env', 'test'); // finalhandler: no stack traces on stderr for the /boom route
    app.get('/public', (_req, res) => {
      res.json({ public: true });
    });
    const mw = wxsealExpress({ verifier, maxResponseBytes: SMALL_RESPONSE_LIMIT, allowedModes: (req) => modesFor(req.path), onError: () => undefined });
    const echoHandler: express.RequestHandler = (req, res) => {
      res.status(201).json(echo('express', req.wxseal!));
    };
    app.all('/echo', mw, echoHandler);
    app.all(/^\/api\/.*/, mw, echoHandler);
    // Per-route mode restriction by mounting a second middleware with its own modes.
    app.post('/sealed-only', wxsealExpress({ verifier, allowedModes: ['sealed'] }), echoHandler);
    app.post('/signed-only', wxsealExpress({ verifier, allowedModes: ['signed'] }), echoHandler);
    app.post('/no-content', mw, (_req, res) => {
      res.status(204).end();
    });
    app.post('/not-modified', mw, (_req, res) => {
      res.status(304).end();
    });
    app.post('/text', mw, (req, res) => {
      res.type('text/plain').send(`hello, ${req.wxseal!.identity.openid ?? 'nobody'}`);
    });
    app.post('/boom', mw, () => {
      throw new Error('handler failed');
    });
    app.post('/big', mw, (_req, res) => {
      // Written in pieces: the buffer bound must hold across write() calls.
      res.type('text/plain');
      res.write(big.slice(0, 1000));
      res.write(big.slice(1000));
      res.end();
    });
    app.post('/accepted', mw, (_req, res) => {
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.end('accepted');
    });
    app.post('/stream', mw, (_req, res) => {
      res.type('text/plain');
      Readable.from(STREAM_CHUNKS).pipe(res);
    });
    return listen(app.listen(0, '127.0.0.1'));
  }

  const app = new Koa<Partial<WxsealKoaState>>();
  app.silent = true;
  app.use(async (ctx, next) => {
    if (ctx.path === '/public') {
      ctx.body = { public: true };
      return;
    }
    await next();
  });
  app.use(wxsealKoa({ verifier, maxResponseBytes: SMALL_RESPONSE_LIMIT, allowedModes: (ctx) => modesFor(ctx.path) }));
  app.use(async (ctx) => {
    const v = ctx.state.wxseal!;
    switch (ctx.path) {
      case '/no-content':
        ctx.status = 204;
        return;
      case '/not-modified':
        ctx.status = 304;
        return;
      case '/text':
        ctx.type = 'text/plain';
        ctx.body = `hello, ${v.identity.openid ?? 'nobody'}`;
        return;
      case '/boom':
        throw new Error('handler failed');
      case '/big':
        ctx.type = 'text/plain';
        ctx.body = big;
        return;
      case '/accepted':
        ctx.status = 202;
        ctx.type = 'text/plain';
        ctx.body = 'accepted';
        return;
      case '/stream':
        ctx.type = 'text/plain';
        ctx.body = Readable.from(STREAM_CHUNKS);
        return;
      default:
        if (ctx.path === '/echo' || ctx.path.startsWith('/api/') || modesFor(ctx.path)) {
          ctx.status = 201;
          ctx.body = echo('koa', v);
        }
    }
  });
  return listen(app.listen(0, '127.0.0.1'));
}
