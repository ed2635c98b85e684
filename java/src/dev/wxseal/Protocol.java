package dev.wxseal;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** wxseal v1 building blocks (SPEC.md sections 5, 6, 7, 12). */
public final class Protocol {
    private Protocol() {}

    public static final String SEALED_CT = "application/vnd.wxseal.sealed";
    public static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    public static final String[] IDENTITY_MEMBERS = {"openid", "appid", "unionid", "env", "source"};
    public static final int META_MAX_BYTES = 4096;

    // ------------------------------------------------------------------ suites

    /**
     * What the type of the named server key changes (SPEC 2, 6.6): {@link #SHA256} for RSA and X25519
     * keys (HMAC-SHA256, SHA-256, AES-256-GCM, HKDF-SHA256, 32-byte session keys), {@link #SM} for
     * SM2 keys (HMAC-SM3, SM3, SM4-GCM, HKDF-SM3, 16-byte session keys, their own labels). Sign-only
     * requests and responses always use {@link #SHA256}. The SM suite's primitives come from
     * {@link Sm} (Bouncy Castle), loaded only when an SM2 key is used.
     */
    public static final class Suite {
        /** RSA-OAEP-256 and X25519 HPKE keys: everything of SPEC 5 and 6.1-6.4. */
        public static final Suite SHA256 = new Suite(false);
        /** SM2 keys: SPEC 6.6. */
        public static final Suite SM = new Suite(true);

        private final boolean sm;
        private Suite(boolean sm) { this.sm = sm; }

        /** The suite of a server key (public or private): SM for an SM2 key, SHA256 otherwise. */
        public static Suite of(java.security.Key serverKey) {
            return serverKey instanceof Sm2PublicKey || serverKey instanceof Sm2PrivateKey ? SM : SHA256;
        }

        public boolean isSm() { return sm; }
        /** "sm2-sm4-gcm", or "rsa-oaep-256/x25519-hpke" (the two share everything but the wrap). */
        public String name() { return sm ? Sm.SUITE : "rsa-oaep-256/x25519-hpke"; }
        @Override public String toString() { return name(); }
        /** First line of the canonical request string (5.2). */
        public String requestLabel() { return sm ? Sm.REQUEST_LABEL : "WXSEAL1-HMAC-SHA256"; }
        public String requestAadLabel() { return sm ? Sm.REQUEST_AAD_LABEL : "WXSEAL1-REQUEST"; }
        public String responseAadLabel() { return sm ? Sm.RESPONSE_AAD_LABEL : "WXSEAL1-RESPONSE"; }
        public String rejectionLabel() { return sm ? Sm.REJECTION_LABEL : "WXSEAL1-HMAC-SHA256-REJECTION"; }
        public String responseHkdfInfo() { return sm ? Sm.RESPONSE_HKDF_INFO : HKDF_INFO; }
        /** 32 (AES-256) or 16 (SM4). */
        public int sessionKeyBytes() { return sm ? Sm.SESSION_KEY_BYTES : 32; }
        /** HMAC-SHA256 or HMAC-SM3. */
        public byte[] mac(byte[] key, byte[] data) { return sm ? Sm.hmacSm3(key, data) : Crypto.hmacSha256(key, data); }
        /** hex(SHA-256(body)) or hex(SM3(body)): the last line of the canonical request string. */
        public String bodyHashHex(byte[] body) { return Crypto.hex(sm ? Sm.sm3(body) : Crypto.sha256(body)); }
        /** AES-256-GCM or SM4-GCM: ciphertext || 16-byte tag. */
        public byte[] seal(byte[] key, byte[] iv, byte[] aad, byte[] plaintext) {
            return sm ? Sm.sm4GcmEncrypt(key, iv, aad, plaintext) : Crypto.aesGcmEncrypt(key, iv, aad, plaintext);
        }
        /** AES-256-GCM or SM4-GCM decrypt; GeneralSecurityException when the tag does not verify. */
        public byte[] open(byte[] key, byte[] iv, byte[] aad, byte[] sealed) throws GeneralSecurityException {
            return sm ? Sm.sm4GcmDecrypt(key, iv, aad, sealed) : Crypto.aesGcmDecrypt(key, iv, aad, sealed);
        }
        /** 6.3 step 2: HKDF-SHA256(K, R, "WXSEAL1 response", 44) or HKDF-SM3(K, R, "WXSEAL1-SM response", 28). */
        public byte[] responseOkm(byte[] sessionKey, byte[] responseNonce) {
            return sm ? Sm.hkdfSm3(sessionKey, responseNonce, Crypto.utf8(Sm.RESPONSE_HKDF_INFO), Sm.RESPONSE_OKM_BYTES)
                : Crypto.hkdfSha256(sessionKey, responseNonce, Crypto.utf8(HKDF_INFO), 44);
        }
        /** Length of the response key within the OKM (32 or 16); the 12-byte IV follows it. */
        public int responseKeyBytes() { return sm ? 16 : 32; }
    }

