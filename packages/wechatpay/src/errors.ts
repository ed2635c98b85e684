// Typed errors of the WeChat Pay API v3 core. Codes are stable: callers branch on `code`,
// never on the message text.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';

/**
 * The codes of the WeChat Pay core (signatures, AEAD, certificates, notifications). The HTTP client
 * (client/errors.ts) and the certificate lifecycle (lifecycle/errors.ts) declare theirs beside
 * their classes.
 */
export const WECHATPAY_ERRORS = {
  WECHATPAY_BAD_ARGUMENT: {
    meaning: 'A caller-supplied argument is missing, of the wrong type or out of range (the message names it).',
    action: 'Fix the argument the message names.',
  },
  WECHATPAY_MISSING_HEADER: {
    meaning: 'A required Wechatpay-* header is absent, empty or repeated.',
    action: 'Hand the handler the request\'s headers as received; check for a proxy that strips them.',
  },
  WECHATPAY_MALFORMED: {
    meaning: 'A header, Authorization value, body, JSON document or base64 field is malformed.',
    action: 'Check that the raw body and headers reach the verifier unchanged (no JSON re-serialisation by a framework).',
  },
  WECHATPAY_UNSUPPORTED_ALGORITHM: {
    meaning: 'Wechatpay-Signature-Type, the Authorization scheme or resource.algorithm names an algorithm this core does not implement, or one that does not match the key (an SM2 key verifies WECHATPAY2-SM2-WITH-SM3 with AEAD_SM4_GCM resources, an RSA key WECHATPAY2-SHA256-RSA2048 with AEAD_AES_256_GCM).',
    action: 'Use WECHATPAY2-SHA256-RSA2048 / AEAD_AES_256_GCM, or for 国密 merchants WECHATPAY2-SM2-WITH-SM3 / AEAD_SM4_GCM with SM platform certificates (algorithm_type=SM2); never mix the two.',
  },
  WECHATPAY_PROBE_SIGNATURE: {
    meaning: 'The signature starts with WECHATPAY/SIGNTEST/: a probe WeChat Pay sends to see that signatures are checked.',
    action: 'Nothing: refusing it is the right answer.',
  },
  WECHATPAY_TIMESTAMP_EXPIRED: {
    meaning: 'The timestamp is outside the accepted window around the clock.',
    action: 'Synchronise the server clock (NTP).',
  },
  WECHATPAY_UNKNOWN_SERIAL: {
    meaning: 'No key is held for the serial or public key id of the signature.',
    action: 'Refresh the platform certificates once and retry (the client and the notification handler do); for a public key id, configure the WeChat Pay public key.',
  },
  WECHATPAY_CERTIFICATE_EXPIRED: {
    meaning: 'The key for the serial is held, but its certificate is not valid at the signature\'s time.',
    action: 'Download the current platform certificates (wxseal pay certs download).',
  },
  WECHATPAY_BAD_SIGNATURE: {
    meaning: 'The signature does not verify.',
    action: 'Treat the message as forged; check that the raw body reached the verifier unchanged.',
  },
  WECHATPAY_DECRYPT_FAILED: {
    meaning: 'AEAD_AES_256_GCM, AEAD_SM4_GCM or RSA-OAEP decryption failed (wrong key, nonce, associated data, or tampered ciphertext).',
    action: 'Check the merchant\'s APIv3 key (or private key); a tampered resource is refused.',
  },
  WECHATPAY_SERIAL_MISMATCH: {
    meaning: 'A decrypted platform certificate does not carry the serial number its list item announced.',
    action: 'Refuse the certificate list and report it: the answer was tampered with.',
  },
} as const satisfies ErrorCatalogue;

/** Stable codes of every error the core raises. */
export type WechatPayErrorCode = keyof typeof WECHATPAY_ERRORS;

export class WechatPayError extends CodedError<WechatPayErrorCode> {
  override readonly name: string = 'WechatPayError';
}

/** True when `err` is a WechatPayError (optionally with the given code). */
export function isWechatPayError(err: unknown, code?: WechatPayErrorCode): err is WechatPayError {
  return err instanceof WechatPayError && (code === undefined || err.code === code);
}

/** @internal */
export function fail(code: WechatPayErrorCode, message: string, cause?: unknown): never {
  throw new WechatPayError(code, message, cause === undefined ? undefined : { cause });
}
