/** Stable codes of the 国密 primitives' errors. */
export const GM_ERRORS = {
  GM_KEY_INVALID: 'An SM2 key or an SM4 key is not of the expected form (SM2: 32-byte private scalar, uncompressed 65-byte public point on the SM2 curve; SM4: 16 bytes).',
  GM_DECRYPT_FAILED: 'SM4-GCM authentication failed or SM2 decryption failed: the data was altered or the key is wrong.',
  GM_INPUT_INVALID: 'An input of an SM primitive has the wrong length or form (IV, tag, ciphertext, signature).',
} as const;
export type GmErrorCode = keyof typeof GM_ERRORS;

export class GmError extends Error {
  override readonly name = 'GmError';
  constructor(
    readonly code: GmErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
