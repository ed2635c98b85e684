// The admin API client: same-origin fetch with the session cookie, the CSRF token (kept in memory
// only) on every non-GET call, and the API's `{ error: { code, message } }` turned into ApiError.
// Any 401 outside the login call hands control back to the login page.

import { CodedError } from '@wxseal/protocol/errors';
import type { ConsoleErrorCode } from './errors.js';

const BASE = '/admin/api/v1';

/**
 * A failed admin API call: `code` is the API's ADMIN_ code, or one of the console's own
 * (CONSOLE_NETWORK, CONSOLE_BAD_RESPONSE, CONSOLE_HTTP_ERROR) when the API gave none.
 */
export class ApiError extends CodedError<string> {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(code, message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const NETWORK: ConsoleErrorCode = 'CONSOLE_NETWORK';
const BAD_RESPONSE: ConsoleErrorCode = 'CONSOLE_BAD_RESPONSE';
const HTTP_ERROR: ConsoleErrorCode = 'CONSOLE_HTTP_ERROR';

let csrfToken: string | null = null;
let unauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called on any 401 (except from the login call itself): the session is gone. */
export function onUnauthenticated(handler: (() => void) | null): void {
  unauthenticated = handler;
}

export type Query = Record<string, string | number | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** The login call: a 401 there is a refused login, not an expired session. */
  login?: boolean;
}

export function buildPath(path: string, query?: Query): string {
  if (!query) return BASE + path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return BASE + path + (qs ? `?${qs}` : '');
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(buildPath(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
      signal: opts.signal ?? null,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, NETWORK, err instanceof Error ? err.message : String(err));
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof e?.code === 'string' ? e.code : HTTP_ERROR;
    const message = typeof e?.message === 'string' ? e.message : res.statusText;
    const retry = Number(res.headers.get('retry-after'));
    const error = new ApiError(res.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : undefined);
    if (res.status === 401 && !opts.login) {
      csrfToken = null;
      unauthenticated?.();
    }
    throw error;
  }
  if (json === undefined) throw new ApiError(res.status, BAD_RESPONSE, 'response is not JSON');
  return json as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) }),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, { body }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

/** Path segment for an id taken from data (serials, key ids): never let it change the route. */
export const seg = (s: string): string => encodeURIComponent(s);

export const isAbort = (err: unknown): boolean => err instanceof DOMException && err.name === 'AbortError';
