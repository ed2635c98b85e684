import { timingSafeEqual } from 'node:crypto';
import { canonicalResponseString, responseAad, trimContentType } from './canonical.js';
import { HEADERS, LABELS, RESPONSE_NONCE_BYTES, SEALED_CONTENT_TYPE, SIGNATURE_BYTES } from './constants.js';
import { b64uDecodeStrict, b64uEncode, sha256Hex } from './encoding.js';
import { aesGcmDecrypt, aesGcmEncrypt, deriveResponseKey, generateResponseNonce } from './envelope.js';
import { WIRE_ERROR_STATUS, WxsealError, isWireErrorCode, type WireErrorCode } from './errors.js';
import { hmacSha256, signCanonical } from './hmac.js';
import { decodePayload, encodePayloadParts } from './payload.js';
import type { HeaderGetter } from './verify.js';
import { deriveSmResponseKey, sm4GcmOpen, sm4GcmSeal, smCanonicalRejectionString, smResponseAad, type SmPrimitives } from './sm.js';

/** What the server knows about the request it answers. */
export interface ServerResponseContext {
  keyId: string;
  nonce: string;
  /** Sealed mode: the unwrapped session key. */
  sessionKey?: Uint8Array;
  /** Sign-only mode: the secret that verified the request. */
  secret?: Uint8Array;
  /** Sealed under the SM suite (SPEC.md 6.6): its primitives; the response is sealed with SM4-GCM. */
  sm?: SmPrimitives;
}

