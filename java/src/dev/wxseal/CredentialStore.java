package dev.wxseal;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Where the verifier finds a key id's client secrets (SPEC 2, 11), at step 4 of SPEC 9. */
public interface CredentialStore {

    /**
     * The credential of a key id, or null when no credential has it ({@code WXSEAL_UNKNOWN_KEY_ID}).
     *
     * @throws UnavailableException the store cannot be reached: {@code WXSEAL_KEY_STORE_UNAVAILABLE}
     */
    Credential lookup(String keyId) throws UnavailableException;

    /** A client credential: up to 4 secrets valid at once (SPEC 11), or revoked. */
    final class Credential {
        private final List<Secret> secrets;
        private final boolean revoked;

        public Credential(List<Secret> secrets, boolean revoked) {
            if (secrets.size() > 4) throw new IllegalArgumentException("at most 4 secrets per key id (SPEC 11)");
            this.secrets = Collections.unmodifiableList(new ArrayList<>(secrets));
            this.revoked = revoked;
        }

        public List<Secret> secrets() { return secrets; }
        public boolean revoked() { return revoked; }
    }

    /**
     * One client secret (32-64 raw bytes) with an optional validity period, Unix seconds, both
     * inclusive, and an optional id: a label of the store's own (a rotation version, the version of a
     * device key of SPEC 15.2, ...) that the verifier reports for the secret that verified a request
     * ({@link VerifiedRequest#secretId()}). The id never travels on the wire.
     */
    final class Secret {
        private final byte[] bytes;
        private final Long notBefore, notAfter;
        private final String id;

        public Secret(byte[] bytes) { this(bytes, null, null); }

        public Secret(byte[] bytes, Long notBefore, Long notAfter) { this(bytes, notBefore, notAfter, null); }

        public Secret(byte[] bytes, Long notBefore, Long notAfter, String id) {
            if (bytes.length < 32 || bytes.length > 64) throw new IllegalArgumentException("a client secret is 32-64 bytes (SPEC 2)");
            this.bytes = bytes.clone();
            this.notBefore = notBefore;
            this.notAfter = notAfter;
            this.id = id;
        }

        byte[] bytes() { return bytes; }

        /** The store's label of this secret, or null. */
        public String id() { return id; }

        public boolean validAt(long now) {
            return (notBefore == null || now >= notBefore) && (notAfter == null || now <= notAfter);
        }
    }

    /** The credential store cannot be reached. */
    final class UnavailableException extends Exception {
        private static final long serialVersionUID = 1L;
        public UnavailableException(String message, Throwable cause) { super(message, cause); }
    }
}