    // ------------------------------------------------------------------ 5.1 fields

    /** Path = request target up to (not including) the first '?'. */
    public static String pathOf(String target) {
        int q = target.indexOf('?');
        return q < 0 ? target : target.substring(0, q);
    }

    /** Raw query = request target after the first '?', empty if none. */
    public static String rawQueryOf(String target) {
        int q = target.indexOf('?');
        return q < 0 ? "" : target.substring(q + 1);
    }

    /** 5.1 canonical query: split on &amp;, drop empties, stable sort by the bytes before the first '=', join. */
    public static String canonicalQuery(String rawQuery) {
        List<String> segs = new ArrayList<>();
        for (String s : rawQuery.split("&", -1)) if (!s.isEmpty()) segs.add(s);
        // List.sort is a stable merge sort. Names compare as unsigned UTF-8 bytes.
        segs.sort((a, b) -> compareBytes(Crypto.utf8(nameOf(a)), Crypto.utf8(nameOf(b))));
        return String.join("&", segs);
    }

    private static String nameOf(String seg) {
        int e = seg.indexOf('=');
        return e < 0 ? seg : seg.substring(0, e);
    }

    private static int compareBytes(byte[] a, byte[] b) {
        int n = Math.min(a.length, b.length);
        for (int k = 0; k < n; k++) {
            int d = (a[k] & 0xff) - (b[k] & 0xff);
            if (d != 0) return d;
        }
        return a.length - b.length;
    }

    // ------------------------------------------------------------------ 9 step 2.6: the request target

    /**
     * Why the request target breaks SPEC 9 step 2.6, or null: 1-8192 characters 0x21-0x7E, starting
     * with '/', no '#'; in the path (up to the first '?'): no dot-segment ("." or "..", also before
     * ";params"), no backslash, no %2F / %5C / %00 (any case), no percent-encoded unreserved character.
     */
    public static String targetProblem(String target) {
        if (target == null || target.isEmpty()) return "empty request target";
        if (target.length() > 8192) return "request target longer than 8192 bytes";
        for (int k = 0; k < target.length(); k++) {
            char c = target.charAt(k);
            if (c < 0x21 || c > 0x7e) return "request target holds a character outside 0x21-0x7E";
        }
        if (target.charAt(0) != '/') return "request target does not start with /";
        if (target.indexOf('#') >= 0) return "request target holds a fragment";
        String path = pathOf(target);
        if (path.indexOf('\\') >= 0) return "path holds a backslash";
        for (int k = path.indexOf('%'); k >= 0; k = path.indexOf('%', k + 1)) {
            if (k + 2 >= path.length()) continue;
            int hi = Character.digit(path.charAt(k + 1), 16), lo = Character.digit(path.charAt(k + 2), 16);
            if (hi < 0 || lo < 0) continue;
            int b = hi * 16 + lo;
            if (b == 0x2f || b == 0x5c || b == 0x00) return "path holds an encoded separator or NUL";
            boolean unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')
                || b == '-' || b == '.' || b == '_' || b == '~';
            if (unreserved) return "path holds a percent-encoded unreserved character";
        }
        for (String seg : path.split("/", -1)) {
            int semi = seg.indexOf(';');
            String bare = semi < 0 ? seg : seg.substring(0, semi);
            if (bare.equals(".") || bare.equals("..")) return "path holds a dot-segment";
        }
        return null;
    }

