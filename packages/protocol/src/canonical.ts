import { LABELS, type Mode } from './constants.js';

/** Every field of the canonical request string (SPEC.md 5.1), already in wire form. */
export interface SignedRequestFields {
  mode: Mode;
  method: string;
  /** Path of the request target exactly as sent, without the query. */
  path: string;
  /** The raw query as sent (after `?`), not yet canonicalised. */
  rawQuery: string;
  timestamp: string;
  nonce: string;
  keyId: string;
  /** Content-Type as sent (trimmed here); empty when absent. */
  contentType: string;
  /** Sealed mode only; empty otherwise. */
  serverKeyId: string;
  wrappedKey: string;
  iv: string;
  /** Sign-only mode only: the Wxseal-Identity header value; empty otherwise. */
  identity: string;
  traceparent: string;
  /** hex(SHA-256(body as sent)). */
  bodySha256: string;
}

/** Splits a request target (`/path?query`) into its raw path and raw query. */
export function splitTarget(target: string): { path: string; rawQuery: string } {
  const hash = target.indexOf('#');
  const withoutFragment = hash === -1 ? target : target.slice(0, hash);
  const q = withoutFragment.indexOf('?');
  return q === -1
    ? { path: withoutFragment, rawQuery: '' }
    : { path: withoutFragment.slice(0, q), rawQuery: withoutFragment.slice(q + 1) };
}

function segmentName(segment: string): string {
  const eq = segment.indexOf('=');
  return eq === -1 ? segment : segment.slice(0, eq);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * SPEC.md 5.1: drop empty segments, stable-sort by name (bytes before the first `=`), join with `&`.
 * Nothing is decoded or re-encoded; repeated names keep their order because it carries meaning.
 */
export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const segments = rawQuery.split('&').filter((s) => s.length > 0);
  // Array.prototype.sort is stable since ES2019; the index tie-break makes that explicit.
  return segments
    .map((segment, index) => ({ segment, name: segmentName(segment), index }))
    .sort((a, b) => compareBytes(a.name, b.name) || a.index - b.index)
    .map((s) => s.segment)
    .join('&');
}

/** Content-Type as signed: leading and trailing spaces and tabs removed. */
export function trimContentType(value: string | undefined): string {
  return (value ?? '').replace(/^[ \t]+|[ \t]+$/g, '');
}

/** The 15-line canonical request string of SPEC.md 5.2. */
export function canonicalRequestString(f: SignedRequestFields): string {
  return [
    LABELS.request,
    f.mode,
    f.method,
    f.path,
    canonicalQuery(f.rawQuery),
    f.timestamp,
    f.nonce,
    f.keyId,
    trimContentType(f.contentType),
    f.serverKeyId,
    f.wrappedKey,
    f.iv,
    f.identity,
    f.traceparent,
    f.bodySha256,
  ].join('\n');
}

/** The request associated data of SPEC.md 6.2 step 4. */
export function requestAad(f: {
  method: string;
  path: string;
  rawQuery: string;
  timestamp: string;
  nonce: string;
  keyId: string;
  serverKeyId: string;
}): Buffer {
  return Buffer.from(
    [LABELS.requestAad, f.method, f.path, canonicalQuery(f.rawQuery), f.timestamp, f.nonce, f.keyId, f.serverKeyId].join('\n'),
    'utf8',
  );
}

export interface ResponseBinding {
  /** Key id of the request being answered. */
  keyId: string;
  /** Nonce of the request being answered. */
  requestNonce: string;
  status: number;
}

function statusDigits(status: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid HTTP status ${status}`);
  return String(status);
}

/** The response associated data of SPEC.md 6.3 step 3. */
export function responseAad(b: ResponseBinding): Buffer {
  return Buffer.from([LABELS.responseAad, b.keyId, b.requestNonce, statusDigits(b.status)].join('\n'), 'utf8');
}

/** The 6-line canonical response string of SPEC.md section 12 (sign-only mode). */
export function canonicalResponseString(b: ResponseBinding & { contentType: string; bodySha256: string }): string {
  return [LABELS.response, b.keyId, b.requestNonce, statusDigits(b.status), trimContentType(b.contentType), b.bodySha256].join('\n');
}
