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
        public String bodySha256Hex;
    }

    public static String canonicalRequest(SignedFields f) {
        return String.join("\n",
            "WXSEAL1-HMAC-SHA256", f.mode, f.method, f.path, f.canonicalQuery, f.timestamp, f.nonce, f.keyId,
            f.contentType, f.serverKeyId, f.wrappedKey, f.iv, f.identity, f.traceparent, f.bodySha256Hex);
    }

    public static byte[] sign(byte[] secret, String canonical) {
        return Crypto.hmacSha256(secret, Crypto.utf8(canonical));
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
        return String.join("\n", "WXSEAL1-REQUEST", method, path, canonicalQuery, timestamp, nonce, keyId, serverKeyId);
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
        return String.join("\n", "WXSEAL1-RESPONSE", keyId, requestNonce, status3(status));
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
        SealedResponse r = new SealedResponse();
        boolean noContent = noContentStatus(handlerStatus);
        r.wireStatus = noContent ? 200 : handlerStatus;
        byte[] inner = noContent ? new byte[0] : handlerBody;
        r.responseNonce = responseNonce;
        r.okm = responseOkm(sessionKey, responseNonce);
        r.aad = responseAad(keyId, requestNonce, r.wireStatus);
        r.plaintext = frame(handlerContentType, null, inner);
        r.body = Crypto.aesGcmEncrypt(Crypto.slice(r.okm, 0, 32), Crypto.slice(r.okm, 32, 44), Crypto.utf8(r.aad), r.plaintext);
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
        if (contentType == null || !trimSpTab(contentType).equals(SEALED_CT))
            throw new ResponseInvalidException("Content-Type is not " + SEALED_CT + ": " + contentType);
        if (responseNonceB64u == null) throw new ResponseInvalidException("no Wxseal-Response-Nonce");
        byte[] r;
        try { r = B64u.decode(responseNonceB64u); }
        catch (B64u.MalformedException e) { throw new ResponseInvalidException("Wxseal-Response-Nonce: " + e.getMessage()); }
        if (r.length != 32) throw new ResponseInvalidException("Wxseal-Response-Nonce is not 32 bytes");
        byte[] okm = responseOkm(sessionKey, r);
        byte[] plain;
        try {
            plain = Crypto.aesGcmDecrypt(Crypto.slice(okm, 0, 32), Crypto.slice(okm, 32, 44),
                Crypto.utf8(responseAad(keyId, requestNonce, status)), body);
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
        return String.join("\n", "WXSEAL1-HMAC-SHA256-REJECTION", keyId, requestNonce, status3(status), code, serverTime);
    }

    /**
     * Client side (6.4, 10.1): true only for a verifier rejection (Wxseal-Error names a code of
     * section 10 and the status is that code's) whose Wxseal-Signature is strict b64u of the HMAC of
     * its canonical rejection string for this very request (key id, nonce, secret).
     */
    public static boolean trustedRejection(int status, Map<String, String> headers, String keyId, String requestNonce, byte[] secret) {
        String code = headers.get("wxseal-error");
        if (!WxsealException.isWireCode(code) || WxsealException.statusOf(code) != status) return false;
        String time = headers.get("wxseal-server-time"), sig = headers.get("wxseal-signature");
        if (time == null || sig == null) return false;
        byte[] got;
        try { got = B64u.decode(sig); } catch (B64u.MalformedException e) { return false; }
        if (got.length != 32) return false;
        return Crypto.constantTimeEquals(sign(secret, canonicalRejection(keyId, requestNonce, status, code, time)), got);
    }

    // ------------------------------------------------------------------ client: sealed request (6.2 + 5)

    public static final class SealedRequest {
        public String method, target, path, canonicalQuery, aad, canonical;
        public byte[] plaintext, body, signature;
        public Map<String, String> headers = new LinkedHashMap<>();
    }

    /**
     * Build a sealed request. wrappedKey may be given (vectors: OAEP is randomised, an HPKE wrap has
     * a fresh ephemeral key); otherwise the session key is wrapped with serverPublicKey, RSA or X25519.
     */
    public static SealedRequest sealRequest(String method, String target, String keyId, byte[] secret,
                                            String serverKeyId, PublicKey serverPublicKey, byte[] wrappedKey,
                                            byte[] sessionKey, byte[] iv, String timestamp, String nonce,
                                            String contentType, Map<String, Object> identity, String traceparent,
                                            byte[] body) {
        SealedRequest r = new SealedRequest();
        r.method = method;
        r.target = target;
        r.path = pathOf(target);
        r.canonicalQuery = canonicalQuery(rawQueryOf(target));
        byte[] wrapped = wrappedKey != null ? wrappedKey : Crypto.wrapSessionKey(serverPublicKey, sessionKey);
        r.aad = requestAad(method, r.path, r.canonicalQuery, timestamp, nonce, keyId, serverKeyId);
        r.plaintext = frame(contentType, identity, body);
        r.body = Crypto.aesGcmEncrypt(sessionKey, iv, Crypto.utf8(r.aad), r.plaintext);
        SignedFields f = new SignedFields();
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
        f.bodySha256Hex = Crypto.hex(Crypto.sha256(r.body));
        r.canonical = canonicalRequest(f);
        r.signature = sign(secret, r.canonical);
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
