import { canonicalRequestString, requestAad, splitTarget, trimContentType, type SignedRequestFields } from './canonical.js';
import { HEADERS, IV_BYTES, LIMITS, MODES, PROTOCOL_VERSION, SEALED_CONTENT_TYPE, SIGNATURE_BYTES, type Mode } from './constants.js';
import { decodeHeaderBytes, sha256Hex } from './encoding.js';
import { requestTargetReason } from './target.js';
import { aesGcmDecrypt } from './envelope.js';
import { WxsealError } from './errors.js';
import { matchSignature } from './hmac.js';
import { decodePayload, type PayloadMeta } from './payload.js';
import { sm3Hex, sm4GcmOpen, smCanonicalRequestString, smRequestAad, type SmPrimitives } from './sm.js';

/** Reads one header by lower-case name, as Node's IncomingHttpHeaders does. */
export type HeaderGetter = (name: string) => string | string[] | undefined;

/** The fields every request has once its headers passed the syntax step (SPEC.md section 9, step 2). */
interface ParsedRequestBase {
  method: string;
  path: string;
  rawQuery: string;
  keyId: string;
  timestamp: string;
  timestampSeconds: number;
  nonce: string;
  signature: Buffer;
  contentType: string;
  traceparent: string;
}

/** A sealed request past step 2: its envelope headers are present and decoded. */
export interface SealedParsedRequest extends ParsedRequestBase {
  mode: 'sealed';
  serverKeyId: string;
  /** Wxseal-Wrapped-Key as sent (what is signed) and its decoded bytes. */
  wrappedKeyHeader: string;
  wrappedKey: Buffer;
  /** Wxseal-Iv as sent (what is signed) and its decoded 12 bytes. */
  ivHeader: string;
  iv: Buffer;
}

/** A sign-only request past step 2. */
export interface SignedParsedRequest extends ParsedRequestBase {
  mode: 'signed';
  /** The raw Wxseal-Identity value, empty when absent (decoded only after the signature verifies). */
  identityHeader: string;
}

/** A request whose headers passed the syntax step (SPEC.md section 9, step 2); `mode` tells which. */
export type ParsedRequest = SealedParsedRequest | SignedParsedRequest;

/** The parsed request a list of allowed modes can yield: `['sealed']` yields a SealedParsedRequest. */
export type ParsedRequestOf<M extends Mode> = Extract<ParsedRequest, { mode: M }>;

const missing = (name: string): never => {
  throw new WxsealError('WXSEAL_MISSING_HEADER', `${name} is required`);
};
const malformed = (message: string): never => {
  throw new WxsealError('WXSEAL_MALFORMED_HEADER', message);
};

function single(header: HeaderGetter, name: string): string | undefined {
  const value = header(name);
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length !== 1) malformed(`${name} appears more than once`);
    return value[0];
  }
  return value;
}

function required(header: HeaderGetter, name: string, pattern: RegExp): string {
  const value = single(header, name) ?? missing(name);
  if (!pattern.test(value)) malformed(`${name} breaks its syntax`);
  return value;
}

