import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { Pool } from 'undici';
import { readBounded } from '@wxseal/support';
import { CodedError } from '@wxseal/protocol';
import type { GatewayErrorCode } from './errors.js';
import { firstValue, type OutgoingHeaders } from './headers.js';
import type { Route } from './routes.js';
import { UpstreamPinMismatch, UpstreamTls, upstreamConnectOptions, type TlsRoute, type UpstreamTlsConfig, type UpstreamTlsDeps, type UpstreamTlsMaterial } from './tls/upstream-tls.js';

/** An upstream exchange that failed, with the code the client gets. */
export class UpstreamFailure extends CodedError<GatewayErrorCode> {
  override readonly name = 'UpstreamFailure';
}

/**
 * Thrown into a passthrough request body that goes past the route's limit; the client is answered
 * WXSEAL_BODY_TOO_LARGE (413).
 */
export class BodyTooLargeError extends CodedError<'WXSEAL_BODY_TOO_LARGE'> {
  override readonly name = 'BodyTooLargeError';
  constructor(message: string) {
    super('WXSEAL_BODY_TOO_LARGE', message);
  }
}

/** Why an exchange was cut: our deadline, or the client that went away. */
class Aborted extends Error {
  constructor(readonly reason: 'deadline' | 'client') {
    super(reason === 'deadline' ? 'upstream deadline passed' : 'the client went away');
  }
}

/**
 * A one-shot abort signal for the buffered exchanges: an EventEmitter with `aborted` and `reason`,
 * which undici accepts as a request's `signal`. AbortController's EventTarget costs microseconds
 * per request in listeners alone, on the path every wxseal request takes.
 */
