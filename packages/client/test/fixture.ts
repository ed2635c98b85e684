/**
 * A minimal wxseal verifier for the client's tests, built from the protocol primitives only (the
 * server package is written separately and is deliberately not used here). It follows the
 * verification order of SPEC.md section 9 and records what arrived.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  WxsealError,
  checkTimestamp,
  decodeIdentityHeader,
  isWireErrorCode,
  isWxsealError,
  openSealedRequest,
  parseRequestHeaders,
  rejectionResponse,
  SIGNED_REJECTION_CODES,
  signRejection,
  sealResponse,
  signResponse,
  unixNow,
  verifyRequestSignature,
  wrappedKeyLength,
  type HeaderGetter,
  type Mode,
  type PlainResponse,
  type WechatIdentity,
  type WireErrorCode,
  type WireResponse,
} from '@wxseal/protocol';
import { b64uEncode, unwrapSessionKey } from '@wxseal/protocol/primitives';

export interface TestKeys {
  keyId: string;
  secret: Buffer;
  secretB64u: string;
  serverKeyId: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

/** Fresh keys for one test file; nothing is committed. */
export function makeKeys(): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secret = randomBytes(32);
  return {
    keyId: 'test-client',
    secret,
    secretB64u: b64uEncode(secret),
    serverKeyId: 'sk-test',
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A request that passed verification, as the fixture saw it. */
export interface Received {
  mode: Mode;
  method: string;
  target: string;
  path: string;
  rawQuery: string;
  nonce: string;
  timestamp: number;
  signature: string;
  wrappedKey: string;
  iv: string;
  traceparent: string;
  /** The content type of the plaintext body (inside the envelope in sealed mode). */
  contentType: string | undefined;
  identity: WechatIdentity | undefined;
  /** The plaintext body. */
  body: Buffer;
  /** The body as it travelled. */
  wireBody: Buffer;
  headers: IncomingMessage['headers'];
  /** HTTPS: the fingerprint of the client certificate the connection presented, if any. */
  clientCertFingerprint: string | undefined;
}

export interface FixtureOptions {
  keys: TestKeys;
  windowSeconds?: number;
  /** Server clock in Unix seconds. */
  nowSeconds?: () => number;
  /** The application: answers a verified request. Default: echoes what arrived as JSON. */
  handler?: (req: Received, n: number) => PlainResponse | Promise<PlainResponse>;
  /**
   * Runs after verification (the nonce is spent); may answer instead of the handler. Rejections
   * it returns with a code of SIGNED_REJECTION_CODES are signed, as SPEC.md 10.1 requires, unless
   * `unsignedRejections` is set (an attacker's forgery looks like that).
   */
  afterVerify?: (req: Received, n: number) => WireResponse | undefined;
  unsignedRejections?: boolean;
  /** Rewrites the protected response before it is sent (tamper tests). */
  tamper?: (wire: WireResponse, req: Received, n: number) => WireResponse;
  /** Serve HTTPS with these options (certificate, key, and for mutual TLS ca/requestCert). */
  tls?: HttpsServerOptions;
}

export interface Fixture {
  url: string;
  /** Verified requests, in order. */
  received: Received[];
  /** Every HTTP request that reached the server, verified or not. */
  hits: number;
  /** Codes of the verifier rejections sent. */
  rejections: WireErrorCode[];
  /** TCP connections accepted (keep-alive reuse shows as fewer connections than requests). */
  connections: number;
  /** HTTPS: codes of the handshakes the server saw fail (tlsClientError). */
  tlsErrors: string[];
  close(): Promise<void>;
}

export function echo(req: Received): PlainResponse {
  return {
    status: 200,
    contentType: 'application/json',
    body: Buffer.from(
      JSON.stringify({
        method: req.method,
        path: req.path,
        rawQuery: req.rawQuery,
        identity: req.identity ?? null,
        contentType: req.contentType ?? null,
        body: req.body.toString('utf8'),
      }),
    ),
  };
}

export function rejection(code: WireErrorCode, nowSeconds: number, extraHeaders: Record<string, string> = {}): WireResponse {
  const wire = rejectionResponse(code, `fixture says ${code}`, nowSeconds);
  return { ...wire, headers: { ...wire.headers, ...extraHeaders } };
}

function clientCertOf(req: IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  return cert && typeof cert.fingerprint256 === 'string' ? cert.fingerprint256 : undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function write(res: ServerResponse, wire: WireResponse): void {
  res.writeHead(wire.status, { ...wire.headers, 'content-length': String(wire.body.length) });
  res.end(wire.body);
}

function track(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

function listen(server: Server, scheme = 'http'): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

export async function startFixture(options: FixtureOptions): Promise<Fixture> {
  const { keys } = options;
  const windowSeconds = options.windowSeconds ?? 60;
  const now = options.nowSeconds ?? unixNow;
  const handler = options.handler ?? echo;
  const nonces = new Set<string>();
  const state = { received: [] as Received[], hits: 0, rejections: [] as WireErrorCode[] };

  const onRequest: RequestListener = (req, res) => {
    state.hits += 1;
    void (async () => {
      const wireBody = await readBody(req);
      const header: HeaderGetter = (name) => req.headers[name];
      try {
        // Section 9, steps 2 to 8.
        const parsed = parseRequestHeaders({ method: req.method ?? '', target: req.url ?? '', header });
        checkTimestamp(parsed.timestampSeconds, now(), windowSeconds);
        if (parsed.keyId !== keys.keyId) throw new WxsealError('WXSEAL_UNKNOWN_KEY_ID', 'unknown key id');
        if (parsed.mode === 'sealed') {
          if (parsed.serverKeyId !== keys.serverKeyId) throw new WxsealError('WXSEAL_UNKNOWN_SERVER_KEY', 'unknown server key');
          if (parsed.wrappedKey.length !== wrappedKeyLength(keys.privateKey)) throw new WxsealError('WXSEAL_MALFORMED_HEADER', 'wrapped key length');
        }
        verifyRequestSignature(parsed, wireBody, [keys.secret]);
        if (nonces.has(parsed.nonce)) throw new WxsealError('WXSEAL_REPLAYED_NONCE', 'nonce seen');
        nonces.add(parsed.nonce);

        let sessionKey: Buffer | undefined;
        let body: Buffer;
        let contentType: string | undefined;
        let identity: WechatIdentity | undefined;
        if (parsed.mode === 'sealed') {
          sessionKey = unwrapSessionKey(keys.privateKey, parsed.wrappedKey);
          const opened = openSealedRequest(parsed, sessionKey, wireBody);
          body = opened.body;
          contentType = opened.meta.contentType;
          identity = opened.meta.identity;
        } else {
          body = wireBody;
          contentType = parsed.contentType || undefined;
          identity = parsed.identityHeader ? decodeIdentityHeader(parsed.identityHeader) : undefined;
        }
        const received: Received = {
          mode: parsed.mode,
          method: parsed.method,
          target: req.url ?? '',
          path: parsed.path,
          rawQuery: parsed.rawQuery,
          nonce: parsed.nonce,
          timestamp: parsed.timestampSeconds,
          signature: header('wxseal-signature') as string,
          wrappedKey: parsed.mode === 'sealed' ? parsed.wrappedKeyHeader : '',
          iv: parsed.mode === 'sealed' ? parsed.ivHeader : '',
          traceparent: parsed.traceparent,
          contentType,
          identity,
          body,
          wireBody,
          headers: req.headers,
          clientCertFingerprint: clientCertOf(req),
        };
        state.received.push(received);
        const n = state.received.length;
        const early = options.afterVerify?.(received, n);
        if (early) {
          const code = early.headers['wxseal-error'];
          const sign = !options.unsignedRejections && code !== undefined && isWireErrorCode(code) && SIGNED_REJECTION_CODES.has(code);
          return write(res, sign ? signRejection(early, { keyId: parsed.keyId, nonce: parsed.nonce, secret: keys.secret }) : early);
        }
        const plain = await handler(received, n);
        let wire =
          parsed.mode === 'sealed'
            ? sealResponse({ keyId: parsed.keyId, nonce: parsed.nonce, sessionKey }, plain)
            : signResponse({ keyId: parsed.keyId, nonce: parsed.nonce, secret: keys.secret }, plain);
        if (options.tamper) wire = options.tamper(wire, received, n);
        write(res, wire);
      } catch (err) {
        if (isWxsealError(err) && isWireErrorCode(err.code)) {
          state.rejections.push(err.code);
          write(res, rejectionResponse(err.code, err.message, now()));
        } else {
          res.writeHead(500).end('fixture error');
        }
      }
    })();
  };
  const server = options.tls ? createHttpsServer(options.tls, onRequest) : createServer(onRequest);
  const sockets = track(server);
  let connections = 0;
  server.on('connection', () => {
    connections += 1;
  });
  const tlsErrors: string[] = [];
  server.on('tlsClientError', (err: Error) => tlsErrors.push(String((err as { code?: unknown }).code ?? err.message)));
  const url = await listen(server, options.tls ? 'https' : 'http');
  return {
    url,
    get connections() {
      return connections;
    },
    tlsErrors,
    get received() {
      return state.received;
    },
    get hits() {
      return state.hits;
    },
    get rejections() {
      return state.rejections;
    },
    close: closer(server, sockets),
  };
}

/** A server that accepts requests and never answers. */
export async function startSilentServer(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = createServer(() => {
    hits += 1;
  });
  const sockets = track(server);
  const url = await listen(server);
  return { url, hits: () => hits, close: closer(server, sockets) };
}

/** A server that drops the connection as soon as a request arrives (after it was sent). */
export async function startDroppingServer(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = createServer((req) => {
    hits += 1;
    req.socket.destroy();
  });
  const sockets = track(server);
  const url = await listen(server);
  return { url, hits: () => hits, close: closer(server, sockets) };
}

/** A URL where nothing listens (a port that was just released). */
export async function unusedUrl(): Promise<string> {
  const server = createServer();
  const url = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}
