import type { KeyObject } from 'node:crypto';
import { canonicalRequestString, requestAad, splitTarget, trimContentType, type SignedRequestFields } from './canonical.js';
import {
  HEADERS,
  IV_BYTES,
  LIMITS,
  NONCE_RANDOM_BYTES,
  PROTOCOL_VERSION,
  SEALED_CONTENT_TYPE,
  SESSION_KEY_BYTES,
  type Mode,
} from './constants.js';
import { b64uEncode, sha256Hex } from './encoding.js';
import { aesGcmEncrypt, generateIv, generateSessionKey, publicRandomBytes, wrapSessionKey } from './envelope.js';
import { WxsealError } from './errors.js';
import { signCanonical } from './hmac.js';
import { encodeIdentityHeader, type WechatIdentity } from './identity.js';
import { encodePayloadParts } from './payload.js';
import { requestTargetReason } from './target.js';
import { SM_SESSION_KEY_BYTES, generateSmSessionKey, sm3Hex, sm4GcmSeal, smCanonicalRequestString, smRequestAad, smSignCanonical, wrapSmSessionKey, type Sm2ServerPublicKey, type SmPrimitives } from './sm.js';

/**
 * The server key a sealed request is addressed to: an RSA or X25519 KeyObject, or an SM2 key with the
 * SM primitives that select the SM suite (SPEC.md 6.6; sm.ts says why they are passed in).
 */
export type ServerPublicKey = { id: string; publicKey: KeyObject; sm2?: undefined } | { id: string; sm2: Sm2ServerPublicKey; publicKey?: undefined };

/** What a client wants to send; `build*` turns it into wire headers and body. */
export interface RequestSpec {
  mode: Mode;
  method: string;
  /** Path and query exactly as they will be sent on the request line, e.g. `/orders?id=7`. */
  target: string;
  keyId: string;
  secret: Uint8Array;
  body?: Uint8Array;
  /** Media type of `body` (inside the envelope in sealed mode). */
  contentType?: string;
  identity?: WechatIdentity;
  traceparent?: string;
  /** Required in sealed mode. */
  serverKey?: ServerPublicKey;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  // Fixed values for known-answer vectors and tests; production callers leave them unset.
  nonce?: string;
  sessionKey?: Uint8Array;
  iv?: Uint8Array;
  wrappedKey?: Uint8Array;
}

/** What the client keeps to authenticate and open the response. */
export interface RequestContext {
  mode: Mode;
  keyId: string;
  nonce: string;
  secret: Uint8Array;
  /** Sealed mode only. */
  sessionKey?: Buffer;
  /** The SM suite's primitives when the request was built under it (SPEC.md 6.6). */
  sm?: SmPrimitives;
}

export interface BuiltRequest {
  headers: Record<string, string>;
  body: Buffer;
  canonical: string;
  context: RequestContext;
}

