import { LIMITS } from './constants.js';
import { decodeUtf8Strict } from './encoding.js';
import { WxsealError } from './errors.js';
import { validateIdentity, type WechatIdentity } from './identity.js';

/** The meta JSON that precedes the body inside a sealed plaintext (SPEC.md 6.1). */
export interface PayloadMeta {
  contentType?: string;
  identity?: WechatIdentity;
}

const LF = 0x0a;

/** UTF-8(meta JSON) || LF || body. */
export function encodePayload(meta: PayloadMeta, body: Uint8Array): Buffer {
  const clean: PayloadMeta = {};
  if (meta.contentType !== undefined && meta.contentType !== '') clean.contentType = meta.contentType;
  if (meta.identity !== undefined) clean.identity = validateIdentity(meta.identity, 'WXSEAL_CONFIG_INVALID');
  const head = Buffer.from(JSON.stringify(clean), 'utf8');
  if (head.length > LIMITS.maxMetaBytes) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `payload meta exceeds ${LIMITS.maxMetaBytes} bytes`);
  }
  return Buffer.concat([head, Buffer.of(LF), body]);
}

/** Splits a plaintext at its first LF and validates the meta; failures are `code`. */
export function decodePayload(
  plaintext: Buffer,
  code: 'WXSEAL_MALFORMED_PAYLOAD' | 'WXSEAL_RESPONSE_INVALID' = 'WXSEAL_MALFORMED_PAYLOAD',
): { meta: PayloadMeta; body: Buffer } {
  const lf = plaintext.indexOf(LF);
  if (lf === -1 || lf > LIMITS.maxMetaBytes) throw new WxsealError(code, 'payload has no meta line within its size limit');
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8Strict(plaintext.subarray(0, lf)));
  } catch {
    throw new WxsealError(code, 'payload meta is not UTF-8 JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WxsealError(code, 'payload meta must be a JSON object');
  }
  const raw = parsed as Record<string, unknown>;
  const meta: PayloadMeta = {};
  if (raw.contentType !== undefined) {
    if (typeof raw.contentType !== 'string') throw new WxsealError(code, 'payload meta contentType must be a string');
    meta.contentType = raw.contentType;
  }
  if (raw.identity !== undefined && raw.identity !== null) meta.identity = validateIdentity(raw.identity, code);
  return { meta, body: plaintext.subarray(lf + 1) };
}
