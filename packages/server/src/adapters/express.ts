import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { WxsealError, type Mode } from '@wxseal/protocol';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  PLAINTEXT_DERIVED_HEADERS,
  closesConnection,
  contentTypeOf,
  headersFromRaw,
  isServerConfigError,
  readRequestBody,
  responseTooLargeBody,
  sendWireResponse,
} from '../node-http.js';
import { isBodylessStatus, type VerifiedRequest, type Verifier } from '../verifier.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's types declare Request in this global namespace: merging needs it
  namespace Express {
    interface Request {
      /** Set by the wxseal middleware once the request is verified. */
      wxseal?: VerifiedRequest;
    }
  }
}

export interface WxsealExpressOptions {
  verifier: Verifier;
  /** The modes this middleware accepts, or a function choosing them per request (default: the verifier's). */
  allowedModes?: readonly Mode[] | ((req: Request) => readonly Mode[] | undefined);
  /** Largest handler response buffered for sealing (default 8 MiB); a larger one becomes a sealed 500. */
  maxResponseBytes?: number;
  /** Told when a response could not be sealed as the handler wrote it (default: console.error). Never given bodies. */
  onError?: (error: Error) => void;
}

/** req.wxseal, or a configuration error when the wxseal middleware did not run for this request. */
export function requireWxseal(req: Request): VerifiedRequest {
  if (!req.wxseal) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'this route is not verified by wxseal');
  return req.wxseal;
}

type WriteCallback = (error?: Error | null) => void;
type Chunk = string | Uint8Array;

/**
 * Replaces res.writeHead/write/end/flushHeaders so that whatever the handler sends (res.send,
 * res.json, res.end, piped streams, an error handler's page) is buffered, bounded, and leaves as one
 * sealed or signed response with the handler's final status.
 */
function installSealing(res: Response, verifier: Verifier, verified: VerifiedRequest, maxResponseBytes: number, onError: (error: Error) => void): void {
  const node = res as unknown as ServerResponse;
  const originalWriteHead = node.writeHead;
  const originalWrite = node.write;
  const originalEnd = node.end;
  const originalFlushHeaders = node.flushHeaders;
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let finished = false;

  const add = (chunk: unknown, encoding: unknown): void => {
    if (chunk === undefined || chunk === null || overflow) return;
    const buf =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array); // a copy: the caller may reuse its buffer
    size += buf.length;
    if (size > maxResponseBytes) {
      overflow = true;
      chunks.length = 0;
      return;
    }
    chunks.push(buf);
  };

  const restore = (): void => {
    node.writeHead = originalWriteHead;
    node.write = originalWrite;
    node.end = originalEnd;
    node.flushHeaders = originalFlushHeaders;
  };

  const applyHeaders = (headers: unknown): void => {
    if (!headers) return;
    if (Array.isArray(headers)) {
      // [name, value, name, value] or [[name, value], ...]
      if (headers.length > 0 && Array.isArray(headers[0])) {
        for (const [name, value] of headers as [string, string][]) node.setHeader(name, value);
      } else {
        for (let i = 0; i + 1 < headers.length; i += 2) node.setHeader(String(headers[i]), headers[i + 1] as string);
      }
      return;
    }
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (value !== undefined) node.setHeader(name, value);
    }
  };

  node.writeHead = function writeHead(this: ServerResponse, statusCode: number, reason?: unknown, headers?: unknown) {
    // Deferred: the real head goes out with the sealed body, with the status bound into it.
    node.statusCode = statusCode;
    if (typeof reason === 'string') node.statusMessage = reason;
    else headers = reason;
    applyHeaders(headers);
    return node;
  } as ServerResponse['writeHead'];

  node.flushHeaders = function flushHeaders() {
    // Nothing may leave before the body is sealed.
  };

  node.write = function write(chunk: Chunk, encodingOrCallback?: unknown, callback?: unknown) {
    if (finished) return false;
    const cb = (typeof encodingOrCallback === 'function' ? encodingOrCallback : callback) as WriteCallback | undefined;
    add(chunk, typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined);
    if (cb) process.nextTick(cb);
    return true;
  } as ServerResponse['write'];

  node.end = function end(chunk?: unknown, encodingOrCallback?: unknown, callback?: unknown) {
    if (finished) return node;
    finished = true;
    let cb: WriteCallback | undefined;
    if (typeof chunk === 'function') {
      cb = chunk as WriteCallback;
      chunk = undefined;
    } else if (typeof encodingOrCallback === 'function') {
      cb = encodingOrCallback as WriteCallback;
    } else if (typeof callback === 'function') {
      cb = callback as WriteCallback;
    }
    add(chunk, typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined);
    restore();

    const handlerStatus = node.statusCode;
    const response = overflow
      ? responseTooLargeBody()
      : { status: handlerStatus, contentType: contentTypeOf(node.getHeader('content-type')), body: Buffer.concat(chunks, size) };
    if (overflow) onError(new Error('wxseal: the response exceeds maxResponseBytes; sending an authenticated 500 instead'));
    const wire = verifier.sealResponse(verified, response);

    node.statusCode = wire.status;
    if (wire.status !== handlerStatus) node.statusMessage = STATUS_CODES[wire.status] ?? '';
    for (const name of ['content-length', 'content-type', 'transfer-encoding']) node.removeHeader(name);
    if (verified.mode === 'sealed') for (const name of PLAINTEXT_DERIVED_HEADERS) node.removeHeader(name);
    for (const [name, value] of Object.entries(wire.headers)) node.setHeader(name, value);
    if (!isBodylessStatus(wire.status) && verified.method !== 'HEAD') node.setHeader('content-length', String(wire.body.length));
    return (originalEnd as (chunk: Buffer, callback?: () => void) => ServerResponse).call(node, wire.body, cb);
  } as ServerResponse['end'];
}

/**
 * Express middleware (Express 4.18+ and 5). Reads the raw body itself (bounded), verifies against
 * `req.originalUrl` (the target as sent), sets `req.wxseal` and `req.body` (the decrypted body as a
 * Buffer), and seals or signs whatever the handler sends. Mount it before any body parser.
 */
export function wxsealExpress(options: WxsealExpressOptions): RequestHandler {
  const { verifier } = options;
  if (!verifier || typeof verifier.verify !== 'function') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'wxsealExpress needs { verifier }');
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const onError = options.onError ?? ((error: Error) => console.error(error.message));

  return function wxsealMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (req.wxseal) {
      next();
      return;
    }
    const run = async (): Promise<void> => {
      let verified: VerifiedRequest;
      try {
        const allowedModes = typeof options.allowedModes === 'function' ? options.allowedModes(req) : options.allowedModes;
        const body = await readRequestBody(req, { limit: verifier.maxBodyBytes, contentLength: req.headers['content-length'] });
        verified = await verifier.verify({
          method: req.method,
          target: req.originalUrl,
          headers: headersFromRaw(req.rawHeaders),
        rawHeaders: req.rawHeaders,
          body,
          ...(allowedModes ? { allowedModes } : {}),
        });
      } catch (err) {
        if (isServerConfigError(err)) {
          next(err);
          return;
        }
        sendWireResponse(res as unknown as ServerResponse, verifier.rejection(err), { close: closesConnection(err) });
        return;
      }
      req.wxseal = verified;
      req.body = verified.body;
      installSealing(res, verifier, verified, maxResponseBytes, onError);
      next();
    };
    run().catch(next);
  };
}

export default wxsealExpress;
