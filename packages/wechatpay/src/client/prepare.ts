// A request checked and fixed once before its first attempt: method, path and query, the exact
// body text that is signed and sent (retries repeat it byte for byte), caller headers, deadline.
import { fail } from '../errors.js';
import { requestTargetOf } from '../signing.js';
import type { HttpMethod, WechatPayRequest } from './interface.js';

const PATH = /^\/v3\/[\x21-\x22\x24-\x3e\x40-\x7e]*$/; // printable, no "#" or "?"
const RESERVED_HEADERS = new Set(['authorization', 'accept', 'content-type', 'content-length', 'user-agent', 'wechatpay-serial', 'host', 'connection', 'transfer-encoding']);

export interface PreparedRequest {
  mchid: string;
  method: HttpMethod;
  path: string;
  url: URL;
  /** The signed request target: path and query as sent. */
  target: string;
  query: Record<string, string>;
  bodyText: string | undefined;
  idempotent: boolean;
  headers: Record<string, string>;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  wechatpaySerial: string | undefined;
}

/** `value` (or `fallback`) as a finite number ≥ `min`, else WECHATPAY_BAD_ARGUMENT naming `what`. */
export function positive(value: number | undefined, fallback: number, what: string, min = 0): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail('WECHATPAY_BAD_ARGUMENT', `${what} must be a number ≥ ${min}`);
  return v;
}

export function prepareRequest(mchid: string, req: WechatPayRequest, baseUrl: string, defaultTimeoutMs: number): PreparedRequest {
  if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'request must be an object');
  const method = req.method;
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) fail('WECHATPAY_BAD_ARGUMENT', 'method must be GET, POST, PUT, PATCH or DELETE');
  if (typeof req.path !== 'string' || !PATH.test(req.path)) fail('WECHATPAY_BAD_ARGUMENT', 'path must be /v3/… (printable ASCII, percent-encoded, no query or fragment)');
  const url = new URL(req.path, baseUrl);
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v === undefined) continue;
    query[k] = String(v);
    url.searchParams.append(k, String(v));
  }
  const target = requestTargetOf(url);
  let bodyText: string | undefined;
  if (req.body !== undefined) {
    if (method === 'GET') fail('WECHATPAY_BAD_ARGUMENT', 'a GET request carries no body');
    bodyText = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    if (typeof bodyText !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'body must be JSON-serialisable');
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (RESERVED_HEADERS.has(k.toLowerCase())) fail('WECHATPAY_BAD_ARGUMENT', `header ${k} is set by the client`);
    if (typeof v !== 'string' || /[\r\n]/.test(v)) fail('WECHATPAY_BAD_ARGUMENT', `header ${k} must be a single-line string`);
    headers[k] = v;
  }
  if (req.wechatpaySerial !== undefined && (typeof req.wechatpaySerial !== 'string' || !/^[0-9A-Za-z_]{1,80}$/.test(req.wechatpaySerial))) {
    fail('WECHATPAY_BAD_ARGUMENT', 'wechatpaySerial must be a certificate serial or PUB_KEY_ID_…');
  }
  return {
    mchid,
    method,
    path: req.path,
    url,
    target,
    query,
    bodyText,
    idempotent: req.idempotent ?? method === 'GET',
    headers,
    signal: req.signal,
    timeoutMs: positive(req.timeoutMs, defaultTimeoutMs, 'timeoutMs', 1),
    wechatpaySerial: req.wechatpaySerial,
  };
}
