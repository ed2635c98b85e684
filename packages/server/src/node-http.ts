import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { WxsealError, type HeaderGetter, type Mode, type WireResponse } from '@wxseal/protocol';
import { collectBounded, declaredLengthExceeds, readBounded } from '@wxseal/support';
import type { VerifiedRequest, Verifier } from './verifier.js';

/**
 * Headers from Node's `rawHeaders`, keeping every occurrence: IncomingMessage.headers silently
 * drops a repeated Content-Type and joins other repeats, which would hide a duplicated header
 * (malformed per SPEC.md section 4). One value is a string, several an array.
 */
export function headersFromRaw(rawHeaders: readonly string[]): HeaderGetter {
  const map = new Map<string, string | string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    const prev = map.get(name);
    if (prev === undefined) map.set(name, value);
    else if (Array.isArray(prev)) prev.push(value);
    else map.set(name, [prev, value]);
  }
  return (name) => map.get(name);
}

export interface ReadBodyOptions {
  /** Most bytes accepted; reading stops as soon as the body goes past it. */
  limit: number;
  /** The Content-Length header, checked before anything is read. */
  contentLength?: string | string[] | undefined;
}

/**
 * Reads a request body, bounded (SPEC.md section 9 step 1). Throws WXSEAL_BODY_TOO_LARGE as soon as
 * Content-Length or the bytes received exceed the limit, and stops reading there: the caller should
 * answer with `Connection: close` so the rest is never read.
 */
export function readRequestBody(stream: Readable, options: ReadBodyOptions): Promise<Buffer> {
  const { limit } = options;
  const tooLarge = (): WxsealError => new WxsealError('WXSEAL_BODY_TOO_LARGE', `the body exceeds ${limit} bytes`);
  // The declared size first: a body too large is refused as such even when it was consumed already.
  if (declaredLengthExceeds(options.contentLength, limit)) return Promise.reject(tooLarge());
  if (stream.readableEnded) {
    // Someone (a body parser mounted before wxseal) consumed the stream: the signed bytes are gone.
    return Promise.reject(
      new WxsealError('WXSEAL_CONFIG_INVALID', 'the request body was read before wxseal could verify it; mount wxseal before any body parser'),
    );
  }
  // Past the limit reading stops (rest: 'pause'); a failing stream or a client gone mid-body is an
  // unreadable request.
  return readBounded(stream, { limit, tooLarge, failed: unreadableBody });
}

function unreadableBody(): WxsealError {
  return new WxsealError('WXSEAL_MALFORMED_HEADER', 'the request body could not be read');
}

const PAYLOAD_TOO_LARGE = new Error('the reply payload is larger than the limit'); // never leaves collectReplyStream

/**
 * A reply payload stream (Node or web, through `chunks`) collected into one Buffer, bounded;
 * undefined when it is larger than `limit`. `release` lets go of the stream at that point (the
 * adapters destroy a Node stream; a web stream is cancelled by ending its iteration).
 */
export async function collectReplyStream(chunks: AsyncIterable<unknown>, limit: number, release?: () => void): Promise<Buffer | undefined> {
  try {
    return await collectBounded(chunks, {
      limit,
      tooLarge: () => {
        release?.();
        return PAYLOAD_TOO_LARGE;
      },
    });
  } catch (err) {
    if (err === PAYLOAD_TOO_LARGE) return undefined;
    throw err;
  }
}

/** Writes a wire response (a rejection) on a bare Node response. */
export function sendWireResponse(res: ServerResponse, wire: WireResponse, options: { close?: boolean } = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.getHeaderNames().length === 0) {
    // Nothing set before: one flat header list for writeHead, in the order the setHeader calls
    // below would give (cheaper than a setHeader per header).
    const head: string[] = [];
    for (const name of Object.keys(wire.headers)) head.push(name, wire.headers[name]!);
    head.push('content-length', String(wire.body.length));
    if (options.close) head.push('connection', 'close');
    res.writeHead(wire.status, head);
    res.end(wire.body);
    return;
  }
  res.statusCode = wire.status;
  for (const [name, value] of Object.entries(wire.headers)) res.setHeader(name, value);
  res.setHeader('content-length', String(wire.body.length));
  if (options.close) res.setHeader('connection', 'close');
  res.end(wire.body);
}

/** True for a rejection after which the rest of the request body is left unread. */
export function closesConnection(err: unknown): boolean {
  return err instanceof WxsealError && err.code === 'WXSEAL_BODY_TOO_LARGE';
}

/** True for errors that are the server's own misconfiguration rather than bad input. */
export function isServerConfigError(err: unknown): boolean {
  return err instanceof WxsealError && err.code === 'WXSEAL_CONFIG_INVALID';
}

export interface VerifyNodeRequestOptions {
  /** Request target as received; defaults to `req.url` (verify before any rewrite). */
  target?: string;
  allowedModes?: readonly Mode[];
}

/** Reads the body of a node:http request (bounded) and verifies it. */
export async function verifyNodeRequest(
  verifier: Verifier,
  req: IncomingMessage,
  options: VerifyNodeRequestOptions = {},
): Promise<VerifiedRequest> {
  const body = await readRequestBody(req, { limit: verifier.maxBodyBytes, contentLength: req.headers['content-length'] });
  return verifier.verify({
    method: req.method ?? '',
    target: options.target ?? req.url ?? '',
    headers: headersFromRaw(req.rawHeaders),
    rawHeaders: req.rawHeaders,
    body,
    ...(options.allowedModes ? { allowedModes: options.allowedModes } : {}),
  });
}

/** Response headers that reveal something about the plaintext and must not accompany a sealed body. */
export const PLAINTEXT_DERIVED_HEADERS = ['etag', 'content-md5', 'digest', 'content-digest', 'repr-digest', 'content-encoding'] as const;

/** Default bound on a response buffered for sealing or signing. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The body of the authenticated 500 sent when a handler's response is too large to buffer. */
export function responseTooLargeBody(): { status: number; contentType: string; body: Buffer } {
  return {
    status: 500,
    contentType: 'application/json',
    body: Buffer.from(JSON.stringify({ error: { message: 'the response exceeds the size wxseal can seal' } }), 'utf8'),
  };
}

/** Content-Type as a single string, whatever form the framework stored it in. */
export function contentTypeOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}
