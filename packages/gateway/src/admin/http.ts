/** Small HTTP pieces of the admin API: its errors, security headers, JSON bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectBounded } from '@wxseal/support';

export const ADMIN_ERROR_STATUS = {
  ADMIN_UNAUTHENTICATED: 401,
  ADMIN_BAD_CREDENTIALS: 401,
  ADMIN_LOGIN_RATE_LIMITED: 429,
  ADMIN_CSRF: 403,
  ADMIN_BAD_REQUEST: 400,
  ADMIN_NOT_FOUND: 404,
  ADMIN_CONFLICT: 409,
  ADMIN_UNAVAILABLE: 503,
  ADMIN_NOT_CONFIGURED: 404,
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERROR_STATUS;

/** A refusal of the admin API: `{ error: { code, message } }` with its status. Messages never carry secrets. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly status: number;
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = options.status ?? ADMIN_ERROR_STATUS[code];
    this.headers = options.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function setSecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  setSecurityHeaders(res);
  if (status === 204) {
    res.writeHead(204, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: AdminError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/**
 * Reads a JSON body of at most `limit` bytes. No body (or an empty one) reads as undefined. A body
 * over the limit is refused before it is all read (the connection then closes).
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await collectBounded(req, { limit, tooLarge: () => tooLarge(limit), declaredLength: req.headers['content-length'] });
  if (body.length === 0) return undefined;
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AdminError('ADMIN_BAD_REQUEST', 'content-type must be application/json');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new AdminError('ADMIN_BAD_REQUEST', 'the body is not valid JSON');
  }
}

function tooLarge(limit: number): AdminError {
  return new AdminError('ADMIN_BAD_REQUEST', `the body exceeds ${limit} bytes`, { status: 413, headers: { connection: 'close' } });
}

/** Cookie header → name/value map (first occurrence wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}
