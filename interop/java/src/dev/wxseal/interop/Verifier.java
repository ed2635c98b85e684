package dev.wxseal.interop;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The server-side verifier of SPEC.md section 9, steps 1-8 in order, stopping at the first failure. */
public final class Verifier {

    // ------------------------------------------------------------------ configuration and state

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

    /** In-memory nonce store: (key id, nonce) -> expiry (t + W). */
    public static final class NonceStore {
        private final Map<String, Long> seen = new HashMap<>();
        private final int capacity;
        public NonceStore(int capacity) { this.capacity = capacity; }
        /** Atomic check-and-set. Returns null on success, or an error code. */
        synchronized String checkAndSet(String keyId, String nonce, long expiresAt, long now) {
            for (Iterator<Map.Entry<String, Long>> it = seen.entrySet().iterator(); it.hasNext(); )
                if (it.next().getValue() < now) it.remove();
            String k = keyId + "\n" + nonce;
            if (seen.containsKey(k)) return "WXSEAL_REPLAYED_NONCE";
            if (seen.size() >= capacity) return "WXSEAL_NONCE_STORE_FULL";
            seen.put(k, expiresAt);
            return null;
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
    public final Map<String, PrivateKey> serverKeys = new HashMap<>();
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

    public static final class Result {
        public String code;       // null = accepted
        public int status;        // HTTP status of the rejection (section 10)
        public String detail;
        public String mode, keyId, nonce;
        public byte[] matchedSecret, sessionKey;
        public Long deviceKeyVersion;             // 15.2: the version of the device key that matched
        public String serverTime;                 // a rejection's Wxseal-Server-Time
        public String rejectionSignature;         // a rejection's Wxseal-Signature (10.1), null when unsigned
        public Protocol.Payload payload;          // sealed: decrypted; signed: body + identity
        public boolean accepted() { return code == null; }
        @Override public String toString() { return accepted() ? "accepted" : code + " (" + detail + ")"; }
    }

    private static final Map<String, Integer> STATUS = new HashMap<>();
    static {
        Object[][] t = {
            {"WXSEAL_BODY_TOO_LARGE", 413}, {"WXSEAL_UNSUPPORTED_VERSION", 400}, {"WXSEAL_MISSING_HEADER", 400},
            {"WXSEAL_MALFORMED_HEADER", 400}, {"WXSEAL_MODE_NOT_ALLOWED", 403}, {"WXSEAL_TIMESTAMP_EXPIRED", 401},
            {"WXSEAL_TIMESTAMP_FUTURE", 401}, {"WXSEAL_UNKNOWN_KEY_ID", 401}, {"WXSEAL_KEY_REVOKED", 401},
            {"WXSEAL_UNKNOWN_SERVER_KEY", 400}, {"WXSEAL_BAD_SIGNATURE", 401}, {"WXSEAL_REPLAYED_NONCE", 401},
            {"WXSEAL_UNWRAP_FAILED", 400}, {"WXSEAL_DECRYPT_FAILED", 400}, {"WXSEAL_MALFORMED_PAYLOAD", 400},
            {"WXSEAL_NONCE_STORE_FULL", 503}, {"WXSEAL_NONCE_STORE_UNAVAILABLE", 503}, {"WXSEAL_KEY_STORE_UNAVAILABLE", 503},
            {"WXSEAL_NONCE_STORE_RESET", 503}, {"WXSEAL_CREDENTIALS_STALE", 503},
            // sent by a gateway before any verifier step (SPEC 10); this verifier never raises them
            {"WXSEAL_ROUTE_NOT_FOUND", 404}, {"WXSEAL_TOO_MANY_HEADERS", 431},
        };
        for (Object[] r : t) STATUS.put((String) r[0], (Integer) r[1]);
    }

    /** True for the codes of SPEC 10, the only values of Wxseal-Error a client treats as a rejection (6.4). */
    public static boolean isWireCode(String code) { return code != null && STATUS.containsKey(code); }

    public static int statusOf(String code) { return STATUS.get(code); }

    private static final class Reject extends Exception {
        private static final long serialVersionUID = 1L;
        final String code;
        Reject(String code, String detail) { super(detail, null, false, false); this.code = code; }
    }

    private static Reject reject(String code, String detail) { return new Reject(code, detail); }

    // ------------------------------------------------------------------ syntax helpers

    static final String[] PROTOCOL_HEADERS = {
        "wxseal-version", "wxseal-mode", "wxseal-key-id", "wxseal-timestamp", "wxseal-nonce", "wxseal-signature",
        "wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv", "wxseal-identity", "content-type", "traceparent",
        "content-encoding", "content-length",
    };

    static boolean isKeyId(String s) {
        if (s.length() < 1 || s.length() > 64) return false;
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

    static boolean hasCrLf(String s) { return s.indexOf('\r') >= 0 || s.indexOf('\n') >= 0; }

    /** 0x21-0x7E only (traceparent, SPEC 4). */
    static boolean isVisible(String s) {
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) < 0x21 || s.charAt(k) > 0x7e) return false;
        return true;
    }

