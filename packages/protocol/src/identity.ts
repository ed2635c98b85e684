import { LIMITS } from './constants.js';
import { b64uDecodeStrict, b64uEncode, toWellFormed } from './encoding.js';
import { WxsealError, type WxsealErrorCode } from './errors.js';
import { parseJsonObject } from './json.js';

/** The WeChat identity a client asserts (SPEC.md section 7). */
export interface WechatIdentity {
  openid?: string;
  appid?: string;
  unionid?: string;
  env?: string;
  source?: string;
}

export const IDENTITY_FIELDS = ['openid', 'appid', 'unionid', 'env', 'source'] as const;

/**
 * Validates an identity object and returns a copy with only the known members, each a well-formed
 * string: a lone surrogate (JSON `\ud800`) counts as U+FFFD (SPEC.md section 7) and is replaced by
 * it, so whatever receives the identity (a percent-encoder, another language) gets Unicode text.
 * `code` is the error raised on bad input (it differs between the wire and local configuration).
 */
export function validateIdentity(value: unknown, code: WxsealErrorCode = 'WXSEAL_MALFORMED_PAYLOAD'): WechatIdentity {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WxsealError(code, 'identity must be a JSON object');
  }
  const out: WechatIdentity = {};
  for (const field of IDENTITY_FIELDS) {
    const v = (value as Record<string, unknown>)[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new WxsealError(code, `identity.${field} must be a string`);
    const text = toWellFormed(v);
    if (Buffer.byteLength(text, 'utf8') > LIMITS.maxIdentityFieldBytes) {
      throw new WxsealError(code, `identity.${field} must be a string of at most ${LIMITS.maxIdentityFieldBytes} UTF-8 bytes`);
    }
    out[field] = text;
  }
  return out;
}

/** Sign-only mode: Wxseal-Identity = b64u(UTF-8(JSON)). */
export function encodeIdentityHeader(identity: WechatIdentity): string {
  const value = b64uEncode(Buffer.from(JSON.stringify(validateIdentity(identity, 'WXSEAL_CONFIG_INVALID')), 'utf8'));
  if (value.length > LIMITS.maxIdentityHeaderChars) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', 'identity is too large for the Wxseal-Identity header');
  }
  return value;
}

const malformedHeader = (message: string): never => {
  throw new WxsealError('WXSEAL_MALFORMED_HEADER', message);
};

/** Step 8 (sign-only): strict b64u, then the JSON rule of SPEC.md 6.1/7, then the member rules. */
export function decodeIdentityHeader(value: string): WechatIdentity {
  const bytes = b64uDecodeStrict(value);
  if (!bytes) throw new WxsealError('WXSEAL_MALFORMED_HEADER', 'Wxseal-Identity is not canonical base64url');
  return validateIdentity(parseJsonObject(bytes, 'Wxseal-Identity', malformedHeader), 'WXSEAL_MALFORMED_HEADER');
}