const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const IV_PATTERN = /^[A-Za-z0-9_-]{16}$/;
// 107 characters: the X25519 suite's 80 bytes (SPEC.md 6.5); 151: the SM suite's 113 bytes (6.6);
// 342-683: RSA-OAEP under a 2048- to 4096-bit modulus. Step 4 compares the decoded length with the
// named key's exact length.
const WRAPPED_KEY_PATTERN = /^(?:[A-Za-z0-9_-]{107}|[A-Za-z0-9_-]{151}|[A-Za-z0-9_-]{342,683})$/;
const IDENTITY_PATTERN = new RegExp(`^[A-Za-z0-9_-]{1,${LIMITS.maxIdentityHeaderChars}}$`);
const TRACEPARENT_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${LIMITS.maxTraceparentChars}}$`);
const VISIBLE = /^[\x20-\x7e\t]*$/;
// Without the u flag, /i folds ASCII letters only: no other character compares equal to them.
const IDENTITY_ENCODING = /^identity$/i;

/**
 * Step 2 of the verification order: every header present once, within its length and alphabet.
 * Pure string work, no lookups and no cryptography.
 */
export function parseRequestHeaders<M extends Mode = Mode>(input: {
  method: string;
  target: string;
  header: HeaderGetter;
  /**
   * Node's `req.rawHeaders` (name, value, name, value, …). Node joins repeated headers with ", "
   * and keeps only the first Content-Type, so duplicates are only visible here (SPEC.md section 4).
   */
  rawHeaders?: readonly string[];
  allowedModes?: readonly M[];
}): ParsedRequestOf<M> {
  const { header } = input;
  if (input.rawHeaders) rejectDuplicates(input.rawHeaders);
  const version = single(header, HEADERS.version) ?? missing(HEADERS.version);
  if (version !== PROTOCOL_VERSION) {
    throw new WxsealError('WXSEAL_UNSUPPORTED_VERSION', `Wxseal-Version ${JSON.stringify(version.slice(0, 16))} is not supported`);
  }
  const modeValue = single(header, HEADERS.mode) ?? missing(HEADERS.mode);
  if (!(MODES as readonly string[]).includes(modeValue)) malformed('wxseal-mode must be sealed or signed');
  const mode = modeValue as Mode;
  if (!LIMITS.methodPattern.test(input.method)) malformed('request method breaks its syntax');
  if (input.allowedModes && !(input.allowedModes as readonly Mode[]).includes(mode)) {
    throw new WxsealError('WXSEAL_MODE_NOT_ALLOWED', `this route does not accept ${mode} requests`);
  }
  if (mode === 'sealed' && input.method === 'HEAD') {
    throw new WxsealError('WXSEAL_MODE_NOT_ALLOWED', 'sealed mode cannot be used with HEAD');
  }
  // Step 2.6: one rule for every verifier and for a gateway's routing (target.ts).
  const unsafeTarget = requestTargetReason(input.target);
  if (unsafeTarget !== undefined) malformed(unsafeTarget);
  const { path, rawQuery } = splitTarget(input.target);

  const keyId = required(header, HEADERS.keyId, LIMITS.idPattern);
  const timestamp = required(header, HEADERS.timestamp, LIMITS.timestampPattern);
  const nonce = required(header, HEADERS.nonce, LIMITS.noncePattern);
  const signature = decodeHeaderBytes(HEADERS.signature, required(header, HEADERS.signature, SIGNATURE_PATTERN), SIGNATURE_BYTES);

  // The 256-character limit counts the value as received, before trimming (SPEC.md 9 step 2.8).
  const contentTypeRaw = single(header, HEADERS.contentType);
  if (contentTypeRaw !== undefined && (contentTypeRaw.length > 256 || !VISIBLE.test(contentTypeRaw))) malformed('content-type breaks its syntax');
  const contentType = trimContentType(contentTypeRaw);
  // Trimmed of spaces and tabs only (not String.prototype.trim, which also drops NBSP, VT, …),
  // then compared ASCII-case-insensitively: every language gets the same answer.
  const encoding = single(header, HEADERS.contentEncoding);
  if (encoding !== undefined && !IDENTITY_ENCODING.test(trimContentType(encoding))) malformed('content-encoding must be identity');

  const traceparentRaw = single(header, HEADERS.traceparent);
  if (traceparentRaw !== undefined && !TRACEPARENT_PATTERN.test(traceparentRaw)) malformed('traceparent breaks its syntax');

  const traceparent = traceparentRaw ?? '';
  const timestampSeconds = Number(timestamp);
  let parsed: ParsedRequest;
  if (mode === 'sealed') {
    if (single(header, HEADERS.identity) !== undefined) malformed('wxseal-identity must not be sent in sealed mode');
    if (contentType !== SEALED_CONTENT_TYPE) malformed(`sealed requests must have content-type ${SEALED_CONTENT_TYPE}`);
    const serverKeyId = required(header, HEADERS.serverKeyId, LIMITS.idPattern);
    const wrappedKeyHeader = required(header, HEADERS.wrappedKey, WRAPPED_KEY_PATTERN);
    const wrappedKey = decodeHeaderBytes(HEADERS.wrappedKey, wrappedKeyHeader);
    const ivHeader = required(header, HEADERS.iv, IV_PATTERN);
    const iv = decodeHeaderBytes(HEADERS.iv, ivHeader, IV_BYTES);
    parsed = {
      mode, method: input.method, path, rawQuery, keyId, timestamp, timestampSeconds, nonce, signature, contentType, traceparent,
      serverKeyId, wrappedKeyHeader, wrappedKey, ivHeader, iv,
    };
  } else {
    for (const name of [HEADERS.serverKeyId, HEADERS.wrappedKey, HEADERS.iv]) {
      if (single(header, name) !== undefined) malformed(`${name} must not be sent in signed mode`);
    }
    const identity = single(header, HEADERS.identity);
    if (identity !== undefined && !IDENTITY_PATTERN.test(identity)) malformed('wxseal-identity breaks its syntax');
    parsed = {
      mode, method: input.method, path, rawQuery, keyId, timestamp, timestampSeconds, nonce, signature, contentType, traceparent,
      identityHeader: identity ?? '',
    };
  }
  // The mode is one of allowedModes (checked above), so the request is of the narrower type.
  return parsed as ParsedRequestOf<M>;
}

/** Headers that must appear at most once (SPEC.md section 4). */
export const SINGLE_HEADERS: ReadonlySet<string> = new Set([
  HEADERS.version,
  HEADERS.mode,
  HEADERS.keyId,
  HEADERS.timestamp,
  HEADERS.nonce,
  HEADERS.signature,
  HEADERS.serverKeyId,
  HEADERS.wrappedKey,
  HEADERS.iv,
  HEADERS.identity,
  HEADERS.traceparent,
  HEADERS.contentType,
  HEADERS.contentEncoding,
  HEADERS.contentLength,
]);

function rejectDuplicates(rawHeaders: readonly string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!SINGLE_HEADERS.has(name)) continue;
    if (seen.has(name)) malformed(`${name} appears more than once`);
    seen.add(name);
  }
}

/** Step 3: the timestamp window. */
export function checkTimestamp(timestampSeconds: number, nowSeconds: number, windowSeconds: number): void {
  if (timestampSeconds < nowSeconds - windowSeconds) {
    throw new WxsealError('WXSEAL_TIMESTAMP_EXPIRED', `timestamp is more than ${windowSeconds}s in the past`);
  }
  if (timestampSeconds > nowSeconds + windowSeconds) {
    throw new WxsealError('WXSEAL_TIMESTAMP_FUTURE', `timestamp is more than ${windowSeconds}s in the future`);
  }
}

/** The fields of the canonical request string (SPEC.md 5.2): the other mode's fields are empty. */
export function signedFieldsOf(parsed: ParsedRequest, bodySha256: string): SignedRequestFields {
  const sealed = parsed.mode === 'sealed' ? parsed : undefined;
  return {
    mode: parsed.mode,
    method: parsed.method,
    path: parsed.path,
    rawQuery: parsed.rawQuery,
    timestamp: parsed.timestamp,
    nonce: parsed.nonce,
    keyId: parsed.keyId,
    contentType: parsed.contentType,
    serverKeyId: sealed ? sealed.serverKeyId : '',
    wrappedKey: sealed ? sealed.wrappedKeyHeader : '',
    iv: sealed ? sealed.ivHeader : '',
    identity: parsed.mode === 'signed' ? parsed.identityHeader : '',
    traceparent: parsed.traceparent,
    bodySha256,
  };
}

/**
 * Step 5: the index of the secret that signed the request, or -1 when none did. Every secret is
 * checked, in constant time (matchSignature).
 */
export function requestSignatureIndex(parsed: ParsedRequest, body: Uint8Array, secrets: readonly Uint8Array[], sm?: SmPrimitives): number {
  if (sm && parsed.mode === 'sealed') {
    // The SM suite (SPEC.md 6.6): SM3 body hash, WXSEAL1-HMAC-SM3 first line, HMAC-SM3.
    const canonical = smCanonicalRequestString(signedFieldsOf(parsed, sm3Hex(sm, body)));
    return matchSignature(secrets, canonical, parsed.signature, (secret, message) => sm.hmacSm3(secret, Buffer.from(message, 'utf8')));
  }
  const canonical = canonicalRequestString(signedFieldsOf(parsed, sha256Hex(body)));
  return matchSignature(secrets, canonical, parsed.signature);
}

/** Step 5: returns the index of the secret that signed the request, or throws BAD_SIGNATURE. */
export function verifyRequestSignature(parsed: ParsedRequest, body: Uint8Array, secrets: readonly Uint8Array[], sm?: SmPrimitives): number {
  const index = requestSignatureIndex(parsed, body, secrets, sm);
  if (index === -1) throw new WxsealError('WXSEAL_BAD_SIGNATURE', 'signature does not match');
  return index;
}

/** Step 8 (sealed mode): decrypt the body with the unwrapped session key and split the framing. */
export function openSealedRequest(parsed: SealedParsedRequest, sessionKey: Uint8Array, body: Uint8Array, sm?: SmPrimitives): { meta: PayloadMeta; body: Buffer } {
  // The type says sealed; a JavaScript caller may still pass a sign-only request.
  if ((parsed as ParsedRequest).mode !== 'sealed' || !parsed.iv) throw new WxsealError('WXSEAL_MALFORMED_HEADER', 'not a sealed request');
  if (sm) return decodePayload(sm4GcmOpen(sm, sessionKey, parsed.iv, smRequestAad(parsed), body, 'WXSEAL_DECRYPT_FAILED'));
  const aad = requestAad(parsed);
  return decodePayload(aesGcmDecrypt(sessionKey, parsed.iv, aad, body, 'WXSEAL_DECRYPT_FAILED'));
}
