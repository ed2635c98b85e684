import { createHash } from 'node:crypto';
import { WxsealError } from './errors.js';

const B64U = /^[A-Za-z0-9_-]*$/;

export function b64uEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Strict base64url decoding (SPEC.md section 1): no padding, only the url-safe alphabet, and the
 * value must be the canonical encoding of its bytes, so two different strings never decode to the
 * same bytes. Returns undefined when the value is not canonical base64url.
 */
export function b64uDecodeStrict(value: string): Buffer | undefined {
  if (!B64U.test(value) || value.length % 4 === 1) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

/** Like b64uDecodeStrict, but throws WXSEAL_MALFORMED_HEADER naming the header. */
export function decodeHeaderBytes(header: string, value: string, expectedLength?: number): Buffer {
  const bytes = b64uDecodeStrict(value);
  if (!bytes) throw new WxsealError('WXSEAL_MALFORMED_HEADER', `${header} is not canonical base64url`);
  if (expectedLength !== undefined && bytes.length !== expectedLength) {
    throw new WxsealError('WXSEAL_MALFORMED_HEADER', `${header} must decode to ${expectedLength} bytes`);
  }
  return bytes;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// Fatal decoding: invalid UTF-8 is an error, not silently replaced by U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, throwing a TypeError on invalid bytes. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

// A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one.
// Regular expressions, not String.prototype.toWellFormed (Node 20+): this package runs on Node 16.13.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The string with every lone surrogate replaced by U+FFFD, as UTF-8 encoding reads it (SPEC.md
 * section 7). JSON's `\ud800` escape yields such strings; code that needs well-formed text
 * (encodeURIComponent, TextEncoder round trips, other languages) would otherwise throw or differ.
 */
export function toWellFormed(value: string): string {
  return LONE_SURROGATE.test(value) ? value.replace(LONE_SURROGATES, '\ufffd') : value;
}
