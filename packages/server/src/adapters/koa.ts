import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, DefaultContext, Middleware, ParameterizedContext } from 'koa';
import { WxsealError, type Mode } from '@wxseal/protocol';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  PLAINTEXT_DERIVED_HEADERS,
  closesConnection,
  contentTypeOf,
  headersFromRaw,
  isServerConfigError,
  collectReplyStream,
  readRequestBody,
  responseTooLargeBody,
} from '../node-http.js';
import type { ResponseInput, VerifiedRequest, Verifier } from '../verifier.js';

/** The state the middleware adds: `ctx.state.wxseal`. Use as `new Koa<WxsealKoaState>()` or `Router<WxsealKoaState>`. */
export interface WxsealKoaState {
  wxseal: VerifiedRequest;
}

export interface WxsealKoaOptions {
  verifier: Verifier;
  /** The modes this middleware accepts, or a function choosing them per request (default: the verifier's). */
  allowedModes?: readonly Mode[] | ((ctx: Context) => readonly Mode[] | undefined);
  /** Largest handler response buffered for sealing (default 8 MiB); a larger one becomes a sealed 500. */
  maxResponseBytes?: number;
}

type WxsealContext = ParameterizedContext<WxsealKoaState, DefaultContext, unknown>;

interface HttpishError {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
}

function isStreamLike(value: unknown): value is Readable {
  return value !== null && typeof value === 'object' && typeof (value as Readable).pipe === 'function';
}

/** ctx.body as bytes, bounded; undefined when it is larger than `limit`. */
async function bodyBytes(body: unknown, limit: number): Promise<Buffer | undefined> {
  let stream: Readable | undefined;
  const bounded = (bytes: Buffer): Buffer | undefined => (bytes.length > limit ? undefined : bytes);
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return bounded(body);
  if (typeof body === 'string') return bounded(Buffer.from(body, 'utf8'));
  if (body instanceof Uint8Array) return bounded(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  if (isStreamLike(body)) stream = body;
  else if (typeof Blob !== 'undefined' && body instanceof Blob) stream = Readable.from(Buffer.from(await body.arrayBuffer()));
  else if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) stream = Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  else if (typeof Response !== 'undefined' && body instanceof Response) {
    stream = body.body ? Readable.fromWeb(body.body as import('node:stream/web').ReadableStream) : undefined;
    if (!stream) return Buffer.alloc(0);
  } else return bounded(Buffer.from(JSON.stringify(body), 'utf8')); // what Koa itself sends for an object

  const source = stream;
  return collectReplyStream(source, limit, () => source.destroy());
}

/** Reports through the app's 'error' event, as Koa does; never lets the reporting itself throw. */
function report(ctx: WxsealContext, err: unknown): void {
  try {
    ctx.app.emit('error', err instanceof Error ? err : new Error('non-error thrown by a handler'), ctx);
  } catch {
    // Reporting must not change the response.
  }
}

/** An error that escaped the handlers, rendered the way Koa's own ctx.onerror would. */
function errorResponse(err: unknown): ResponseInput {
  const e = (err ?? {}) as HttpishError;
  let status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (!Number.isInteger(status) || status < 400 || status > 599) status = 500;
  const message = e.expose === true && typeof e.message === 'string' ? e.message : (STATUS_CODES[status] ?? String(status));
  return { status, contentType: 'text/plain; charset=utf-8', body: message };
}

/** ctx.state.wxseal, or a configuration error when the wxseal middleware did not run for this request. */
export function requireWxseal(ctx: { state: Partial<WxsealKoaState> }): VerifiedRequest {
  if (!ctx.state.wxseal) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'this route is not verified by wxseal');
  return ctx.state.wxseal;
}

/**
 * Koa middleware (Koa 2.14+ and 3). Reads the raw body itself (bounded), verifies against
 * `ctx.originalUrl` (the target as sent), sets `ctx.state.wxseal` and `ctx.request.body` (the
 * decrypted body as a Buffer), and after `await next()` seals or signs ctx.body (Buffer, string,
 * stream or object → JSON) with ctx.status. Errors thrown downstream are answered sealed too, as Koa
 * would render them; mount this outside your own error handler or inside it, as you prefer.
 */
export function wxsealKoa(options: WxsealKoaOptions): Middleware<WxsealKoaState, DefaultContext, unknown> {
  const { verifier } = options;
  if (!verifier || typeof verifier.verify !== 'function') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'wxsealKoa needs { verifier }');
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;

  return async function wxsealMiddleware(ctx: WxsealContext, next: () => Promise<unknown>): Promise<void> {
    if (ctx.state.wxseal) {
      await next();
      return;
    }
    let verified: VerifiedRequest;
    try {
      const allowedModes = typeof options.allowedModes === 'function' ? options.allowedModes(ctx as unknown as Context) : options.allowedModes;
      const body = await readRequestBody(ctx.req, { limit: verifier.maxBodyBytes, contentLength: ctx.req.headers['content-length'] });
      verified = await verifier.verify({
        method: ctx.method,
        target: ctx.originalUrl,
        headers: headersFromRaw(ctx.req.rawHeaders),
        rawHeaders: ctx.req.rawHeaders,
        body,
        ...(allowedModes ? { allowedModes } : {}),
      });
    } catch (err) {
      if (isServerConfigError(err)) throw err;
      const wire = verifier.rejection(err);
      ctx.body = wire.body;
      ctx.status = wire.status;
      ctx.set(wire.headers);
      if (closesConnection(err)) ctx.set('Connection', 'close');
      return;
    }
    ctx.state.wxseal = verified;
    (ctx.request as { body?: unknown }).body = verified.body;

    let response: ResponseInput;
    try {
      await next();
      if (ctx.respond === false || ctx.res.headersSent) return; // the handler took over the raw response
      const bytes = await bodyBytes(ctx.body, maxResponseBytes);
      if (bytes === undefined) {
        report(ctx, new Error('wxseal: the response exceeds maxResponseBytes; sending an authenticated 500 instead'));
        response = responseTooLargeBody();
      } else if ((ctx.body === undefined || ctx.body === null) && bytes.length === 0 && ctx.status === 404) {
        // Nothing handled the request: what Koa would send, sealed.
        response = { status: 404, contentType: 'text/plain; charset=utf-8', body: ctx.message || 'Not Found' };
      } else {
        response = { status: ctx.status, contentType: contentTypeOf(ctx.response.get('Content-Type')) || undefined, body: bytes };
      }
    } catch (err) {
      if (ctx.res.headersSent) throw err;
      report(ctx, err);
      response = errorResponse(err);
    }

    const wire = verifier.sealResponse(verified, response);
    // Body first, status second: Koa's body setter would otherwise reset the status to 200.
    ctx.body = wire.body;
    ctx.status = wire.status;
    ctx.remove('Content-Type');
    if (verified.mode === 'sealed') for (const name of PLAINTEXT_DERIVED_HEADERS) ctx.remove(name);
    ctx.set(wire.headers);
  };
}

export default wxsealKoa;
