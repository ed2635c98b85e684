package dev.wxseal;

/**
 * The nonce store of SPEC.md section 8: an atomic check-and-set of (key id, nonce), kept at least
 * until the request's timestamp plus the window. The verifier calls it only after the request's
 * signature verified (SPEC 9, step 6), so forged requests can neither fill it nor burn a nonce.
 */
public interface NonceStore {

    /** The outcome of a claim; every one but {@link #CLAIMED} refuses the request. */
    enum Claim {
        /** Newly recorded: the request is fresh. */
        CLAIMED,
        /** Already recorded for this key id: {@code WXSEAL_REPLAYED_NONCE}. */
        REPLAYED,
        /** The store refuses new nonces until old ones expire: {@code WXSEAL_NONCE_STORE_FULL}. */
        FULL,
        /** The store lost its records after the request was signed (SPEC 8.1): {@code WXSEAL_NONCE_STORE_RESET}. */
        RESET
    }

    /**
     * Atomically record (keyId, nonce) unless already recorded.
     *
     * @param timestamp the request's signed timestamp (Unix seconds)
     * @param expiresAt keep the record at least until this Unix second (timestamp + window)
     * @param now       the verifier's clock (Unix seconds)
     * @throws UnavailableException the store cannot be reached: the request is refused with
     *         {@code WXSEAL_NONCE_STORE_UNAVAILABLE}, never accepted unchecked (fail closed)
     */
    Claim claim(String keyId, String nonce, long timestamp, long expiresAt, long now) throws UnavailableException;

    /** The store cannot be reached (SPEC 8: fail closed). */
    final class UnavailableException extends Exception {
        private static final long serialVersionUID = 1L;
        public UnavailableException(String message, Throwable cause) { super(message, cause); }
    }
}