export function generateNonce(): string {
  return b64uEncode(publicRandomBytes(NONCE_RANDOM_BYTES));
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

function checkSpec(spec: RequestSpec): void {
  const bad = (msg: string): never => {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', msg);
  };
  if (!LIMITS.methodPattern.test(spec.method)) bad(`method must be 1-16 upper-case letters`);
  // The verifier's own rule (SPEC.md 9 step 2.6): a target it would refuse is never sent.
  const unsafeTarget = requestTargetReason(spec.target);
  if (unsafeTarget !== undefined) bad(`target: ${unsafeTarget}`);
  if (!LIMITS.idPattern.test(spec.keyId)) bad('keyId must be 1-64 characters of A-Z a-z 0-9 . _ : -');
  if (spec.nonce !== undefined && !LIMITS.noncePattern.test(spec.nonce)) bad('nonce breaks the nonce syntax');
  if (spec.traceparent !== undefined && (spec.traceparent.length > LIMITS.maxTraceparentChars || /[\r\n]/.test(spec.traceparent))) {
    bad('traceparent is too long or holds CR/LF');
  }
  if (spec.mode === 'sealed') {
    if (!spec.serverKey) bad('sealed mode needs the server public key');
    if (!LIMITS.idPattern.test(spec.serverKey!.id)) bad('server key id breaks the id syntax');
    if (spec.method === 'HEAD') bad('sealed mode cannot be used with HEAD');
  }
}

/** Builds the headers and body of a wxseal v1 request (SPEC.md sections 4-6). */
/** The fields and headers a sealed request adds (SPEC 4, 6.2), whichever suite sealed it. */
function setSealedFields(fields: SignedRequestFields, headers: Record<string, string>, serverKeyId: string, wrapped: Uint8Array, iv: Uint8Array): void {
  fields.contentType = SEALED_CONTENT_TYPE;
  fields.serverKeyId = serverKeyId;
  fields.wrappedKey = b64uEncode(wrapped);
  fields.iv = b64uEncode(iv);
  headers[HEADERS.contentType] = SEALED_CONTENT_TYPE;
  headers[HEADERS.serverKeyId] = serverKeyId;
  headers[HEADERS.wrappedKey] = fields.wrappedKey;
  headers[HEADERS.iv] = fields.iv;
}

export function buildRequest(spec: RequestSpec): BuiltRequest {
  checkSpec(spec);
  const { path, rawQuery } = splitTarget(spec.target);
  const timestamp = String(spec.timestamp ?? unixNow());
  const nonce = spec.nonce ?? generateNonce();
  const plainBody = Buffer.from(spec.body ?? new Uint8Array(0));
  const headers: Record<string, string> = {
    [HEADERS.version]: PROTOCOL_VERSION,
    [HEADERS.mode]: spec.mode,
    [HEADERS.keyId]: spec.keyId,
    [HEADERS.timestamp]: timestamp,
    [HEADERS.nonce]: nonce,
  };
  const fields: SignedRequestFields = {
    mode: spec.mode,
    method: spec.method,
    path,
    rawQuery,
    timestamp,
    nonce,
    keyId: spec.keyId,
    contentType: '',
    serverKeyId: '',
    wrappedKey: '',
    iv: '',
    identity: '',
    traceparent: spec.traceparent ?? '',
    bodySha256: '',
  };
  let body: Buffer;
  let sessionKey: Buffer | undefined;
  const sm = spec.mode === 'sealed' ? spec.serverKey!.sm2?.primitives : undefined;

  if (spec.mode === 'sealed' && spec.serverKey!.sm2) {
    // The SM suite (SPEC.md 6.6): a 16-byte K wrapped with SM2, SM4-GCM under the SM request AAD.
    const serverKey = spec.serverKey!;
    const smKey = serverKey.sm2!;
    sessionKey = spec.sessionKey ? Buffer.from(spec.sessionKey) : generateSmSessionKey();
    if (sessionKey.length !== SM_SESSION_KEY_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', `session key must be ${SM_SESSION_KEY_BYTES} bytes in the SM suite`);
    const iv = spec.iv ? Buffer.from(spec.iv) : generateIv();
    if (iv.length !== IV_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'iv must be 12 bytes');
    const wrapped = spec.wrappedKey ? Buffer.from(spec.wrappedKey) : wrapSmSessionKey(smKey.primitives, smKey.publicKeyHex, sessionKey);
    const meta = { ...(spec.contentType ? { contentType: spec.contentType } : {}), ...(spec.identity ? { identity: spec.identity } : {}) };
    const aad = smRequestAad({ method: spec.method, path, rawQuery, timestamp, nonce, keyId: spec.keyId, serverKeyId: serverKey.id });
    body = sm4GcmSeal(smKey.primitives, sessionKey, iv, aad, encodePayloadParts(meta, plainBody));
    setSealedFields(fields, headers, serverKey.id, wrapped, iv);
  } else if (spec.mode === 'sealed') {
    const serverKey = spec.serverKey!;
    sessionKey = spec.sessionKey ? Buffer.from(spec.sessionKey) : generateSessionKey();
    if (sessionKey.length !== SESSION_KEY_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'session key must be 32 bytes');
    const iv = spec.iv ? Buffer.from(spec.iv) : generateIv();
    if (iv.length !== IV_BYTES) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'iv must be 12 bytes');
    const wrapped = spec.wrappedKey ? Buffer.from(spec.wrappedKey) : wrapSessionKey(serverKey.publicKey!, sessionKey);
    const meta = { ...(spec.contentType ? { contentType: spec.contentType } : {}), ...(spec.identity ? { identity: spec.identity } : {}) };
    const aad = requestAad({ method: spec.method, path, rawQuery, timestamp, nonce, keyId: spec.keyId, serverKeyId: serverKey.id });
    body = aesGcmEncrypt(sessionKey, iv, aad, encodePayloadParts(meta, plainBody));
    setSealedFields(fields, headers, serverKey.id, wrapped, iv);
  } else {
    body = plainBody;
    fields.contentType = trimContentType(spec.contentType);
    if (fields.contentType) headers[HEADERS.contentType] = fields.contentType;
    if (spec.identity) {
      fields.identity = encodeIdentityHeader(spec.identity);
      headers[HEADERS.identity] = fields.identity;
    }
  }
  if (spec.traceparent) headers[HEADERS.traceparent] = spec.traceparent;
  let canonical: string;
  if (sm) {
    fields.bodySha256 = sm3Hex(sm, body);
    canonical = smCanonicalRequestString(fields);
    headers[HEADERS.signature] = smSignCanonical(sm, spec.secret, canonical);
  } else {
    fields.bodySha256 = sha256Hex(body);
    canonical = canonicalRequestString(fields);
    headers[HEADERS.signature] = signCanonical(spec.secret, canonical);
  }

  const context: RequestContext = { mode: spec.mode, keyId: spec.keyId, nonce, secret: spec.secret };
  if (sessionKey) context.sessionKey = sessionKey;
  if (sm) context.sm = sm;
  return { headers, body, canonical, context };
}
