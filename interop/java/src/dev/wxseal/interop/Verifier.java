package dev.wxseal.interop;

import dev.wxseal.CredentialStore;
import dev.wxseal.MemoryNonceStore;
import dev.wxseal.WxsealException;
import dev.wxseal.WxsealRequest;
import dev.wxseal.test.VectorTests;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The harness's verifier: SPEC.md section 9 is the library's {@link dev.wxseal.Verifier} (steps 1 to
 * 8, in order); this class only holds the configuration the checks change case by case (credentials,
 * server keys, modes, window, body limit, nonce store) and the one thing the harness adds, device
 * serials (SPEC 15.2): a key id that is not a client credential is looked up in a device store, its
 * valid device keys are handed to the library as the credential's secrets labelled by their version,
 * the version of the key that verified is reported ({@link Result#deviceKeyVersion}), and the store is
 * told of every accepted device request (15.8).
 */
public final class Verifier {

    // ------------------------------------------------------------------ configuration

    public static final class Secret {
        public final byte[] bytes;
        public final Long notBefore, notAfter; // Unix seconds, inclusive; null = unbounded
        public Secret(byte[] bytes, Long notBefore, Long notAfter) { this.bytes = bytes; this.notBefore = notBefore; this.notAfter = notAfter; }
        boolean validAt(long now) { return (notBefore == null || now >= notBefore) && (notAfter == null || now <= notAfter); }
    }

    public static final class Credential {
        public final List<Secret> secrets = new ArrayList<>(); // at most 4 (section 11)
        public boolean revoked;
    }

    /** The library's in-memory nonce store, with the check-and-set answer as an error code (null: claimed). */
    public static final class NonceStore implements dev.wxseal.NonceStore {
        private final MemoryNonceStore store;
        public NonceStore(int capacity) { this.store = new MemoryNonceStore(capacity); }

        @Override
        public Claim claim(String keyId, String nonce, long timestamp, long expiresAt, long now) {
            return store.claim(keyId, nonce, timestamp, expiresAt, now);
        }

        /** Atomic check-and-set. Returns null on success, or an error code. */
        synchronized String checkAndSet(String keyId, String nonce, long expiresAt, long now) {
            switch (store.claim(keyId, nonce, now, expiresAt, now)) {
                case CLAIMED: return null;
                case REPLAYED: return WxsealException.REPLAYED_NONCE;
                case FULL: return WxsealException.NONCE_STORE_FULL;
                default: return WxsealException.NONCE_STORE_RESET;
            }
        }
    }

    /**
     * SPEC 15.2: device serials are key ids whose secrets are the serial's valid device keys. The
     * verifier asks for them at step 4 (only for a key id that is not a client credential) and reports
     * every accepted request, so that a pending serial becomes active (15.8).
     */
    public interface DeviceKeys {
        /** null: no serial has this key id; otherwise version -> key of the valid keys now (empty: none). */
        java.util.SortedMap<Long, byte[]> validKeys(String keyId, long now) throws StoreUnavailable;
        /** A request signed with this version passed every step of section 9. */
        void verified(String keyId, long version, long now);
    }

    /** The credential (or device) store cannot be reached: WXSEAL_KEY_STORE_UNAVAILABLE. */
    public static final class StoreUnavailable extends Exception {
        private static final long serialVersionUID = 1L;
        public StoreUnavailable(String m) { super(m); }
    }

    public final Map<String, Credential> credentials = new HashMap<>();
    public DeviceKeys devices; // null: no devices
    public final Map<String, PrivateKey> serverKeys = new LinkedHashMap<>();
    public Set<String> allowedModes = Set.of("sealed", "signed");
    public int windowSeconds = 60;
    public long bodyLimit = 1024 * 1024;
    public NonceStore nonces = new NonceStore(1_000_000);

    // ------------------------------------------------------------------ request and result

    public static final class Request {
        public String method, target;
        /** Lower-case header name -> every value received (a repeated header has several). */
        public final Map<String, List<String>> headers = new LinkedHashMap<>();
        public byte[] body = new byte[0];
        public Request header(String name, String value) {
            headers.computeIfAbsent(name.toLowerCase(java.util.Locale.ROOT), k -> new ArrayList<>()).add(value);
            return this;
        }
    }

    /** The library's answer (the accepted request, or the rejection), and the device key version. */
    public static final class Result extends VectorTests.Result {
        public Long deviceKeyVersion;             // 15.2: the version of the device key that matched
    }

    /** True for the codes of SPEC 10, the only values of Wxseal-Error a client treats as a rejection (6.4). */
    public static boolean isWireCode(String code) { return WxsealException.isWireCode(code); }

    public static int statusOf(String code) { return WxsealException.statusOf(code); }

    static boolean isDigits(String s, int min, int max) {
        if (s.length() < min || s.length() > max) return false;
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) < '0' || s.charAt(k) > '9') return false;
        return true;
    }

    // ------------------------------------------------------------------ verification (the library's)

    /** Client credentials first, then device serials (their keys labelled by version). */
    private CredentialStore store(long now) {
        return keyId -> {
            Credential c = credentials.get(keyId);
            if (c != null) {
                List<CredentialStore.Secret> s = new ArrayList<>();
                for (Secret x : c.secrets) s.add(new CredentialStore.Secret(x.bytes, x.notBefore, x.notAfter));
                return new CredentialStore.Credential(s, c.revoked);
            }
            if (devices == null) return null;
            java.util.SortedMap<Long, byte[]> dk;
            try { dk = devices.validKeys(keyId, now); }
            catch (StoreUnavailable e) { throw new CredentialStore.UnavailableException(e.getMessage(), e); }
            if (dk == null) return null;
            List<CredentialStore.Secret> s = new ArrayList<>();
            for (Map.Entry<Long, byte[]> e : dk.entrySet())
                s.add(new CredentialStore.Secret(e.getValue(), null, null, Long.toString(e.getKey())));
            return new CredentialStore.Credential(s, false);
        };
    }

    public Result verify(Request req, long now) {
        dev.wxseal.Verifier.Builder b = dev.wxseal.Verifier.builder()
            .credentials(store(now))
            .allowedModes(allowedModes.toArray(new String[0]))
            .windowSeconds(windowSeconds)
            .maxBodyBytes(bodyLimit)
            .nonceStore(nonces)
            .clock(() -> now);
        serverKeys.forEach(b::serverKey);
        WxsealRequest r = new WxsealRequest(req.method, req.target).body(req.body);
        req.headers.forEach((name, values) -> { for (String v : values) r.header(name, v); });
        Result res = new Result();
        res.answer(b.build(), r, now);
        if (res.accepted() && res.ok.secretId() != null && !credentials.containsKey(res.keyId)) {
            res.deviceKeyVersion = Long.parseLong(res.ok.secretId());
            devices.verified(res.keyId, res.deviceKeyVersion, now); // a serial's first verified request (15.8)
        }
        return res;
    }
}