export interface PlainResponse {
  status: number;
  contentType?: string;
  body: Uint8Array;
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Statuses whose responses cannot carry content are answered as 200 (SPEC.md 6.3). */
export function sealableStatus(status: number): number {
  return status < 200 || status === 204 || status === 304 ? 200 : status;
}

/** SPEC.md 6.3. `responseNonce` is fixed only by vectors and tests. */
export function sealResponse(ctx: ServerResponseContext, res: PlainResponse, responseNonce?: Uint8Array): WireResponse {
  if (!ctx.sessionKey) throw new TypeError('sealResponse needs the session key');
  const status = sealableStatus(res.status);
  const nonce = responseNonce ? Buffer.from(responseNonce) : generateResponseNonce();
  if (ctx.sm) {
    const { key, iv } = deriveSmResponseKey(ctx.sm, ctx.sessionKey, nonce);
    const aad = smResponseAad({ keyId: ctx.keyId, requestNonce: ctx.nonce, status });
    const meta = res.contentType ? { contentType: res.contentType } : {};
    const body = sm4GcmSeal(ctx.sm, key, iv, aad, encodePayloadParts(meta, res.body));
    return { status, headers: { [HEADERS.contentType]: SEALED_CONTENT_TYPE, [HEADERS.responseNonce]: b64uEncode(nonce) }, body };
  }
  const { key, iv } = deriveResponseKey(ctx.sessionKey, nonce);
  const aad = responseAad({ keyId: ctx.keyId, requestNonce: ctx.nonce, status });
  const meta = res.contentType ? { contentType: res.contentType } : {};
  const body = aesGcmEncrypt(key, iv, aad, encodePayloadParts(meta, res.body));
  return {
    status,
    headers: { [HEADERS.contentType]: SEALED_CONTENT_TYPE, [HEADERS.responseNonce]: b64uEncode(nonce) },
    body,
  };
}

/** SPEC.md section 12: the HMAC of a sign-only response. */
export function signResponse(ctx: ServerResponseContext, res: PlainResponse): WireResponse {
  if (!ctx.secret) throw new TypeError('signResponse needs the verifying secret');
  const body = Buffer.from(res.body);
  const canonical = canonicalResponseString({
    keyId: ctx.keyId,
    requestNonce: ctx.nonce,
    status: res.status,
    contentType: res.contentType ?? '',
    bodySha256: sha256Hex(body),
  });
  const headers: Record<string, string> = { [HEADERS.signature]: signCanonical(ctx.secret, canonical) };
  if (res.contentType) headers[HEADERS.contentType] = res.contentType;
  return { status: res.status, headers, body };
}

/** A verifier rejection as read by a client (SPEC.md section 10). */
export interface Rejection {
  code: WireErrorCode;
  status: number;
  message: string;
  /** Wxseal-Server-Time, when present and well-formed. */
  serverTime: number | undefined;
  /** Raw Wxseal-Server-Time text (what a rejection signature covers). */
  serverTimeText: string | undefined;
  /** Wxseal-Signature of a signed rejection (SPEC.md 10.1), when present. */
  signature: string | undefined;
}

/** Codes a server signs because they arise after the request's signature verified (SPEC.md 10.1). */
export const SIGNED_REJECTION_CODES: ReadonlySet<WireErrorCode> = new Set<WireErrorCode>([
  'WXSEAL_REPLAYED_NONCE',
  'WXSEAL_NONCE_STORE_FULL',
  'WXSEAL_NONCE_STORE_UNAVAILABLE',
  'WXSEAL_NONCE_STORE_RESET',
  'WXSEAL_UNWRAP_FAILED',
  'WXSEAL_DECRYPT_FAILED',
  'WXSEAL_MALFORMED_PAYLOAD',
]);

/** SPEC.md 10.1: the string a signed rejection's HMAC covers. */
export function canonicalRejectionString(r: { keyId: string; requestNonce: string; status: number; code: string; serverTime: string }): string {
  return [LABELS.rejection, r.keyId, r.requestNonce, String(r.status), r.code, r.serverTime].join('\n');
}

/** Server side: adds Wxseal-Signature to a rejection raised after the request's HMAC verified. */
export function signRejection(res: WireResponse, ctx: { keyId: string; nonce: string; secret: Uint8Array; sm?: SmPrimitives | undefined }): WireResponse {
  const code = res.headers[HEADERS.error];
  const serverTime = res.headers[HEADERS.serverTime];
  if (code === undefined || serverTime === undefined) throw new TypeError('signRejection needs a rejection response');
  const r = { keyId: ctx.keyId, requestNonce: ctx.nonce, status: res.status, code, serverTime };
  // Under the SM suite (SPEC.md 6.6) a signed rejection is HMAC-SM3 over its own first line.
  const signature = ctx.sm ? b64uEncode(ctx.sm.hmacSm3(ctx.secret, Buffer.from(smCanonicalRejectionString(r), 'utf8'))) : signCanonical(ctx.secret, canonicalRejectionString(r));
  return { ...res, headers: { ...res.headers, [HEADERS.signature]: signature } };
}

/** Client side: true only when the rejection carries a valid signature for this very request. */
export function isAuthenticRejection(rejection: Rejection, ctx: { keyId: string; nonce: string; secret: Uint8Array; sm?: SmPrimitives | undefined }): boolean {
  if (rejection.signature === undefined || rejection.serverTimeText === undefined) return false;
  const signature = b64uDecodeStrict(rejection.signature);
  if (!signature || signature.length !== SIGNATURE_BYTES) return false;
  const r = { keyId: ctx.keyId, requestNonce: ctx.nonce, status: rejection.status, code: rejection.code, serverTime: rejection.serverTimeText };
  const expected = ctx.sm ? ctx.sm.hmacSm3(ctx.secret, Buffer.from(smCanonicalRejectionString(r), 'utf8')) : hmacSha256(ctx.secret, canonicalRejectionString(r));
  if (expected.length !== signature.length) return false;
  return timingSafeEqual(expected, signature);
}

function one(header: HeaderGetter, name: string): string | undefined {
  const v = header(name);
  return Array.isArray(v) ? v[0] : v;
}

/** Recognises a verifier rejection: a Wxseal-Error header naming a wire code, with that code's status. */
export function parseRejection(status: number, header: HeaderGetter, body: Uint8Array): Rejection | undefined {
  const codeText = one(header, HEADERS.error);
  if (codeText === undefined || !isWireErrorCode(codeText)) return undefined;
  const code: WireErrorCode = codeText;
  if (WIRE_ERROR_STATUS[code] !== status) return undefined;
  const timeText = one(header, HEADERS.serverTime);
  const serverTime = timeText !== undefined && /^[0-9]{1,12}$/.test(timeText) ? Number(timeText) : undefined;
  let message: string = code;
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message.slice(0, 500);
  } catch {
    // The message is for humans only; the code is what counts.
  }
  return { code, status, message, serverTime, serverTimeText: timeText, signature: one(header, HEADERS.signature) };
}

