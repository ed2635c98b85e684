// Typed errors of the WeChat Pay API v3 core. Codes are stable: callers branch on `code`,
// never on the message text.

/** Stable codes of every error this package raises. */
export type WechatPayErrorCode =
  /** A caller-supplied argument is missing, of the wrong type or out of range. */
  | 'WECHATPAY_BAD_ARGUMENT'
  /** A required Wechatpay-* header is absent, empty or repeated. */
  | 'WECHATPAY_MISSING_HEADER'
  /** A header, Authorization value, body, JSON document or base64 field is malformed. */
  | 'WECHATPAY_MALFORMED'
  /** Wechatpay-Signature-Type or resource.algorithm names an algorithm this core does not implement. */
  | 'WECHATPAY_UNSUPPORTED_ALGORITHM'
  /** The signature starts with `WECHATPAY/SIGNTEST/`: a probe WeChat Pay sends to see that signatures are checked. */
  | 'WECHATPAY_PROBE_SIGNATURE'
  /** The timestamp is outside the accepted window around the clock. */
  | 'WECHATPAY_TIMESTAMP_EXPIRED'
  /** No key is held for the serial / public key id: refresh the platform certificates once, then retry. */
  | 'WECHATPAY_UNKNOWN_SERIAL'
  /** The key for the serial is held but the certificate is not valid at the given time. */
  | 'WECHATPAY_CERTIFICATE_EXPIRED'
  /** The signature does not verify. */
  | 'WECHATPAY_BAD_SIGNATURE'
  /** AEAD_AES_256_GCM or RSA-OAEP decryption failed (wrong key, nonce, associated data or tampered ciphertext). */
  | 'WECHATPAY_DECRYPT_FAILED'
  /** A decrypted platform certificate does not carry the serial number its list item announced. */
  | 'WECHATPAY_SERIAL_MISMATCH';

export class WechatPayError extends Error {
  readonly code: WechatPayErrorCode;
  constructor(code: WechatPayErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'WechatPayError';
    this.code = code;
  }
}

/** True when `err` is a WechatPayError (optionally with the given code). */
export function isWechatPayError(err: unknown, code?: WechatPayErrorCode): err is WechatPayError {
  return err instanceof WechatPayError && (code === undefined || err.code === code);
}

/** @internal */
export function fail(code: WechatPayErrorCode, message: string, cause?: unknown): never {
  throw new WechatPayError(code, message, cause === undefined ? undefined : { cause });
}
