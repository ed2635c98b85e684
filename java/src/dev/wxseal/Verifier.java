package dev.wxseal;

import java.io.IOException;
import java.io.InputStream;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The server side of wxseal v1: SPEC.md section 9, steps 1-8 in that exact order, stopping at the
 * first failure with a {@link WxsealException} carrying the code and status of SPEC 10.
 *
 * <p>Fail fast: everything before step 5 is string parsing and one map lookup; step 5 is one HMAC
 * per valid secret, compared in constant time ({@link java.security.MessageDigest#isEqual}); the
 * nonce is claimed (step 6) only after the signature verified; the session key is unwrapped (step 7,
 * RSA-OAEP-256, X25519 HPKE or SM2 by the type of the named server key) only for an authentic, fresh
 * request. An SM2 server key selects the SM suite of SPEC 6.6 for the requests naming it (HMAC-SM3,
 * SM3, SM2, SM4-GCM, HKDF-SM3; needs Bouncy Castle, see {@link Sm}). A rejection raised after the signature verified is signed (SPEC 10.1). An optional cache
 * of unwrapped session keys serves clients that reuse them (SPEC 14, {@link Builder#sessionKeyCache}).
 *
 * <pre>
 * Verifier v = Verifier.builder()
 *     .credential("bff-1", secretBytes)
 *     .serverKeyPem("sk-0123456789abcdef", privateKeyPkcs8Pem)   // RSA, X25519 or SM2
 *     .nonceStore(new RedisNonceStore("127.0.0.1", 6379))
 *     .build();
 * VerifiedRequest ok = v.verify(request);        // throws WxsealException
 * WxsealResponse answer = ok.respond(200, "application/json", bytes);
 * </pre>
 *
 * Thread-safe once built.
 */
public final class Verifier {

    public static final String SEALED_CONTENT_TYPE = Protocol.SEALED_CT;

    /** A server key pair's private half, with what the unwrap needs precomputed. */
    private static final class ServerKey {
        final PrivateKey key;
        final boolean x25519, sm2;
        final Protocol.Suite suite;
        final byte[] rawSk, rawPk; // X25519 only
        final int wrappedLength;

        ServerKey(PrivateKey key) {
            this.key = key;
            this.sm2 = key instanceof Sm2PrivateKey;
            this.suite = Protocol.Suite.of(key);
            this.x25519 = !sm2 && Hpke.isX25519(key);
            try {
                this.rawSk = x25519 ? Hpke.rawPrivateKey(key) : null;
                this.rawPk = x25519 ? Hpke.publicOf(rawSk) : null;
            } catch (GeneralSecurityException e) { throw new IllegalArgumentException("bad X25519 key", e); }
            this.wrappedLength = Crypto.wrappedLength(key);
            if (!x25519 && !sm2) {
                int bits = ((java.security.interfaces.RSAKey) key).getModulus().bitLength();
                if (bits < 2048 || bits > 4096) throw new IllegalArgumentException("RSA modulus must be 2048-4096 bits (SPEC 2)");
            }
        }

        byte[] unwrap(byte[] wrapped) throws GeneralSecurityException {
            if (sm2) return Sm.unwrap((Sm2PrivateKey) key, wrapped);
            return x25519 ? Hpke.unwrap(rawSk, rawPk, wrapped) : Crypto.rsaOaepDecrypt(key, wrapped);
        }
    }

    private final CredentialStore credentials;
    private final Map<String, ServerKey> serverKeys;
    private final Set<String> allowedModes;
    private final int windowSeconds;
    private final long maxBodyBytes;
    private final NonceStore nonces;
    private final LongSupplier clock;
    private final AtomicLong unwraps = new AtomicLong();
    private final SessionKeyCache sessionKeys; // null: no reuse (default)

    private Verifier(Builder b) {
        this.credentials = b.credentials;
        this.serverKeys = Collections.unmodifiableMap(new LinkedHashMap<>(b.serverKeys));
        this.allowedModes = Set.copyOf(b.allowedModes);
        this.windowSeconds = b.windowSeconds;
        this.maxBodyBytes = b.maxBodyBytes;
        this.nonces = b.nonces;
        this.clock = b.clock;
        this.sessionKeys = b.cacheEntries > 0 ? new SessionKeyCache(b.cacheEntries, b.cacheIdleSeconds) : null;
    }

    public static Builder builder() { return new Builder(); }

    public static final class Builder {
        private CredentialStore credentials;
        private MemoryCredentialStore memory;
        private final Map<String, ServerKey> serverKeys = new LinkedHashMap<>();
        private Set<String> allowedModes = Set.of("sealed", "signed");
        private int windowSeconds = 60;
        private long maxBodyBytes = 1024 * 1024;
        private NonceStore nonces;
        private LongSupplier clock = () -> Math.floorDiv(System.currentTimeMillis(), 1000);
        private int cacheEntries;
        private long cacheIdleSeconds;

        /** Use this credential store (instead of {@link #credential}). */
        public Builder credentials(CredentialStore store) { this.credentials = store; return this; }

        /** Add a key id with its valid secrets (raw bytes, 32-64), kept in memory. */
        public Builder credential(String keyId, byte[]... secrets) {
            if (memory == null) memory = new MemoryCredentialStore();
            memory.put(keyId, secrets);
            return this;
        }

        /** Add a server key pair's private key, RSA (2048-4096 bits), X25519 or SM2 ({@link Sm2PrivateKey}), under its server key id. */
        public Builder serverKey(String serverKeyId, PrivateKey key) {
            if (!isKeyId(serverKeyId)) throw new IllegalArgumentException("not a server key id (SPEC 2): " + serverKeyId);
            serverKeys.put(serverKeyId, new ServerKey(key));
            return this;
        }

        /**
         * Add a server private key from PEM: PKCS#8 RSA, X25519 or SM2 (by its algorithm), or an SM2 key
         * as SEC1 {@code EC PRIVATE KEY} or the armored {@code WXSEAL SM2 PRIVATE KEY} hex form (SPEC 6.6).
         */
        public Builder serverKeyPem(String serverKeyId, String pkcs8Pem) {
            return serverKey(serverKeyId, Crypto.serverPrivateKeyFromPkcs8Pem(pkcs8Pem));
        }

        /** The modes the route accepts: "sealed", "signed" or both (default both). */
        public Builder allowedModes(String... modes) {
            for (String m : modes) if (!m.equals("sealed") && !m.equals("signed")) throw new IllegalArgumentException("mode " + m);
            this.allowedModes = Set.of(modes);
            return this;
        }

        /** The freshness window W in seconds (SPEC 8: default 60, at most 300). */
        public Builder windowSeconds(int w) {
            if (w < 1 || w > 300) throw new IllegalArgumentException("window must be 1-300 seconds (SPEC 8)");
            this.windowSeconds = w;
            return this;
        }

        /** The body limit of SPEC 9 step 1, on the bytes sent (default 1 MiB). */
        public Builder maxBodyBytes(long limit) {
            if (limit < 16) throw new IllegalArgumentException("body limit too small");
            this.maxBodyBytes = limit;
            return this;
        }

        /** Default: a {@link MemoryNonceStore} of one million records. */
        public Builder nonceStore(NonceStore store) { this.nonces = store; return this; }

        /**
         * Keep unwrapped session keys for clients that reuse them (SPEC 14): at most maxEntries, each
         * dropped after idleSeconds without use. Off by default (every request is unwrapped).
         */
        public Builder sessionKeyCache(int maxEntries, long idleSeconds) {
            new SessionKeyCache(maxEntries, idleSeconds); // validates
            this.cacheEntries = maxEntries;
            this.cacheIdleSeconds = idleSeconds;
            return this;
        }

        /** The clock in Unix seconds (tests). */
        public Builder clock(LongSupplier unixSeconds) { this.clock = unixSeconds; return this; }

        public Verifier build() {
            if (credentials == null) credentials = memory;
            else if (memory != null) throw new IllegalStateException("give either credentials(store) or credential(...), not both");
            if (credentials == null) throw new IllegalStateException("no credentials");
            if (nonces == null) nonces = new MemoryNonceStore();
            return new Verifier(this);
        }
    }

    public long maxBodyBytes() { return maxBodyBytes; }
    public int windowSeconds() { return windowSeconds; }
    public long now() { return clock.getAsLong(); }
    /** How many session-key unwraps (step 7) this verifier ran: forged requests never reach one. */
    public long unwrapCount() { return unwraps.get(); }

    // ------------------------------------------------------------------ step 1 for streamed bodies

    /**
     * Step 1 for a body still to be read: refuse a Content-Length over the limit before reading,
     * then read at most limit + 1 bytes whatever Content-Length says.
     */
    public byte[] readBody(String contentLength, InputStream in) throws WxsealException, IOException {
        if (contentLength != null) {
            String cl = contentLength.trim();
            if (isDigits(cl, 1, 19) && Long.parseLong(cl) > maxBodyBytes)
                throw rejection(WxsealException.BODY_TOO_LARGE, "Content-Length over the limit", now(), null);
        }
        if (in == null) return new byte[0];
        int cap = (int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1);
        byte[] buf = new byte[Math.min(cap, 16 * 1024)];
        int n = 0;
        while (true) {
            if (n == buf.length) {
                if (buf.length >= cap) break;
                buf = Arrays.copyOf(buf, (int) Math.min(cap, (long) buf.length * 2));
            }
            int r = in.read(buf, n, buf.length - n);
            if (r < 0) break;
            n += r;
        }
        if (n > maxBodyBytes) throw rejection(WxsealException.BODY_TOO_LARGE, "body over the limit", now(), null);
        return Arrays.copyOf(buf, n);
    }

    // ------------------------------------------------------------------ syntax helpers

    static final String[] PROTOCOL_HEADERS = {
        "wxseal-version", "wxseal-mode", "wxseal-key-id", "wxseal-timestamp", "wxseal-nonce", "wxseal-signature",
        "wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv", "wxseal-identity", "content-type", "traceparent",
        "content-encoding", "content-length",
    };

    /** The key id syntax of SPEC 2 (also that of server key ids): 1-64 characters of A-Z a-z 0-9 . _ : - */
    public static boolean isKeyId(String s) {
        if (s == null || s.length() < 1 || s.length() > 64) return false;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                || c == '.' || c == '_' || c == ':' || c == '-';
            if (!ok) return false;
        }
        return true;
    }

    static boolean isDigits(String s, int min, int max) {
        if (s.length() < min || s.length() > max) return false;
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) < '0' || s.charAt(k) > '9') return false;
        return true;
    }

    static boolean isMethod(String s) {
        if (s == null || s.length() < 1 || s.length() > 16) return false;
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) < 'A' || s.charAt(k) > 'Z') return false;
        return true;
    }

    static boolean isVisible(String s) {
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) < 0x21 || s.charAt(k) > 0x7e) return false;
        return true;
    }

    /** ASCII letters only compared case-insensitively (U+0131 is not 'i'). */
    static boolean asciiEqualsIgnoreCase(String a, String b) {
        if (a.length() != b.length()) return false;
        for (int k = 0; k < a.length(); k++) {
            char x = a.charAt(k), y = b.charAt(k);
            if (x >= 'A' && x <= 'Z') x += 32;
            if (y >= 'A' && y <= 'Z') y += 32;
            if (x != y) return false;
        }
        return true;
    }

    static boolean isFieldText(String s) {
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (c != '\t' && (c < 0x20 || c > 0x7e)) return false;
        }
        return true;
    }

    /** Internal: a failure of one step, before the exception the caller sees is built. */
    private static final class Fail extends Exception {
        private static final long serialVersionUID = 1L;
        final String code;
        Fail(String code, String detail) { super(detail, null, false, false); this.code = code; }
    }

    private static Fail fail(String code, String detail) { return new Fail(code, detail); }

    private static WxsealException rejection(String code, String detail, long now, byte[] secret, String keyId, String nonce,
                                             Protocol.Suite suite) {
        String sig = null;
        if (secret != null) {
            int status = WxsealException.statusOf(code);
            sig = B64u.encode(Protocol.sign(suite, secret, Protocol.canonicalRejection(suite, keyId, nonce, status, code, Long.toString(now))));
        }
        return new WxsealException(code, detail, now, sig);
    }

    private static WxsealException rejection(String code, String detail, long now, byte[] secret) {
        return rejection(code, detail, now, secret, null, null, Protocol.Suite.SHA256);
    }

    private static String required(WxsealRequest r, String name) throws Fail {
        String v = r.first(name);
        if (v == null) throw fail(WxsealException.MISSING_HEADER, name);
        return v;
    }

    private static byte[] strict(String value, String name) throws Fail {
        try { return B64u.decode(value); }
        catch (B64u.MalformedException e) { throw fail(WxsealException.MALFORMED_HEADER, name + ": " + e.getMessage()); }
    }

    // ------------------------------------------------------------------ verification

    /** Verify with the verifier's clock. */
    public VerifiedRequest verify(WxsealRequest req) throws WxsealException { return verify(req, now()); }

    /** Verify at the given Unix time (seconds). */
    public VerifiedRequest verify(WxsealRequest req, long now) throws WxsealException {
        State st = new State();
        try {
            return run(req, now, st);
        } catch (Fail f) {
            throw rejection(f.code, f.getMessage(), now, st.matched, st.keyId, st.nonce, st.suite);
        }
    }

    /** What is known once the signature verified: a later rejection is signed with it (SPEC 10.1). */
    private static final class State {
        byte[] matched;
        String keyId, nonce;
        Protocol.Suite suite = Protocol.Suite.SHA256; // the suite of the named server key: signs rejections (6.6)
    }

    private VerifiedRequest run(WxsealRequest req, long now, State st) throws Fail {
        final String MALFORMED = WxsealException.MALFORMED_HEADER;
        // ---- step 1: body size
        List<String> cls = req.values("content-length");
        if (cls != null) for (String cl : cls)
            if (isDigits(cl.trim(), 1, 19) && Long.parseLong(cl.trim()) > maxBodyBytes)
                throw fail(WxsealException.BODY_TOO_LARGE, "Content-Length over the limit");
        if (req.body().length > maxBodyBytes) throw fail(WxsealException.BODY_TOO_LARGE, "body over the limit");

        // ---- step 2: header syntax, in the order of SPEC 9 "Inside step 2"
        for (String h : PROTOCOL_HEADERS) {                                           // 2.1
            List<String> v = req.values(h);
            if (v != null && v.size() > 1) throw fail(MALFORMED, h + " appears more than once");
        }
        String version = req.first("wxseal-version");                                  // 2.2
        if (version == null) throw fail(WxsealException.MISSING_HEADER, "wxseal-version");
        if (!version.equals("1")) throw fail(WxsealException.UNSUPPORTED_VERSION, "unsupported version");
        String mode = req.first("wxseal-mode");                                        // 2.3
        if (mode == null) throw fail(WxsealException.MISSING_HEADER, "wxseal-mode");
        if (!mode.equals("sealed") && !mode.equals("signed")) throw fail(MALFORMED, "wxseal-mode");
        boolean sealed = mode.equals("sealed");
        if (!isMethod(req.method())) throw fail(MALFORMED, "method syntax");           // 2.4
        if (!allowedModes.contains(mode)) throw fail(WxsealException.MODE_NOT_ALLOWED, "mode not accepted"); // 2.5
        if (sealed && req.method().equals("HEAD")) throw fail(WxsealException.MODE_NOT_ALLOWED, "sealed mode with HEAD");
        String targetProblem = req.target() == null ? "no request target" : Protocol.targetProblem(req.target()); // 2.6
        if (targetProblem != null) throw fail(MALFORMED, targetProblem);
        String keyId = required(req, "wxseal-key-id");                                 // 2.7
        if (!isKeyId(keyId)) throw fail(MALFORMED, "wxseal-key-id syntax");
        String ts = required(req, "wxseal-timestamp");
        if (!isDigits(ts, 1, 12) || (ts.length() > 1 && ts.charAt(0) == '0')) throw fail(MALFORMED, "wxseal-timestamp syntax");
        String nonce = required(req, "wxseal-nonce");
        if (nonce.length() < 22 || nonce.length() > 64 || !B64u.isAlphabet(nonce)) throw fail(MALFORMED, "wxseal-nonce syntax");
        String sigB64 = required(req, "wxseal-signature");
        if (sigB64.length() != 43) throw fail(MALFORMED, "wxseal-signature length");
        byte[] sig = strict(sigB64, "wxseal-signature");
        if (sig.length != 32) throw fail(MALFORMED, "wxseal-signature is not 32 bytes");
        String ctRaw = req.first("content-type");                                      // 2.8
        String contentType = Protocol.trimSpTab(ctRaw);
        if (ctRaw != null && (ctRaw.length() > 256 || !isFieldText(ctRaw))) throw fail(MALFORMED, "content-type syntax");
        String ce = req.first("content-encoding");
        if (ce != null && !asciiEqualsIgnoreCase(Protocol.trimSpTab(ce), "identity")) throw fail(MALFORMED, "content-encoding must be identity");
        String traceparent = req.first("traceparent");
        if (traceparent != null && (traceparent.length() < 1 || traceparent.length() > 512 || !isVisible(traceparent)))
            throw fail(MALFORMED, "traceparent syntax");
        String identityB64 = req.first("wxseal-identity");                             // 2.9
        String serverKeyId = "", wrappedB64 = "", ivB64 = "";
        byte[] wrapped = null, iv = null;
        if (sealed) {
            if (identityB64 != null) throw fail(MALFORMED, "wxseal-identity is not allowed in sealed mode");
            if (ctRaw == null || !contentType.equals(Protocol.SEALED_CT)) throw fail(MALFORMED, "content-type must be " + Protocol.SEALED_CT);
            serverKeyId = required(req, "wxseal-server-key-id");
            if (!isKeyId(serverKeyId)) throw fail(MALFORMED, "wxseal-server-key-id syntax");
            wrappedB64 = required(req, "wxseal-wrapped-key");
            if (wrappedB64.length() != 107 && wrappedB64.length() != 151 && (wrappedB64.length() < 342 || wrappedB64.length() > 683))
                throw fail(MALFORMED, "wxseal-wrapped-key length");
            wrapped = strict(wrappedB64, "wxseal-wrapped-key");
            ivB64 = required(req, "wxseal-iv");
            if (ivB64.length() != 16) throw fail(MALFORMED, "wxseal-iv length");
            iv = strict(ivB64, "wxseal-iv");
            if (iv.length != 12) throw fail(MALFORMED, "wxseal-iv is not 12 bytes");
        } else {
            for (String h : new String[] {"wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv"})
                if (req.first(h) != null) throw fail(MALFORMED, h + " is not allowed in sign-only mode");
            if (identityB64 != null && (identityB64.length() < 1 || identityB64.length() > 2048 || !B64u.isAlphabet(identityB64)))
                throw fail(MALFORMED, "wxseal-identity syntax");
        }

        // ---- step 3: timestamp window
        long t = Long.parseLong(ts);
        if (t < now - windowSeconds) throw fail(WxsealException.TIMESTAMP_EXPIRED, "timestamp outside the window");
        if (t > now + windowSeconds) throw fail(WxsealException.TIMESTAMP_FUTURE, "timestamp outside the window");

        // ---- step 4: key lookup
        CredentialStore.Credential cred;
        try { cred = credentials.lookup(keyId); }
        catch (CredentialStore.UnavailableException e) { throw fail(WxsealException.KEY_STORE_UNAVAILABLE, "credential store"); }
        if (cred == null) throw fail(WxsealException.UNKNOWN_KEY_ID, "unknown key id");
        List<byte[]> valid = new ArrayList<>(4);
        List<String> validIds = new ArrayList<>(4);
        if (!cred.revoked()) for (CredentialStore.Secret s : cred.secrets()) if (s.validAt(now)) { valid.add(s.bytes()); validIds.add(s.id()); }
        if (valid.isEmpty()) throw fail(WxsealException.KEY_REVOKED, "no valid secret");
        ServerKey serverKey = null;
        if (sealed) {
            serverKey = serverKeys.get(serverKeyId);
            if (serverKey == null) throw fail(WxsealException.UNKNOWN_SERVER_KEY, "unknown server key id");
            if (wrapped.length != serverKey.wrappedLength) throw fail(MALFORMED, "wrapped key length does not match the server key");
        }

        // ---- step 5: HMAC with every valid secret, constant-time compare, no early exit; the suite of the
        // named server key decides HMAC-SHA256 / SHA-256 or HMAC-SM3 / SM3 (SPEC 6.6)
        Protocol.Suite suite = sealed ? serverKey.suite : Protocol.Suite.SHA256;
        Protocol.SignedFields f = new Protocol.SignedFields();
        f.suite = suite;
        f.mode = mode;
        f.method = req.method();
        f.path = Protocol.pathOf(req.target());
        f.canonicalQuery = Protocol.canonicalQuery(Protocol.rawQueryOf(req.target()));
        f.timestamp = ts;
        f.nonce = nonce;
        f.keyId = keyId;
        f.contentType = contentType;
        f.serverKeyId = serverKeyId;
        f.wrappedKey = wrappedB64;
        f.iv = ivB64;
        f.identity = sealed || identityB64 == null ? "" : identityB64;
        f.traceparent = traceparent == null ? "" : traceparent;
        f.bodySha256Hex = suite.bodyHashHex(req.body());
        String canonical = Protocol.canonicalRequest(f);
        byte[] matched = null;
        String matchedId = null;
        for (int i = 0; i < valid.size(); i++) {
            boolean eq = Crypto.constantTimeEquals(Protocol.sign(suite, valid.get(i), canonical), sig);
            if (eq && matched == null) { matched = valid.get(i); matchedId = validIds.get(i); }
        }
        if (matched == null) throw fail(WxsealException.BAD_SIGNATURE, "signature mismatch");
        st.matched = matched;      // authentic from here on: later rejections are signed (10.1)
        st.keyId = keyId;
        st.nonce = nonce;
        st.suite = suite;

        // ---- step 6: nonce check-and-set, kept until t + W
        NonceStore.Claim claim;
        try { claim = nonces.claim(keyId, nonce, t, t + windowSeconds, now); }
        catch (NonceStore.UnavailableException | RuntimeException e) {
            throw fail(WxsealException.NONCE_STORE_UNAVAILABLE, "nonce store unavailable");
        }
        switch (claim) {
            case CLAIMED: break;
            case REPLAYED: throw fail(WxsealException.REPLAYED_NONCE, "nonce already accepted");
            case FULL: throw fail(WxsealException.NONCE_STORE_FULL, "nonce store full");
            case RESET: throw fail(WxsealException.NONCE_STORE_RESET, "nonce store lost its records");
            default: throw fail(WxsealException.NONCE_STORE_UNAVAILABLE, "nonce store answer");
        }

        if (sealed) {
            // ---- step 7: unwrap, by the type of the named server key (or a cached key, SPEC 14)
            String cacheIndex = sessionKeys == null ? null : SessionKeyCache.index(keyId, serverKeyId, wrapped);
            byte[] k = cacheIndex == null ? null : sessionKeys.get(cacheIndex);
            boolean cached = k != null;
            if (!cached) {
                unwraps.incrementAndGet();
                try { k = serverKey.unwrap(wrapped); }
                catch (GeneralSecurityException | RuntimeException e) { throw fail(WxsealException.UNWRAP_FAILED, "unwrap failed"); }
                if (k.length != suite.sessionKeyBytes())
                    throw fail(WxsealException.UNWRAP_FAILED, "session key is not " + suite.sessionKeyBytes() + " bytes");
            }
            // ---- step 8: AES-256-GCM (SM suite: SM4-GCM) with the request AAD, then the framing of 6.1
            String aad = Protocol.requestAad(suite, req.method(), f.path, f.canonicalQuery, ts, nonce, keyId, serverKeyId);
            byte[] plain;
            try { plain = suite.open(k, iv, Crypto.utf8(aad), req.body()); }
            catch (GeneralSecurityException e) { throw fail(WxsealException.DECRYPT_FAILED, "body does not decrypt"); }
            if (cacheIndex != null && !cached) sessionKeys.put(cacheIndex, k); // only a key that worked
            Protocol.Payload p;
            try { p = Protocol.unframe(plain); }
            catch (Protocol.MalformedException e) { throw fail(WxsealException.MALFORMED_PAYLOAD, e.getMessage()); }
            return new VerifiedRequest(mode, keyId, nonce, req.method(), p.identity, p.contentType, p.body, matched, matchedId, k, suite);
        }
        // ---- step 8 (sign-only): decode and check Wxseal-Identity
        Map<String, Object> identity = null;
        if (identityB64 != null) {
            byte[] raw = strict(identityB64, "wxseal-identity");
            try { identity = Protocol.checkIdentity(Json.parse(Protocol.jsonText(raw))); }
            catch (Protocol.MalformedException | Json.ParseException e) { throw fail(MALFORMED, "wxseal-identity: " + e.getMessage()); }
        }
        return new VerifiedRequest(mode, keyId, nonce, req.method(), identity, ctRaw == null ? null : contentType,
            req.body(), matched, matchedId, null, Protocol.Suite.SHA256);
    }
}
