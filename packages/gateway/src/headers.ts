import type { IncomingHttpHeaders } from 'node:http';
import type { Mode, WechatIdentity } from '@wxseal/protocol';

/** The identity headers the upstream receives (and the only x-wxseal-* headers it ever sees). */
export const IDENTITY_HEADERS = {
  keyId: 'x-wxseal-key-id',
  openid: 'x-wxseal-openid',
  appid: 'x-wxseal-appid',
  unionid: 'x-wxseal-unionid',
  env: 'x-wxseal-env',
  source: 'x-wxseal-source',
  mode: 'x-wxseal-mode',
} as const;

/** RFC 9110 section 7.6.1 plus the de-facto ones: meaningful for one connection only. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * The name as a CGI-style server would see it: lower case, `_` as `-`. Some upstream stacks map
 * both `x-wxseal-openid` and `x_wxseal_openid` to HTTP_X_WXSEAL_OPENID, so both spellings are
 * identity headers and both are stripped.
 */
function normalizedLower(lower: string): string {
  return lower.includes('_') ? lower.replace(/_/g, '-') : lower;
}

/** True for a header a caller must never be able to send to the upstream: the gateway's own namespace. */
export function isReservedName(name: string): boolean {
  return isReservedLower(name.toLowerCase());
}

/** isReservedName for a name already in lower case. */
function isReservedLower(lower: string): boolean {
  const n = normalizedLower(lower);
  return n.startsWith('x-wxseal-') || n.startsWith('wxseal-');
}

/** Adds the tokens of one Connection value to `out` (RFC 9110 7.6.1: those names are hop-by-hop for this message). */
function addConnectionTokens(value: string, out: Set<string>): void {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) out.add(t);
  }
}

export type OutgoingHeaders = Record<string, string | string[]>;

function append(headers: OutgoingHeaders, name: string, value: string): void {
  const prev = headers[name];
  if (prev === undefined) headers[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else headers[name] = [prev, value];
}

export interface ForwardContext {
  /** The client's address, appended to X-Forwarded-For. */
  remoteAddress: string | undefined;
  /** True when the request reached the gateway over TLS. */
  encrypted: boolean;
}

/** Request headers that describe the body or the wxseal envelope rather than the request. */
const WXSEAL_REPLACED = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'expect', 'traceparent', 'accept-encoding']);
/** Passthrough keeps the body as sent, with its framing headers. */
const PASSTHROUGH_REPLACED = new Set(['host', 'expect']);

/**
 * The headers of a request as it goes to the upstream: hop-by-hop headers and every
 * `x-wxseal-*`/`wxseal-*` header the caller sent are dropped (nothing can be spoofed), repeated
 * headers keep every value, and X-Forwarded-* are set.
 */
export function forwardRequestHeaders(
  rawHeaders: readonly string[],
  kind: 'wxseal' | 'passthrough',
  ctx: ForwardContext,
): OutgoingHeaders {
  const replaced = kind === 'wxseal' ? WXSEAL_REPLACED : PASSTHROUGH_REPLACED;
  // One pass to lower-case the names and read what the headers say about the others (Connection
  // tokens, X-Forwarded-*, Host), one to copy.
  const count = rawHeaders.length >> 1;
  const names: string[] = new Array<string>(count);
  let hop: Set<string> | undefined;
  let host: string | undefined;
  let priorFor: string | undefined;
  let proto: string | undefined;
  let fwdHost: string | undefined;
  for (let i = 0; i < count; i++) {
    const name = rawHeaders[2 * i]!.toLowerCase();
    names[i] = name;
    const value = rawHeaders[2 * i + 1]!;
    switch (name) {
      case 'connection':
        addConnectionTokens(value, (hop ??= new Set<string>()));
        break;
      case 'host':
        host ??= value;
        break;
      case 'x-forwarded-for':
        priorFor = priorFor === undefined ? value : `${priorFor}, ${value}`;
        break;
      case 'x-forwarded-proto':
        proto ??= value;
        break;
      case 'x-forwarded-host':
        fwdHost ??= value;
        break;
    }
  }
  const out: OutgoingHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = names[i]!;
    if (HOP_BY_HOP.has(name) || (hop !== undefined && hop.has(name)) || replaced.has(name) || isReservedLower(name)) continue;
    if (name === 'x-forwarded-for' || name === 'x-forwarded-host' || name === 'x-forwarded-proto') continue;
    append(out, name, rawHeaders[2 * i + 1]!);
  }
  // X-Forwarded-*: what the gateway saw. The upstream trusts them only because it trusts the gateway.
  const chain = ctx.remoteAddress ? (priorFor === undefined ? ctx.remoteAddress : `${priorFor}, ${ctx.remoteAddress}`) : (priorFor ?? '');
  if (chain) out['x-forwarded-for'] = chain;
  out['x-forwarded-proto'] = proto ?? (ctx.encrypted ? 'https' : 'http');
  fwdHost ??= host;
  if (fwdHost) out['x-forwarded-host'] = fwdHost;
  return out;
}