    /**
     * ASCII letters compared case-insensitively and nothing else: String.equalsIgnoreCase would take
     * U+0131 (dotless i) for 'i', since both upper-case to 'I'.
     */
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

    /** Content-Type, SPEC 9 step 2.8: characters 0x20-0x7E and HTAB, at most 256 as received. */
    static boolean isFieldText(String s) {
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (c != '\t' && (c < 0x20 || c > 0x7e)) return false;
        }
        return true;
    }

    private static String one(Request r, String name) { List<String> v = r.headers.get(name); return v == null ? null : v.get(0); }

    private static String required(Request r, String name) throws Reject {
        String v = one(r, name);
        if (v == null) throw reject("WXSEAL_MISSING_HEADER", name);
        return v;
    }

    private static byte[] strict(String value, String name) throws Reject {
        try { return B64u.decode(value); }
        catch (B64u.MalformedException e) { throw reject("WXSEAL_MALFORMED_HEADER", name + ": " + e.getMessage()); }
    }

    // ------------------------------------------------------------------ verification

    public Result verify(Request req, long now) {
        Result res = new Result();
        try {
            run(req, now, res);
        } catch (Reject r) {
            res.code = r.code;
            res.status = STATUS.get(r.code);
            res.detail = r.getMessage();
            res.serverTime = Long.toString(now);
            if (res.matchedSecret != null) // raised after the signature verified: SPEC 10.1
                res.rejectionSignature = B64u.encode(Protocol.sign(res.matchedSecret,
                    Protocol.canonicalRejection(res.keyId, res.nonce, res.status, res.code, res.serverTime)));
        }
        return res;
    }