    /** Trim leading and trailing spaces and tabs only (5.1 content type). */
    public static String trimSpTab(String s) {
        if (s == null) return "";
        int a = 0, b = s.length();
        while (a < b && (s.charAt(a) == ' ' || s.charAt(a) == '\t')) a++;
        while (b > a && (s.charAt(b - 1) == ' ' || s.charAt(b - 1) == '\t')) b--;
        return s.substring(a, b);
    }

    // ------------------------------------------------------------------ 5.2 / 5.3

    public static final class SignedFields {
        public String mode, method, path, canonicalQuery, timestamp, nonce, keyId;
        public String contentType = "", serverKeyId = "", wrappedKey = "", iv = "", identity = "", traceparent = "";
        /** hex of the body hash: SHA-256, or SM3 in the SM suite. */
        public String bodySha256Hex;
        /** The suite of the named server key (sealed mode); SHA256 in sign-only mode. */
        public Suite suite = Suite.SHA256;
    }

    public static String canonicalRequest(SignedFields f) {
        return String.join("\n",
            f.suite.requestLabel(), f.mode, f.method, f.path, f.canonicalQuery, f.timestamp, f.nonce, f.keyId,
            f.contentType, f.serverKeyId, f.wrappedKey, f.iv, f.identity, f.traceparent, f.bodySha256Hex);
    }

    public static byte[] sign(byte[] secret, String canonical) {
        return Crypto.hmacSha256(secret, Crypto.utf8(canonical));
    }

    /** HMAC of the suite (HMAC-SHA256, or HMAC-SM3 in the SM suite) over UTF-8 of the canonical string. */
    public static byte[] sign(Suite suite, byte[] secret, String canonical) {
        return suite.mac(secret, Crypto.utf8(canonical));
    }

    // ------------------------------------------------------------------ 6.1 framing

    public static final class Payload {
        public String contentType;            // null when absent
        public Map<String, Object> identity;  // null when absent
        public byte[] body;
    }

    /** The meta JSON a sender writes: members in the order contentType, identity; absent when null. */
    public static String metaJson(String contentType, Map<String, Object> identity) {
        Map<String, Object> meta = new LinkedHashMap<>();
        if (contentType != null) meta.put("contentType", contentType);
        if (identity != null) meta.put("identity", identity);
        return Json.stringify(meta);
    }

    public static byte[] frame(String contentType, Map<String, Object> identity, byte[] body) {
        return Crypto.concat(Crypto.utf8(metaJson(contentType, identity)), new byte[] {'\n'}, body);
    }

