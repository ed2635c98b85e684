/** One (key id, nonce) pair to record (SPEC.md section 8). */
export interface NonceRecord {
  keyId: string;
  nonce: string;
  /**
   * Unix seconds until which the pair must be remembered: the request timestamp plus the window.
   * After that the timestamp check refuses the request anyway.
   */
  expiresAt: number;
  /** The verifier's clock, Unix seconds. */
  now: number;
  /**
   * The request's own timestamp (`Wxseal-Timestamp`), Unix seconds. A store that detects it lost
   * its records refuses requests signed before the loss with it (SPEC.md 8.1).
   */
  timestamp: number;
}

/**
 * Atomic check-and-set of (key id, nonce). Called only after the signature verified.
 *
 * Resolves true when the pair was not known and is now recorded, false when it was already
 * recorded (a replay). Throws WxsealError WXSEAL_NONCE_STORE_FULL when it refuses to record more,
 * WXSEAL_NONCE_STORE_RESET when it lost its records after the request was signed (SPEC.md 8.1),
 * and anything else when it cannot answer, which the verifier turns into
 * WXSEAL_NONCE_STORE_UNAVAILABLE: a nonce store never lets a request through unchecked.
 */
export interface NonceStore {
  checkAndSet(record: NonceRecord): Promise<boolean>;
}
