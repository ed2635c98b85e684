import { LIMITS, TAG_BYTES } from './constants.js';
import { WxsealError } from './errors.js';
import { validateIdentity, type WechatIdentity } from './identity.js';
import { parseJsonObject } from './json.js';

/** The meta JSON that precedes the body inside a sealed plaintext (SPEC.md 6.1). */
export interface PayloadMeta {
  contentType?: string;
  identity?: WechatIdentity;
}

const LF = 0x0a;

/** UTF-8 of the meta JSON as encodePayload writes it (the bytes before the LF). */
export function encodePayloadMeta(meta: PayloadMeta): Buffer {
  const clean: PayloadMeta = {};
  if (meta.contentType !== undefined && meta.contentType !== '') clean.contentType = meta.contentType;
  if (meta.identity !== undefined) clean.identity = validateIdentity(meta.identity, 'WXSEAL_CONFIG_INVALID');
  const head = Buffer.from(JSON.stringify(clean), 'utf8');
  if (head.length > LIMITS.maxMetaBytes) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `payload meta exceeds ${LIMITS.maxMetaBytes} bytes`);
  }
  return head;
}

const LF_BYTES = Buffer.of(LF);

/** UTF-8(meta JSON) || LF || body. */
export function encodePayload(meta: PayloadMeta, body: Uint8Array): Buffer {
  return Buffer.concat(encodePayloadParts(meta, body));
}

/** encodePayload as its three parts, for aesGcmEncrypt: the body is encrypted where it is, not copied first. */
export function encodePayloadParts(meta: PayloadMeta, body: Uint8Array): [Buffer, Buffer, Uint8Array] {
  return [encodePayloadMeta(meta), LF_BYTES, body];
}

/**
 * The size of a sealed request body on the wire (SPEC.md 6.1, 6.2): meta bytes, the LF, the body,
 * the 16-byte GCM tag. The server's body limit (section 9 step 1) applies to this number, so the
 * largest body that fits a limit L is L - 16 - meta bytes - 1.
 */
export function sealedBodyLength(meta: PayloadMeta, bodyLength: number): number {
  return encodePayloadMeta(meta).length + 1 + bodyLength + TAG_BYTES;
}

/** Splits a plaintext at its first LF and validates the meta; failures are `code`. */
export function decodePayload(
  plaintext: Buffer,
  code: 'WXSEAL_MALFORMED_PAYLOAD' | 'WXSEAL_RESPONSE_INVALID' = 'WXSEAL_MALFORMED_PAYLOAD',
): { meta: PayloadMeta; body: Buffer } {
  const fail = (message: string): never => {
    throw new WxsealError(code, message);
  };
  // The LF ends the meta within its first 4097 bytes; a longer search would read the body.
  const lf = plaintext.subarray(0, LIMITS.maxMetaBytes + 1).indexOf(LF);
  if (lf === -1) fail('payload has no meta line within its size limit');
  const raw = parseJsonObject(plaintext.subarray(0, lf), 'payload meta', fail);
  const meta: PayloadMeta = {};
  // null counts as absent, for both members (SPEC.md 6.1).
  if (raw.contentType !== undefined && raw.contentType !== null) {
    if (typeof raw.contentType !== 'string') fail('payload meta contentType must be a string');
    meta.contentType = raw.contentType as string;
  }
  if (raw.identity !== undefined && raw.identity !== null) meta.identity = validateIdentity(raw.identity, code);
  return { meta, body: plaintext.subarray(lf + 1) };
}
