// The GM_ codes of the 国密 primitives. Messages say what was wrong with an input, never a key or a
// plaintext.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';

/** Stable codes of the 国密 primitives' errors. */
export const GM_ERRORS = {
  GM_KEY_INVALID: {
    meaning:
      'An SM2 key or an SM4 key is not of the expected form: an SM2 private key is a 32-byte scalar in [1, n-2], a public key an uncompressed point 04‖x‖y on the SM2 curve, an SM4 key 16 bytes; a PEM or DER key (PKCS#8, SEC1, SubjectPublicKeyInfo) or a certificate that does not hold an SM2 key (id-ecPublicKey with the curve 1.2.156.10197.1.301).',
    action: 'Check which key was configured (an RSA or P-256 key in place of an SM2 one is the usual mistake); an encrypted PKCS#8 file must be decrypted first (openssl pkey -in key.pem -out plain.pem).',
  },
  GM_DECRYPT_FAILED: {
    meaning: 'SM4-GCM authentication failed or SM2 decryption failed: the data was altered, or the key (or the associated data) is not the one it was sealed with.',
    action: 'Do not use the data. Check that both sides use the same key and associated data; a key rotated on one side only gives this on every message.',
  },
  GM_INPUT_INVALID: {
    meaning: 'An input of an SM primitive has the wrong length or form (IV, tag, SM2 ciphertext in C1‖C3‖C2 or ASN.1 form, signature).',
    action: 'Check the encoding of the value the message names (hex or base64 decoded to bytes, C1 uncompressed, C1‖C3‖C2 order, DER as GM/T 0009 defines it).',
  },
} as const satisfies ErrorCatalogue;

export type GmErrorCode = keyof typeof GM_ERRORS;

export class GmError extends CodedError<GmErrorCode> {
  override readonly name = 'GmError';
}

export function isGmError(err: unknown, code?: GmErrorCode): err is GmError {
  return err instanceof GmError && (code === undefined || err.code === code);
}
