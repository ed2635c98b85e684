/** Small HTTP pieces of the admin API: its errors, security headers, JSON bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectBounded } from '@wxseal/support';
import { CodedError, statusesOf, type ErrorCatalogue } from '@wxseal/protocol';

/** The codes of the admin API (`{ error: { code, message } }`), with the status each is answered with. */
export const ADMIN_ERRORS = {
  ADMIN_UNAUTHENTICATED: {
    status: 401,
    meaning: 'No session, or the session expired.',
    action: 'Log in again (POST /admin/api/v1/session).',
  },
  ADMIN_BAD_CREDENTIALS: {
    status: 401,
    meaning: 'The login was refused: wrong user, password or admin token.',
    action: 'Check the user and password, or the admin token (admin.auth in the gateway config).',
  },
  ADMIN_LOGIN_RATE_LIMITED: {
    status: 429,
    meaning: 'Too many login attempts from this address.',
    action: 'Wait for the time the retry-after header gives, then log in again.',
  },
  ADMIN_CSRF: {
    status: 403,
    meaning: 'A state-changing call came without the session\'s x-csrf-token header, or from a foreign Origin.',
    action: 'Reload the console and try again; API clients send the csrfToken of the login answer as x-csrf-token.',
  },
  ADMIN_BAD_REQUEST: {
    status: 400,
    meaning: 'The body or query fails its schema (the message names the field), or the body is too large.',
    action: 'Fix the field the message names (see ADMIN-API.md for the shapes).',
  },
  ADMIN_NOT_FOUND: {
    status: 404,
    meaning: 'No such device, credential, key or route.',
    action: 'Check the identifier; the object may have been removed meanwhile.',
  },
  ADMIN_CONFLICT: {
    status: 409,
    meaning: 'The change conflicts with the current state (device already revoked, last active secret, changed by someone else).',
    action: 'Reload to see the current state, then decide again.',
  },
  ADMIN_UNAVAILABLE: {
    status: 503,
    meaning: 'A backing store (device database, Redis, the admin state directory) is unreachable; the change was refused.',
    action: 'Check the gateway\'s log and the store it names; retry when it is back.',
  },
  ADMIN_NOT_CONFIGURED: {
    status: 404,
    meaning: 'The feature is not configured on this gateway (no devices or admin section, console disabled).',
    action: 'Add the section to the gateway config if the feature is wanted (see the gateway README).',
  },
} as const satisfies ErrorCatalogue;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** The HTTP status of each admin code. */
export const ADMIN_ERROR_STATUS = statusesOf(ADMIN_ERRORS);

/** A refusal of the admin API: `{ error: { code, message } }` with its status. Messages never carry secrets. */
export class AdminError extends CodedError<AdminErrorCode> {
  override readonly name = 'AdminError';
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(code: AdminErrorCode, message: string, options: { status?: number; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status ?? ADMIN_ERRORS[code].status;
    this.headers = options.headers ?? {};
  }
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