export class Cancel extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/**
 * One undici Pool per upstream origin (and connect timeout, and for https upstreams with a route
 * `tls`, the identity of its TLS material): connections are kept alive and reused across requests
 * and routes. When a route's TLS material changes (a file reload, a config reload) new requests
 * get a pool with the new material, and the pools no route uses any more close once their
 * in-flight requests have finished: no request fails because of a swap.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  /** Pools being drained after a swap (closed or destroyed by close() at the latest). */
  readonly #retiring = new Set<Pool>();
  readonly #tls: UpstreamTls | undefined;

  /**
   * `tls` and `routes`: the upstream TLS of the routes that have one, watched and reloaded. Without
   * them a route's `tls` is still applied, as the config load read it.
   */
  constructor(options: { tls?: Omit<UpstreamTlsDeps, 'swapped'>; routes?: readonly TlsRoute[] } = {}) {
    this.#tls = options.tls ? new UpstreamTls({ ...options.tls, swapped: () => this.#retireUnused() }, options.routes ?? []) : undefined;
  }

  get(route: Route): Pool {
    const tls = route.tls ? this.#tlsOf(route) : undefined;
    const key = tls ? tlsPoolKey(route.origin, route.connectTimeoutMs, tls.material) : `${route.origin}|${route.connectTimeoutMs}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(route.origin, {
        connections: 128,
        connect: { timeout: route.connectTimeoutMs, ...(tls ? upstreamConnectOptions(tls.config, tls.material) : {}) },
        // Below the usual 5 s of Node/Go/Java servers, so a socket the upstream is about to close
        // is not reused for a request (which could then fail after being sent).
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 30_000,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Starts watching the routes' TLS files. */
  async start(): Promise<void> {
    await this.#tls?.start();
  }

  /** After a config reload: the routes' TLS material as the new config read it, and the watch on their files. */
  async configure(routes: readonly TlsRoute[]): Promise<void> {
    await this.#tls?.configure(routes);
  }

  /** Re-reads every route's TLS files now (SIGHUP); a route whose files do not validate keeps its material. */
  reloadTls(): void {
    this.#tls?.reloadAll('signal');
  }

  #tlsOf(route: Route): { config: UpstreamTlsConfig; material: UpstreamTlsMaterial } | undefined {
    const current = this.#tls?.material(route);
    if (current) return current;
    return route.tls?.material ? { config: route.tls, material: route.tls.material } : undefined;
  }

  #retireUnused(): void {
    if (!this.#tls) return;
    const inUse = new Set(this.#tls.entries().map(({ route, material }) => tlsPoolKey(new URL(route.upstream).origin, route.connectTimeoutMs, material)));
    for (const [key, pool] of this.#pools) {
      if (!key.includes(TLS_KEY_MARK) || inUse.has(key)) continue;
      this.#pools.delete(key);
      this.#retiring.add(pool);
      // close() lets the requests already dispatched finish (each bounded by its route's timeouts).
      pool
        .close()
        .catch(() => pool.destroy())
        .catch(() => undefined)
        .finally(() => this.#retiring.delete(pool));
    }
  }

  /** Closes every pool: graceful for `graceMs`, then destroyed. */
  async close(graceMs: number): Promise<void> {
    await this.#tls?.close();
    const pools = [...this.#pools.values(), ...this.#retiring];
    this.#pools.clear();
    this.#retiring.clear();
    await Promise.all(
      pools.map(async (pool) => {
        let timer: NodeJS.Timeout | undefined;
        const forced = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            pool.destroy().then(resolve, resolve);
          }, graceMs);
        });
        try {
          await Promise.race([pool.close(), forced]);
        } catch {
          // A pool that fails to close is destroyed below anyway.
        } finally {
          clearTimeout(timer);
        }
        if (!pool.destroyed) await pool.destroy().catch(() => undefined);
      }),
    );
  }
}

const TLS_KEY_MARK = '|tls:';

function tlsPoolKey(origin: string, connectTimeoutMs: number, material: UpstreamTlsMaterial): string {
  return `${origin}|${connectTimeoutMs}${TLS_KEY_MARK}${material.id}`;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** OpenSSL's certificate verification results and Node's TLS error codes (a failed handshake). */
const TLS_CODES =
  /^(ERR_SSL_|ERR_TLS_|CERT_|CRL_|UNABLE_TO_|ERROR_IN_(?:CERT|CRL)_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|INVALID_CA$|INVALID_PURPOSE$|PATH_LENGTH_EXCEEDED$|HOSTNAME_MISMATCH$|EPROTO$)/;

function classify(err: unknown, stage: 'request' | 'body'): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (err instanceof Aborted) return new UpstreamFailure('WXSEAL_UPSTREAM_TIMEOUT', err.message);
  // The upstream cannot be reached as configured: the client gets what an unreachable upstream gives, the log says why.
  if (err instanceof UpstreamPinMismatch) return new UpstreamFailure('WXSEAL_UPSTREAM_UNAVAILABLE', err.message, { cause: err });
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return new UpstreamFailure('WXSEAL_UPSTREAM_TIMEOUT', code, { cause: err });
  if (stage === 'request' && typeof code === 'string' && TLS_CODES.test(code)) {
    return new UpstreamFailure('WXSEAL_UPSTREAM_UNAVAILABLE', `upstream TLS handshake failed: ${code}: ${(err as Error).message}`, { cause: err });
  }
  if (stage === 'body') return new UpstreamFailure('WXSEAL_UPSTREAM_BAD_RESPONSE', 'the upstream response was cut short', { cause: err });
  return new UpstreamFailure('WXSEAL_UPSTREAM_UNAVAILABLE', typeof code === 'string' ? code : 'upstream request failed', { cause: err });
}

export interface BufferedRequest {
  method: string;
  path: string;
  headers: OutgoingHeaders;
  body: Buffer | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Aborts the exchange when the client goes away. */
  clientGone: Cancel;
}

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  contentType: string | undefined;
  body: Buffer;
}

/**
 * Sends a request to the upstream and reads the whole response, bounded in time (`timeoutMs`
 * covers connecting, the headers and the body) and in size. Failures are UpstreamFailures; an
 * exchange cut because the client went away rejects with `clientGone`'s reason.
 */
export async function requestBuffered(pool: Pool, req: BufferedRequest): Promise<BufferedResponse> {
  const controller = new Cancel();
  const timer = setTimeout(() => controller.abort(new Aborted('deadline')), req.timeoutMs);
  const onClientGone = (): void => controller.abort(new Aborted('client'));
  if (req.clientGone.aborted) onClientGone();
  else req.clientGone.once('abort', onClientGone);
  try {
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await pool.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body !== undefined && req.body.length > 0 ? req.body : null,
        signal: controller,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
    } catch (err) {
      throw rethrowable(err, controller, 'request');
    }
    const declared = Number(firstValue(res.headers['content-length']));
    if (Number.isFinite(declared) && declared > req.maxResponseBytes) {
      res.body.destroy();
      throw new UpstreamFailure('WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE', `content-length ${declared} exceeds ${req.maxResponseBytes}`);
    }
    let body: Buffer;
    try {
      // Listeners rather than an async iterator (cheaper per request); the outcomes are the
      // iterator's: the stream's own error, ERR_STREAM_PREMATURE_CLOSE when it closes before its end.
      body = await readBounded(res.body, {
        limit: req.maxResponseBytes,
        tooLarge: () => new UpstreamFailure('WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE', `response exceeds ${req.maxResponseBytes} bytes`),
      });
    } catch (err) {
      res.body.destroy();
      throw rethrowable(err, controller, 'body');
    }
    const encoding = firstValue(res.headers['content-encoding']);
    if (encoding !== undefined) body = decode(body, encoding, req.maxResponseBytes);
    return { status: res.statusCode, headers: res.headers, contentType: firstValue(res.headers['content-type']), body };
  } finally {
    clearTimeout(timer);
    req.clientGone.removeListener('abort', onClientGone);
  }
}

function rethrowable(err: unknown, signal: Cancel, stage: 'request' | 'body'): unknown {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  if (reason instanceof Aborted && reason.reason === 'client') return reason;
  if (reason instanceof Aborted) return classify(reason, stage);
  return classify(err, stage);
}

/** True for the rejection of an exchange cut because the client went away. */
export function isClientGone(err: unknown): boolean {
  return err instanceof Aborted && err.reason === 'client';
}

/**
 * The gateway asks for `identity`, but an upstream may compress anyway; a sealed body must be the
 * representation itself (SPEC.md 6.3: no Content-Encoding on sealed responses), so it is decoded
 * here, bounded like the body.
 */
function decode(body: Buffer, encoding: string | undefined, max: number): Buffer {
  const codings = (encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let out = body;
  try {
    for (const coding of codings.reverse()) {
      if (coding === 'gzip' || coding === 'x-gzip') out = gunzipSync(out, { maxOutputLength: max });
      else if (coding === 'deflate') out = inflateSync(out, { maxOutputLength: max });
      else if (coding === 'br') out = brotliDecompressSync(out, { maxOutputLength: max });
      else throw new UpstreamFailure('WXSEAL_UPSTREAM_BAD_RESPONSE', `unsupported content-encoding ${coding}`);
    }
  } catch (err) {
    if (err instanceof UpstreamFailure) throw err;
    if (err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UpstreamFailure('WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE', `decoded response exceeds ${max} bytes`);
    }
    throw new UpstreamFailure('WXSEAL_UPSTREAM_BAD_RESPONSE', 'the response does not decode', { cause: err });
  }
  return out;
}

export interface StreamedRequest {
  method: string;
  path: string;
  headers: OutgoingHeaders;
  /** The request body, when it has one. */
  body: IncomingMessage | undefined;
  maxBodyBytes: number;
  timeoutMs: number;
}

export type StreamOutcome =
  | { kind: 'response'; status: number }
  | { kind: 'failed'; failure: UpstreamFailure }
  | { kind: 'too-large' }
  | { kind: 'client-gone' }
  | { kind: 'cut'; status: number };

/**
 * Passthrough: streams the request to the upstream and the response back, without buffering.
 * Timeouts bound the wait for the headers and every pause in the body. `writeHead` is called with
 * the upstream status and the headers to send; an outcome of 'failed' or 'too-large' means nothing
 * was sent yet and the caller answers.
 */
export async function streamThrough(
  pool: Pool,
  req: StreamedRequest,
  res: ServerResponse,
  responseHeaders: (upstream: IncomingHttpHeaders) => OutgoingHeaders,
): Promise<StreamOutcome> {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new Aborted('client'));
  };
  res.once('close', onClose);
  let body: Readable | null = null;
  let tooLarge = false;
  if (req.body) {
    let received = 0;
    const limit = req.maxBodyBytes;
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        received += chunk.length;
        if (received > limit) {
          tooLarge = true;
          callback(new BodyTooLargeError(`the body exceeds ${limit} bytes`));
        } else callback(null, chunk);
      },
    });
    pipeline(req.body, limiter).catch(() => undefined); // errors surface through undici's request
    body = limiter;
  }
  try {
    let upstream: Awaited<ReturnType<Pool['request']>>;
    try {
      upstream = await pool.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body,
        signal: controller.signal,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
    } catch (err) {
      if (tooLarge) return { kind: 'too-large' };
      if (controller.signal.aborted) return { kind: 'client-gone' };
      return { kind: 'failed', failure: classify(err, 'request') };
    }
    res.writeHead(upstream.statusCode, responseHeaders(upstream.headers));
    try {
      await pipeline(upstream.body, res);
    } catch {
      // Headers are out: the only thing left to do is to cut the connection (done by pipeline).
      return { kind: 'cut', status: upstream.statusCode };
    }
    return { kind: 'response', status: upstream.statusCode };
  } finally {
    res.off('close', onClose);
  }
}