    public static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;
        public MalformedException(String m) { super(m); }
    }

    /** Strict UTF-8 without a byte-order mark: the JSON texts of SPEC 6.1 and 7 (RFC 8259 8.1). */
    public static String jsonText(byte[] b) throws MalformedException {
        if (b.length >= 3 && (b[0] & 0xff) == 0xef && (b[1] & 0xff) == 0xbb && (b[2] & 0xff) == 0xbf)
            throw new MalformedException("starts with a byte-order mark");
        return strictUtf8(b);
    }

    /** Lone surrogates replaced by U+FFFD: SPEC 7 reads them so ("counts as U+FFFD"). */
    public static String wellFormed(String s) {
        StringBuilder b = null;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            boolean lone;
            if (Character.isHighSurrogate(c)) {
                if (k + 1 < s.length() && Character.isLowSurrogate(s.charAt(k + 1))) {
                    if (b != null) b.append(c).append(s.charAt(k + 1));
                    k++;
                    continue;
                }
                lone = true;
            } else lone = Character.isLowSurrogate(c);
            if (lone && b == null) b = new StringBuilder(s.substring(0, k));
            if (b != null) b.append(lone ? '\ufffd' : c);
        }
        return b == null ? s : b.toString();
    }

    public static String strictUtf8(byte[] b) throws MalformedException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw new MalformedException("not valid UTF-8");
        }
    }

    /**
     * Split at the first LF and check the meta JSON (6.1); throws for WXSEAL_MALFORMED_PAYLOAD.
     * The meta is at most 4096 bytes, so the LF must be within the first 4097 bytes. A member whose
     * value is JSON null is absent; unknown members are ignored; a repeated member (at any depth) and
     * a byte-order mark are malformed.
     */
    public static Payload unframe(byte[] plaintext) throws MalformedException {
        int lf = -1;
        int limit = Math.min(plaintext.length, META_MAX_BYTES + 1);
        for (int k = 0; k < limit; k++) if (plaintext[k] == '\n') { lf = k; break; }
        if (lf < 0) throw new MalformedException("no LF within the first " + (META_MAX_BYTES + 1) + " bytes");
        Object meta;
        try { meta = Json.parse(jsonText(Crypto.slice(plaintext, 0, lf))); }
        catch (Json.ParseException e) { throw new MalformedException("meta is not JSON: " + e.getMessage()); }
        if (!(meta instanceof Map)) throw new MalformedException("meta is not a JSON object");
        Map<String, Object> m = Json.obj(meta);
        Payload p = new Payload();
        Object ct = m.get("contentType");
        if (ct != null && ct != Json.NULL) {
            if (!(ct instanceof String)) throw new MalformedException("contentType is not a string");
            p.contentType = (String) ct;
        }
        Object id = m.get("identity");
        if (id != null && id != Json.NULL) p.identity = checkIdentity(id);
        p.body = Crypto.slice(plaintext, lf + 1, plaintext.length);
        return p;
    }

    /** Length in UTF-8 bytes of a Java string (a lone surrogate counts as U+FFFD, 3 bytes). */
    public static int utf8Length(String s) {
        int n = 0;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (c < 0x80) n += 1;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c) && k + 1 < s.length() && Character.isLowSurrogate(s.charAt(k + 1))) { n += 4; k++; }
            else n += 3;
        }
        return n;
    }

    public static final int IDENTITY_MEMBER_MAX_BYTES = 256;

    /**
     * Section 7: a JSON object; each known member is a string of at most 256 UTF-8 bytes or null
     * (= absent). Returns only the known, present members, in the order of IDENTITY_MEMBERS (members
     * not listed are ignored and not passed on).
     */
    public static Map<String, Object> checkIdentity(Object v) throws MalformedException {
        if (!(v instanceof Map)) throw new MalformedException("identity is not a JSON object");
        Map<String, Object> id = Json.obj(v);
        Map<String, Object> out = new LinkedHashMap<>();
        for (String k : IDENTITY_MEMBERS) {
            Object s = id.get(k);
            if (s == null || s == Json.NULL) continue;
            if (!(s instanceof String)) throw new MalformedException("identity." + k + " is not a string");
            String str = wellFormed((String) s); // handed on as Unicode text
            if (utf8Length(str) > IDENTITY_MEMBER_MAX_BYTES)
                throw new MalformedException("identity." + k + " is longer than 256 UTF-8 bytes");
            out.put(k, str);
        }
        return out;
    }

    // ------------------------------------------------------------------ 6.2 request AAD

    public static String requestAad(String method, String path, String canonicalQuery, String timestamp,
                                    String nonce, String keyId, String serverKeyId) {
        return requestAad(Suite.SHA256, method, path, canonicalQuery, timestamp, nonce, keyId, serverKeyId);
    }

    /** The request AAD of the suite (first line WXSEAL1-REQUEST, or WXSEAL1-SM-REQUEST). */
    public static String requestAad(Suite suite, String method, String path, String canonicalQuery, String timestamp,
                                    String nonce, String keyId, String serverKeyId) {
        return String.join("\n", suite.requestAadLabel(), method, path, canonicalQuery, timestamp, nonce, keyId, serverKeyId);
    }

    // ------------------------------------------------------------------ 6.3 response

    public static final String HKDF_INFO = "WXSEAL1 response";

    /** OKM (44 bytes): key = [0,32), iv = [32,44). */
    public static byte[] responseOkm(byte[] sessionKey, byte[] responseNonce) {
        return Crypto.hkdfSha256(sessionKey, responseNonce, Crypto.utf8(HKDF_INFO), 44);
    }

    public static String status3(int status) {
        if (status < 100 || status > 999) throw new IllegalArgumentException("status " + status);
        return Integer.toString(status);
    }

    public static String responseAad(String keyId, String requestNonce, int status) {
        return responseAad(Suite.SHA256, keyId, requestNonce, status);
    }

    /** The response AAD of the suite (first line WXSEAL1-RESPONSE, or WXSEAL1-SM-RESPONSE). */
    public static String responseAad(Suite suite, String keyId, String requestNonce, int status) {
        return String.join("\n", suite.responseAadLabel(), keyId, requestNonce, status3(status));
    }

    /** 1xx, 204 and 304 cannot carry content: they are sent as 200 with an empty inner body. */
    public static boolean noContentStatus(int status) {
        return (status >= 100 && status < 200) || status == 204 || status == 304;
    }

    public static final class SealedResponse {
        public int wireStatus;
        public byte[] okm, plaintext, body, responseNonce;
        public String aad;
        public Map<String, String> headers = new LinkedHashMap<>();
    }

    public static SealedResponse sealResponse(byte[] sessionKey, byte[] responseNonce, String keyId, String requestNonce,
                                              int handlerStatus, String handlerContentType, byte[] handlerBody) {
        return sealResponse(Suite.SHA256, sessionKey, responseNonce, keyId, requestNonce, handlerStatus, handlerContentType, handlerBody);
    }

    /** 6.3 in the given suite (okm: 44 bytes, or 28 in the SM suite: key 16 || IV 12). */
    public static SealedResponse sealResponse(Suite suite, byte[] sessionKey, byte[] responseNonce, String keyId, String requestNonce,
                                              int handlerStatus, String handlerContentType, byte[] handlerBody) {
        SealedResponse r = new SealedResponse();
        boolean noContent = noContentStatus(handlerStatus);
        r.wireStatus = noContent ? 200 : handlerStatus;
        byte[] inner = noContent ? new byte[0] : handlerBody;
        r.responseNonce = responseNonce;
        r.okm = suite.responseOkm(sessionKey, responseNonce);
        r.aad = responseAad(suite, keyId, requestNonce, r.wireStatus);
        r.plaintext = frame(handlerContentType, null, inner);
        int kb = suite.responseKeyBytes();
        r.body = suite.seal(Crypto.slice(r.okm, 0, kb), Crypto.slice(r.okm, kb, kb + 12), Crypto.utf8(r.aad), r.plaintext);
        r.headers.put("content-type", SEALED_CT);
        r.headers.put("wxseal-response-nonce", B64u.encode(responseNonce));
        return r;
    }

    public static final class ResponseInvalidException extends Exception {
        private static final long serialVersionUID = 1L;
        public ResponseInvalidException(String m) { super("WXSEAL_RESPONSE_INVALID: " + m); }
    }

    /** 6.4: open a sealed response with the request's own key id, nonce and the status received. */
    public static Payload openResponse(byte[] sessionKey, String keyId, String requestNonce, int status,
                                       String contentType, String responseNonceB64u, byte[] body)
            throws ResponseInvalidException {
        return openResponse(Suite.SHA256, sessionKey, keyId, requestNonce, status, contentType, responseNonceB64u, body);
    }

    /** 6.4 in the given suite (the suite of the server key the request was sealed to). */
    public static Payload openResponse(Suite suite, byte[] sessionKey, String keyId, String requestNonce, int status,
                                       String contentType, String responseNonceB64u, byte[] body)
            throws ResponseInvalidException {
        if (contentType == null || !trimSpTab(contentType).equals(SEALED_CT))
            throw new ResponseInvalidException("Content-Type is not " + SEALED_CT + ": " + contentType);
        if (responseNonceB64u == null) throw new ResponseInvalidException("no Wxseal-Response-Nonce");
        byte[] r;
        try { r = B64u.decode(responseNonceB64u); }
        catch (B64u.MalformedException e) { throw new ResponseInvalidException("Wxseal-Response-Nonce: " + e.getMessage()); }
        if (r.length != 32) throw new ResponseInvalidException("Wxseal-Response-Nonce is not 32 bytes");
        byte[] okm = suite.responseOkm(sessionKey, r);
        int kb = suite.responseKeyBytes();
        byte[] plain;
        try {
            plain = suite.open(Crypto.slice(okm, 0, kb), Crypto.slice(okm, kb, kb + 12),
                Crypto.utf8(responseAad(suite, keyId, requestNonce, status)), body);
        } catch (GeneralSecurityException e) {
            throw new ResponseInvalidException("does not decrypt");
        }
        try { return unframe(plain); }
        catch (MalformedException e) { throw new ResponseInvalidException("inner framing: " + e.getMessage()); }
    }

    // ------------------------------------------------------------------ 12 sign-only response

    public static String canonicalResponse(String keyId, String requestNonce, int status, String contentType, byte[] body) {
        return String.join("\n", "WXSEAL1-HMAC-SHA256-RESPONSE", keyId, requestNonce, status3(status),
            trimSpTab(contentType), Crypto.hex(Crypto.sha256(body)));
    }

    // ------------------------------------------------------------------ 10.1 signed rejections

    public static String canonicalRejection(String keyId, String requestNonce, int status, String code, String serverTime) {
        return canonicalRejection(Suite.SHA256, keyId, requestNonce, status, code, serverTime);
    }

    /** The canonical rejection string of the suite (first line ...-SHA256-REJECTION, or WXSEAL1-HMAC-SM3-REJECTION). */
    public static String canonicalRejection(Suite suite, String keyId, String requestNonce, int status, String code, String serverTime) {
        return String.join("\n", suite.rejectionLabel(), keyId, requestNonce, status3(status), code, serverTime);
    }

    /**
     * Client side (6.4, 10.1): true only for a verifier rejection (Wxseal-Error names a code of
     * section 10 and the status is that code's) whose Wxseal-Signature is strict b64u of the HMAC of
     * its canonical rejection string for this very request (key id, nonce, secret).
     */
    public static boolean trustedRejection(int status, Map<String, String> headers, String keyId, String requestNonce, byte[] secret) {
        return trustedRejection(Suite.SHA256, status, headers, keyId, requestNonce, secret);
    }

    /** {@link #trustedRejection(int, Map, String, String, byte[])} for a request of the given suite (HMAC-SM3 for SM). */
    public static boolean trustedRejection(Suite suite, int status, Map<String, String> headers, String keyId, String requestNonce,
                                           byte[] secret) {
        String code = headers.get("wxseal-error");
        if (!WxsealException.isWireCode(code) || WxsealException.statusOf(code) != status) return false;
        String time = headers.get("wxseal-server-time"), sig = headers.get("wxseal-signature");
        if (time == null || sig == null) return false;
        byte[] got;
        try { got = B64u.decode(sig); } catch (B64u.MalformedException e) { return false; }
        if (got.length != 32) return false;
        return Crypto.constantTimeEquals(sign(suite, secret, canonicalRejection(suite, keyId, requestNonce, status, code, time)), got);
    }

    // ------------------------------------------------------------------ client: sealed request (6.2 + 5)

    public static final class SealedRequest {
        public String method, target, path, canonicalQuery, aad, canonical;
        public byte[] plaintext, body, signature;
        public Map<String, String> headers = new LinkedHashMap<>();
    }

    /**
     * Build a sealed request. wrappedKey may be given (vectors: OAEP is randomised, an HPKE wrap has
     * a fresh ephemeral key); otherwise the session key is wrapped with serverPublicKey, RSA, X25519
     * or SM2. The suite is that of serverPublicKey (SHA256 when it is null).
     */
    public static SealedRequest sealRequest(String method, String target, String keyId, byte[] secret,
                                            String serverKeyId, PublicKey serverPublicKey, byte[] wrappedKey,
                                            byte[] sessionKey, byte[] iv, String timestamp, String nonce,
                                            String contentType, Map<String, Object> identity, String traceparent,
                                            byte[] body) {
        return sealRequest(Suite.of(serverPublicKey), method, target, keyId, secret, serverKeyId, serverPublicKey, wrappedKey,
            sessionKey, iv, timestamp, nonce, contentType, identity, traceparent, body);
    }

    /** {@link #sealRequest(String, String, String, byte[], String, PublicKey, byte[], byte[], byte[], String, String, String, Map, String, byte[])} in the given suite. */
    public static SealedRequest sealRequest(Suite suite, String method, String target, String keyId, byte[] secret,
                                            String serverKeyId, PublicKey serverPublicKey, byte[] wrappedKey,
                                            byte[] sessionKey, byte[] iv, String timestamp, String nonce,
                                            String contentType, Map<String, Object> identity, String traceparent,
                                            byte[] body) {
        if (serverPublicKey != null && Suite.of(serverPublicKey) != suite)
            throw new IllegalArgumentException("the server key's type selects the suite " + Suite.of(serverPublicKey));
        if (sessionKey.length != suite.sessionKeyBytes())
            throw new IllegalArgumentException("the session key of the suite " + suite + " is " + suite.sessionKeyBytes() + " bytes");
        SealedRequest r = new SealedRequest();
        r.method = method;
        r.target = target;
        r.path = pathOf(target);
        r.canonicalQuery = canonicalQuery(rawQueryOf(target));
        byte[] wrapped = wrappedKey != null ? wrappedKey : Crypto.wrapSessionKey(serverPublicKey, sessionKey);
        r.aad = requestAad(suite, method, r.path, r.canonicalQuery, timestamp, nonce, keyId, serverKeyId);
        r.plaintext = frame(contentType, identity, body);
        r.body = suite.seal(sessionKey, iv, Crypto.utf8(r.aad), r.plaintext);
        SignedFields f = new SignedFields();
        f.suite = suite;
        f.mode = "sealed";
        f.method = method;
        f.path = r.path;
        f.canonicalQuery = r.canonicalQuery;
        f.timestamp = timestamp;
        f.nonce = nonce;
        f.keyId = keyId;
        f.contentType = SEALED_CT;
        f.serverKeyId = serverKeyId;
        f.wrappedKey = B64u.encode(wrapped);
        f.iv = B64u.encode(iv);
        f.identity = "";
        f.traceparent = traceparent == null ? "" : traceparent;
        f.bodySha256Hex = suite.bodyHashHex(r.body);
        r.canonical = canonicalRequest(f);
        r.signature = sign(suite, secret, r.canonical);
        r.headers.put("wxseal-version", "1");
        r.headers.put("wxseal-mode", "sealed");
        r.headers.put("wxseal-key-id", keyId);
        r.headers.put("wxseal-timestamp", timestamp);
        r.headers.put("wxseal-nonce", nonce);
        r.headers.put("content-type", SEALED_CT);
        r.headers.put("wxseal-server-key-id", serverKeyId);
        r.headers.put("wxseal-wrapped-key", f.wrappedKey);
        r.headers.put("wxseal-iv", f.iv);
        if (traceparent != null) r.headers.put("traceparent", traceparent);
        r.headers.put("wxseal-signature", B64u.encode(r.signature));
        return r;
    }
}
