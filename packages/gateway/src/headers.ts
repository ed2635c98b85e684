import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP, isIPv4 } from 'node:net';
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
  /** The verified client certificate (mutual TLS): its subject, one line, percent-encoded like the other values. */
  clientCertSubject: 'x-wxseal-client-cert-subject',
  /** Its SHA-256 fingerprint, "AB:CD:…" (upper-case hex with colons). */
  clientCertFingerprint: 'x-wxseal-client-cert-fingerprint',
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

/** The request id header: kept from the client when valid (see requestIdOf), sent to the upstream, returned. */
export const REQUEST_ID_HEADER = 'x-request-id';

const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The request id for this request: the client's `x-request-id` when it sent exactly one of at most
 * 128 visible ASCII characters (an id set by a proxy in front, kept so logs can be joined), else
 * undefined and the caller makes one.
 */
export function incomingRequestId(rawHeaders: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 12 || name.toLowerCase() !== REQUEST_ID_HEADER) continue;
    if (found !== undefined) return undefined; // repeated: which one would be meant?
    found = rawHeaders[i + 1]!;
  }
  return found !== undefined && VALID_REQUEST_ID.test(found) ? found : undefined;
}

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
const WXSEAL_REPLACED = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'expect', 'traceparent', 'accept-encoding', REQUEST_ID_HEADER]);
/** Passthrough keeps the body as sent, with its framing headers. */
const PASSTHROUGH_REPLACED = new Set(['host', 'expect', REQUEST_ID_HEADER]);

/**
 * The headers of a request as it goes to the upstream: hop-by-hop headers and every
 * `x-wxseal-*`/`wxseal-*` header the caller sent are dropped (nothing can be spoofed), repeated
 * headers keep every value, and X-Forwarded-* are set. Written into `out` after what it already
 * holds (the gateway's identity headers go first, so an upstream that caps its header count still
 * sees them); names the gateway sets itself (identity, traceparent, x-request-id) are never copied.
 */
export function forwardRequestHeaders(
  rawHeaders: readonly string[],
  kind: 'wxseal' | 'passthrough',
  ctx: ForwardContext,
  out: OutgoingHeaders = {},
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

// A UTF-16 code unit of a surrogate pair without its other half.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ANY_SURROGATE = /[\ud800-\udfff]/;

/** `value` with every lone surrogate replaced by U+FFFD (what UTF-8 encoders write for one; SPEC.md section 7). */
export function toWellFormed(value: string): string {
  return ANY_SURROGATE.test(value) ? value.replace(LONE_SURROGATE, '\ufffd') : value;
}

/**
 * An identity value as a header value: lone surrogates become U+FFFD, then the UTF-8 bytes are
 * percent-encoded as by encodeURIComponent, so any string (and nothing that could break the
 * header) gets through. Cannot throw: encodeURIComponent's only failure is a lone surrogate.
 * WeChat ids (letters, digits, `-`, `_`) are unchanged by it. The contract for upstreams is in
 * the README ("Identity header encoding").
 */
export function encodeIdentityValue(value: string): string {
  return encodeURIComponent(toWellFormed(value));
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

/**
 * The connection's verified client certificate as identity headers (mutual TLS); nothing for a
 * certificate that did not verify, or none. A caller's own copies were dropped by forwardRequestHeaders.
 */
export function addClientCertificateHeaders(out: OutgoingHeaders, peer: { state: string; subject?: string; fingerprint256?: string }): void {
  if (peer.state !== 'verified' || peer.subject === undefined || peer.fingerprint256 === undefined) return;
  out[IDENTITY_HEADERS.clientCertSubject] = encodeIdentityValue(peer.subject);
  out[IDENTITY_HEADERS.clientCertFingerprint] = peer.fingerprint256;
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

/** A socket or forwarded address in its plain form: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4. */
export function plainAddress(address: string): string {
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */ && address.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = address.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return address;
}

/** One X-Forwarded-For entry as an IP address (brackets and a port removed), or undefined when it is none. */
function forwardedAddress(entry: string): string | undefined {
  let a = entry.trim();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) return undefined;
    a = a.slice(1, end);
  } else if (a.indexOf(':') === a.lastIndexOf(':') && a.includes(':')) {
    a = a.slice(0, a.indexOf(':')); // IPv4 with a port
  }
  return isIP(a) === 0 ? undefined : plainAddress(a);
}

/** The trusted proxies of the config as a lookup (addresses and CIDR blocks); undefined for none. */
export function trustedProxyList(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = plainAddress(slash < 0 ? entry : entry.slice(0, slash));
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (slash < 0) list.addAddress(address, family);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}

/**
 * The client's address for logs and per-source limits: the socket's peer, unless that peer is a
 * trusted proxy; then X-Forwarded-For is read from the right, skipping trusted hops, and the first
 * untrusted one is the client (hops left of it could be forged by the client itself). An entry
 * that is not an IP address ends the walk at the nearest hop known so far.
 */
export function clientAddressOf(socketAddress: string | undefined, rawHeaders: readonly string[], trusted: BlockList | undefined): string | undefined {
  if (socketAddress === undefined) return undefined;
  const peer = plainAddress(socketAddress);
  if (trusted === undefined || !isTrusted(trusted, peer)) return peer;
  const hops: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 15 && rawHeaders[i]!.toLowerCase() === 'x-forwarded-for') hops.push(...rawHeaders[i + 1]!.split(','));
  }
  let nearest = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedAddress(hops[i]!);
    if (hop === undefined) return nearest;
    if (!isTrusted(trusted, hop)) return hop;
    nearest = hop;
  }
  return nearest;
}