/** The JSON body and headers of a verifier rejection (SPEC.md section 10). */
export function rejectionResponse(code: WireErrorCode, message: string, nowSeconds: number): WireResponse {
  return {
    status: WIRE_ERROR_STATUS[code],
    headers: {
      [HEADERS.contentType]: 'application/json',
      [HEADERS.error]: code,
      [HEADERS.serverTime]: String(nowSeconds),
    },
    body: Buffer.from(JSON.stringify({ error: { code, message } }), 'utf8'),
  };
}

export interface OpenedResponse {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/**
 * Client side: authenticate and open a response to the request `ctx` describes (SPEC.md 6.4 and
 * section 12). Throws WXSEAL_RESPONSE_INVALID when the response does not prove the server.
 */
export function openResponse(
  ctx: { mode: 'sealed' | 'signed'; keyId: string; nonce: string; secret: Uint8Array; sessionKey?: Uint8Array; sm?: SmPrimitives | undefined },
  res: { status: number; header: HeaderGetter; body: Uint8Array },
): OpenedResponse {
  const invalid = (message: string): never => {
    throw new WxsealError('WXSEAL_RESPONSE_INVALID', message, { status: res.status });
  };
  const contentType = trimContentType(one(res.header, HEADERS.contentType));
  if (ctx.mode === 'sealed') {
    if (!ctx.sessionKey) return invalid('no session key for a sealed response');
    if (contentType !== SEALED_CONTENT_TYPE) return invalid('response is not sealed');
    const nonceText = one(res.header, HEADERS.responseNonce) ?? invalid('response has no Wxseal-Response-Nonce');
    const nonce = b64uDecodeStrict(nonceText);
    if (!nonce || nonce.length !== RESPONSE_NONCE_BYTES) return invalid('Wxseal-Response-Nonce is malformed');
    if (ctx.sm) {
      const { key, iv } = deriveSmResponseKey(ctx.sm, ctx.sessionKey, nonce);
      const aad = smResponseAad({ keyId: ctx.keyId, requestNonce: ctx.nonce, status: res.status });
      try {
        const { meta, body } = decodePayload(sm4GcmOpen(ctx.sm, key, iv, aad, res.body, 'WXSEAL_RESPONSE_INVALID'), 'WXSEAL_RESPONSE_INVALID');
        return { status: res.status, contentType: meta.contentType, body };
      } catch (err) {
        return invalid(err instanceof Error ? err.message : 'sealed response does not open');
      }
    }
    const { key, iv } = deriveResponseKey(ctx.sessionKey, nonce);
    const aad = responseAad({ keyId: ctx.keyId, requestNonce: ctx.nonce, status: res.status });
    try {
      const { meta, body } = decodePayload(aesGcmDecrypt(key, iv, aad, res.body, 'WXSEAL_RESPONSE_INVALID'), 'WXSEAL_RESPONSE_INVALID');
      return { status: res.status, contentType: meta.contentType, body };
    } catch (err) {
      return invalid(err instanceof Error ? err.message : 'sealed response does not open');
    }
  }
  const signatureText = one(res.header, HEADERS.signature) ?? invalid('response has no Wxseal-Signature');
  const signature = b64uDecodeStrict(signatureText);
  if (!signature || signature.length !== SIGNATURE_BYTES) return invalid('response Wxseal-Signature is malformed');
  const expected = hmacSha256(
    ctx.secret,
    canonicalResponseString({
      keyId: ctx.keyId,
      requestNonce: ctx.nonce,
      status: res.status,
      contentType,
      bodySha256: sha256Hex(res.body),
    }),
  );
  if (!timingSafeEqual(expected, signature)) invalid('response signature does not match');
  return { status: res.status, contentType: contentType || undefined, body: Buffer.from(res.body) };
}