    private void run(Request req, long now, Result res) throws Reject {
        // ---- step 1: body size (Content-Length when present, and the bytes read)
        List<String> cls = req.headers.get("content-length");
        if (cls != null) for (String cl : cls)
            if (isDigits(cl.trim(), 1, 19) && Long.parseLong(cl.trim()) > bodyLimit)
                throw reject("WXSEAL_BODY_TOO_LARGE", "Content-Length over the limit");
        if (req.body.length > bodyLimit) throw reject("WXSEAL_BODY_TOO_LARGE", "body over the limit");

        // ---- step 2: header syntax, in the exact order of SPEC 9 "Inside step 2"
        // 2.1 a header of section 4 (or Content-Encoding / Content-Length) repeated
        for (String h : PROTOCOL_HEADERS) {
            List<String> v = req.headers.get(h);
            if (v != null && v.size() > 1) throw reject("WXSEAL_MALFORMED_HEADER", h + " appears more than once");
        }
        // 2.2 version
        String version = one(req, "wxseal-version");
        if (version == null) throw reject("WXSEAL_MISSING_HEADER", "wxseal-version");
        if (!version.equals("1")) throw reject("WXSEAL_UNSUPPORTED_VERSION", "version " + version);
        // 2.3 mode
        String mode = one(req, "wxseal-mode");
        if (mode == null) throw reject("WXSEAL_MISSING_HEADER", "wxseal-mode");
        if (!mode.equals("sealed") && !mode.equals("signed")) throw reject("WXSEAL_MALFORMED_HEADER", "mode " + mode);
        boolean sealed = mode.equals("sealed");
        // 2.4 method
        if (!isMethod(req.method)) throw reject("WXSEAL_MALFORMED_HEADER", "method syntax");
        // 2.5 mode allowed for the route; sealed mode never with HEAD
        if (!allowedModes.contains(mode)) throw reject("WXSEAL_MODE_NOT_ALLOWED", "route does not accept " + mode);
        if (sealed && req.method.equals("HEAD")) throw reject("WXSEAL_MODE_NOT_ALLOWED", "sealed mode with HEAD");
        // 2.6 request target: visible ASCII, origin-form, no fragment, a path nobody reads differently
        String targetProblem = req.target == null ? "no request target" : Protocol.targetProblem(req.target);
        if (targetProblem != null) throw reject("WXSEAL_MALFORMED_HEADER", targetProblem);
        // 2.7 key id, timestamp, nonce, signature: each one present, then its syntax
        String keyId = required(req, "wxseal-key-id");
        if (!isKeyId(keyId)) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-key-id syntax");
        String ts = required(req, "wxseal-timestamp");
        // 1-12 digits, no sign, no leading zero ("0" alone is allowed)
        if (!isDigits(ts, 1, 12) || (ts.length() > 1 && ts.charAt(0) == '0'))
            throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-timestamp syntax");
        String nonce = required(req, "wxseal-nonce");
        if (nonce.length() < 22 || nonce.length() > 64 || !B64u.isAlphabet(nonce))
            throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-nonce syntax");
        String sigB64 = required(req, "wxseal-signature");
        if (sigB64.length() != 43) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-signature is not 43 characters");
        byte[] sig = strict(sigB64, "wxseal-signature");
        if (sig.length != 32) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-signature is not 32 bytes");
        // 2.8 Content-Type, Content-Encoding, traceparent
        String ctRaw = one(req, "content-type");
        String contentType = Protocol.trimSpTab(ctRaw); // "" when absent
        // the 256-character limit counts the value as received, before trimming (SPEC 9 step 2.8)
        if (ctRaw != null && (ctRaw.length() > 256 || !isFieldText(ctRaw)))
            throw reject("WXSEAL_MALFORMED_HEADER", "content-type syntax");
        String ce = one(req, "content-encoding");
        if (ce != null && !asciiEqualsIgnoreCase(Protocol.trimSpTab(ce), "identity"))
            throw reject("WXSEAL_MALFORMED_HEADER", "content-encoding must be identity");
        String traceparent = one(req, "traceparent");
        if (traceparent != null && (traceparent.length() < 1 || traceparent.length() > 512 || !isVisible(traceparent)))
            throw reject("WXSEAL_MALFORMED_HEADER", "traceparent is not 1-512 visible ASCII characters");
        // 2.9 headers of the mode
        String identityB64 = one(req, "wxseal-identity");
        String serverKeyId = "", wrappedB64 = "", ivB64 = "";
        byte[] wrapped = null, iv = null;
        if (sealed) {
            if (identityB64 != null) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-identity is not allowed in sealed mode");
            if (ctRaw == null || !contentType.equals(Protocol.SEALED_CT))
                throw reject("WXSEAL_MALFORMED_HEADER", "content-type must be " + Protocol.SEALED_CT);
            serverKeyId = required(req, "wxseal-server-key-id");
            if (!isKeyId(serverKeyId)) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-server-key-id syntax");
            wrappedB64 = required(req, "wxseal-wrapped-key");
            // 107 characters: X25519 (80 bytes, 6.5); 342-683: RSA-OAEP (256-512 bytes)
            if (wrappedB64.length() != 107 && (wrappedB64.length() < 342 || wrappedB64.length() > 683))
                throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-wrapped-key is " + wrappedB64.length() + " characters, not 107 or 342-683");
            wrapped = strict(wrappedB64, "wxseal-wrapped-key");
            ivB64 = required(req, "wxseal-iv");
            if (ivB64.length() != 16) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-iv is not 16 characters");
            iv = strict(ivB64, "wxseal-iv");
            if (iv.length != 12) throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-iv is not 12 bytes");
        } else {
            for (String h : List.of("wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv"))
                if (one(req, h) != null) throw reject("WXSEAL_MALFORMED_HEADER", h + " is not allowed in sign-only mode");
            if (identityB64 != null && (identityB64.length() < 1 || identityB64.length() > 2048 || !B64u.isAlphabet(identityB64)))
                throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-identity is not 1-2048 b64u characters");
        }

        // ---- step 3: timestamp window
        long t = Long.parseLong(ts);
        if (t < now - windowSeconds) throw reject("WXSEAL_TIMESTAMP_EXPIRED", "t=" + t + " now=" + now);
        if (t > now + windowSeconds) throw reject("WXSEAL_TIMESTAMP_FUTURE", "t=" + t + " now=" + now);

        // ---- step 4: key lookup
        Credential cred = credentials.get(keyId);
        List<byte[]> valid = new ArrayList<>();
        List<Long> versions = new ArrayList<>(); // device key versions, parallel to valid (15.2)
        if (cred != null) {
            if (!cred.revoked) for (Secret s : cred.secrets) if (s.validAt(now)) { valid.add(s.bytes); versions.add(null); }
        } else {
            java.util.SortedMap<Long, byte[]> dk;
            try { dk = devices == null ? null : devices.validKeys(keyId, now); }
            catch (StoreUnavailable e) { throw reject("WXSEAL_KEY_STORE_UNAVAILABLE", e.getMessage()); }
            if (dk == null) throw reject("WXSEAL_UNKNOWN_KEY_ID", keyId);
            for (Map.Entry<Long, byte[]> e : dk.entrySet()) { valid.add(e.getValue()); versions.add(e.getKey()); }
        }
        if (valid.isEmpty()) throw reject("WXSEAL_KEY_REVOKED", keyId);
        PrivateKey serverKey = null;
        if (sealed) {
            serverKey = serverKeys.get(serverKeyId);
            if (serverKey == null) throw reject("WXSEAL_UNKNOWN_SERVER_KEY", serverKeyId);
            if (wrapped.length != Crypto.wrappedLength(serverKey))
                throw reject("WXSEAL_MALFORMED_HEADER", "wrapped key is " + wrapped.length + " bytes, not "
                    + Crypto.wrappedLength(serverKey) + " for this server key");
        }

        // ---- step 5: HMAC, constant time, every valid secret, no early exit
        Protocol.SignedFields f = new Protocol.SignedFields();
        f.mode = mode;
        f.method = req.method;
        f.path = Protocol.pathOf(req.target);
        f.canonicalQuery = Protocol.canonicalQuery(Protocol.rawQueryOf(req.target));
        f.timestamp = ts;
        f.nonce = nonce;
        f.keyId = keyId;
        f.contentType = contentType;
        f.serverKeyId = serverKeyId;
        f.wrappedKey = wrappedB64;
        f.iv = ivB64;
        f.identity = sealed || identityB64 == null ? "" : identityB64;
        f.traceparent = traceparent == null ? "" : traceparent;
        f.bodySha256Hex = Crypto.hex(Crypto.sha256(req.body));
        String canonical = Protocol.canonicalRequest(f);
        byte[] matched = null;
        Long matchedVersion = null;
        for (int k = 0; k < valid.size(); k++) {
            boolean eq = Crypto.constantTimeEquals(Protocol.sign(valid.get(k), canonical), sig);
            if (eq && matched == null) { matched = valid.get(k); matchedVersion = versions.get(k); }
        }
        if (matched == null) throw reject("WXSEAL_BAD_SIGNATURE", "no valid secret matches");
        // authentic from here on: every later rejection is signed for this request (SPEC 10.1)
        res.mode = mode;
        res.keyId = keyId;
        res.nonce = nonce;
        res.matchedSecret = matched;
        res.deviceKeyVersion = matchedVersion;

        // ---- step 6: nonce check-and-set, kept until t + W
        String nerr = nonces.checkAndSet(keyId, nonce, t + windowSeconds, now);
        if (nerr != null) throw reject(nerr, nonce);

        if (sealed) {
            // ---- step 7: unwrap by the type of the server key: RSA-OAEP, or HPKE (6.5)
            byte[] k;
            try { k = Crypto.unwrapSessionKey(serverKey, wrapped); }
            catch (GeneralSecurityException e) { throw reject("WXSEAL_UNWRAP_FAILED", Hpke.isX25519(serverKey) ? "HPKE" : "OAEP"); }
            if (k.length != 32) throw reject("WXSEAL_UNWRAP_FAILED", "session key is " + k.length + " bytes, not 32");
            res.sessionKey = k;
            // ---- step 8: AES-GCM with the request AAD, then the framing of 6.1
            String aad = Protocol.requestAad(req.method, f.path, f.canonicalQuery, ts, nonce, keyId, serverKeyId);
            byte[] plain;
            try { plain = Crypto.aesGcmDecrypt(k, iv, Crypto.utf8(aad), req.body); }
            catch (GeneralSecurityException e) { throw reject("WXSEAL_DECRYPT_FAILED", "GCM"); }
            try { res.payload = Protocol.unframe(plain); }
            catch (Protocol.MalformedException e) { throw reject("WXSEAL_MALFORMED_PAYLOAD", e.getMessage()); }
        } else {
            // ---- step 8: decode and check Wxseal-Identity
            Protocol.Payload p = new Protocol.Payload();
            p.contentType = ctRaw == null ? null : contentType;
            p.body = req.body;
            if (identityB64 != null) {
                byte[] raw = strict(identityB64, "wxseal-identity");
                try { p.identity = Protocol.checkIdentity(Json.parse(Protocol.jsonText(raw))); }
                catch (Protocol.MalformedException | Json.ParseException e) {
                    throw reject("WXSEAL_MALFORMED_HEADER", "wxseal-identity: " + e.getMessage());
                }
            }
            res.payload = p;
        }
        // every step passed: a device serial's first verified request makes it active (15.8)
        if (matchedVersion != null) devices.verified(keyId, matchedVersion, now);
    }
}
