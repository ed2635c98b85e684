// A request checked and fixed once before its first attempt: method, path and query, the exact
// body text that is signed and sent (retries repeat it byte for byte), caller headers, deadline.
import { randomBytes } from 'node:crypto';
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
  /** Bytes sent when they differ from the signed bodyText (multipart uploads). */
  sendBody: Buffer | undefined;
  /** Content-Type of the sent body (application/json, or multipart/form-data with its boundary). */
  contentType: string | undefined;
  /** Set for file downloads: the 2xx answer is unsigned bytes. */
  download: boolean;
  /** Answer size limit of this call, when it replaces the client's. */
  maxResponseBytes: number | undefined;
}

const FILENAME = /^[^"\r\n\\]{1,256}$/;
const MIME = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;

/**
 * The multipart/form-data body of a media upload: a `meta` part (application/json) and a `file`
 * part, CRLF line ends, a random boundary that occurs in neither part.
 */
export function multipartBody(meta: string, file: Uint8Array, filename: string, contentType: string): { body: Buffer; contentType: string } {
  const fileBytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  let boundary: string;
  do boundary = `wxseal-${randomBytes(16).toString('hex')}`;
  while (fileBytes.includes(boundary) || meta.includes(boundary));
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n${meta}\r\n`, 'utf8'),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`, 'utf8'),
    fileBytes,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8'),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
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
  let sendBody: Buffer | undefined;
  let contentType: string | undefined;
  if (req.body !== undefined) {
    if (method === 'GET') fail('WECHATPAY_BAD_ARGUMENT', 'a GET request carries no body');
    if (req.multipart !== undefined) fail('WECHATPAY_BAD_ARGUMENT', 'give body or multipart, not both');
    bodyText = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    if (typeof bodyText !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'body must be JSON-serialisable');
    contentType = 'application/json';
  }
  if (req.multipart !== undefined) {
    const m = req.multipart;
    if (method !== 'POST') fail('WECHATPAY_BAD_ARGUMENT', 'a multipart upload is a POST');
    if (typeof m !== 'object' || m === null || typeof m.meta !== 'string' || m.meta === '') fail('WECHATPAY_BAD_ARGUMENT', 'multipart.meta must be JSON text');
    if (!(m.file instanceof Uint8Array)) fail('WECHATPAY_BAD_ARGUMENT', 'multipart.file must be bytes (Buffer or Uint8Array)');
    if (typeof m.filename !== 'string' || !FILENAME.test(m.filename)) fail('WECHATPAY_BAD_ARGUMENT', 'multipart.filename must be 1-256 characters without quotes, backslashes or line breaks');
    if (typeof m.contentType !== 'string' || !MIME.test(m.contentType)) fail('WECHATPAY_BAD_ARGUMENT', 'multipart.contentType must be a MIME type such as image/jpeg');
    const built = multipartBody(m.meta, m.file, m.filename, m.contentType);
    bodyText = m.meta;
    sendBody = built.body;
    contentType = built.contentType;
  }
  let maxResponseBytes: number | undefined;
  if (req.download !== undefined) {
    if (typeof req.download !== 'object' || req.download === null) fail('WECHATPAY_BAD_ARGUMENT', 'download must be an object');
    if (req.download.maxBytes !== undefined) maxResponseBytes = positive(req.download.maxBytes, 0, 'download.maxBytes', 1);
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
    sendBody,
    contentType,
    download: req.download !== undefined,
    maxResponseBytes,
  };
}