/**
 * An identity value as a header value: percent-encoded as by encodeURIComponent, so any UTF-8
 * string (and nothing that could break the header) gets through. WeChat ids (letters, digits,
 * `-`, `_`) are unchanged by it.
 */
export function encodeIdentityValue(value: string): string {
  return encodeURIComponent(value);
}

/** The verified identity as headers for the upstream; absent members give absent headers. */
export function identityHeaders(verified: { keyId: string; mode: Mode; identity: WechatIdentity; traceparent: string | undefined }): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  addIdentityHeaders(out, verified);
  return out;
}

/** identityHeaders, written into `out` (in the same order) instead of a new object. */
export function addIdentityHeaders(out: OutgoingHeaders, verified: { keyId: string; mode: Mode; identity: WechatIdentity; traceparent: string | undefined }): void {
  out[IDENTITY_HEADERS.keyId] = verified.keyId;
  out[IDENTITY_HEADERS.mode] = verified.mode;
  const id = verified.identity;
  if (id.openid !== undefined) out[IDENTITY_HEADERS.openid] = encodeIdentityValue(id.openid);
  if (id.appid !== undefined) out[IDENTITY_HEADERS.appid] = encodeIdentityValue(id.appid);
  if (id.unionid !== undefined) out[IDENTITY_HEADERS.unionid] = encodeIdentityValue(id.unionid);
  if (id.env !== undefined) out[IDENTITY_HEADERS.env] = encodeIdentityValue(id.env);
  if (id.source !== undefined) out[IDENTITY_HEADERS.source] = encodeIdentityValue(id.source);
  if (verified.traceparent !== undefined) out.traceparent = verified.traceparent;
}

/** Response headers that reveal something about the plaintext: never sent next to a sealed body. */
const PLAINTEXT_DERIVED = new Set(['etag', 'content-md5', 'digest', 'content-digest', 'repr-digest', 'last-modified']);
/** Set by the gateway itself from the sealed/signed response. */
const RESPONSE_REPLACED = new Set(['content-type', 'content-length', 'content-encoding', 'content-range', 'accept-ranges']);

/**
 * Upstream response headers passed to the client: not hop-by-hop, no `wxseal-*` (an upstream must
 * not be able to fake a rejection or a signature), and, in sealed mode, nothing derived from the
 * plaintext. They are not authenticated (SPEC.md 6.3); only status, content type and body are.
 */
export function forwardResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, kind: Mode | 'passthrough'): OutgoingHeaders {
  let hop: Set<string> | undefined;
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const v of Array.isArray(connection) ? connection : connection ? [connection] : []) {
      for (const t of v.split(',')) if (t.trim()) (hop ??= new Set<string>()).add(t.trim().toLowerCase());
    }
  }
  const out: OutgoingHeaders = {};
  for (const rawName of Object.keys(headers)) {
    const value = headers[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || (hop !== undefined && hop.has(name))) continue;
    if (kind !== 'passthrough') {
      if (RESPONSE_REPLACED.has(name) || isReservedLower(name)) continue;
      if (kind === 'sealed' && PLAINTEXT_DERIVED.has(name)) continue;
    }
    out[name] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}

/** A single header value, whatever form it came in. */
export function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
