// Small node:http helpers: bounded body reading and JSON answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBounded } from '@wxseal/support';
import { CodedError } from '@wxseal/protocol/errors';

export class BodyTooLargeError extends CodedError<'MOCK_BODY_TOO_LARGE'> {
  override readonly name = 'BodyTooLargeError';
  constructor(limit: number) {
    super('MOCK_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
  }
}

/**
 * Reads the whole body, refusing more than `limit` bytes (declared or actual). Past the limit the
 * rest is drained while the 413 goes out, so the client is not reset mid-upload.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return readBounded(req, { limit, tooLarge: () => new BodyTooLargeError(limit), declaredLength: req.headers['content-length'], rest: 'drain' });
}

export const JSON_CONTENT_TYPE = 'application/json; encoding=utf-8';

/** Sends `body` (already serialised, or an object to serialise) with extra headers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, closeConnection = false): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': String(Buffer.byteLength(text)),
    ...(closeConnection ? { Connection: 'close' } : {}),
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, closeConnection = false): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...(closeConnection ? { Connection: 'close' } : {}),
  });
  res.end(text);
}
