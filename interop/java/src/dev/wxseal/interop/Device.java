package dev.wxseal.interop;

import dev.wxseal.B64u;
import dev.wxseal.Crypto;
import dev.wxseal.Json;
import dev.wxseal.Protocol;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * SPEC.md section 15 (devices), the parts both ends share and the device's side: the activation
 * request (15.3, 15.4), the key delivery (15.6: HKDF-SHA256, device key AAD, AES-256-GCM), device
 * requests with the serial as key id (15.2) and the device's half of the rotation exchange (15.7).
 * The server's half is {@link DeviceServer}.
 */
public final class Device {
    private Device() {}

    /** 15.3 and 15.7: the paths this document (and the reference) use. */
    public static final String ACTIVATION_PATH = "/wxseal/device/activate";
    public static final String ROTATION_PATH = "/wxseal/device/rotate";
    /** 15.3 / 15.5 step 1. */
    public static final int ACTIVATION_MAX_BYTES = 1024;
    /** 15.6 step 2. */
    public static final String INFO_ACTIVATE = "WXSEAL1 device-key activate";
    public static final String INFO_ROTATE = "WXSEAL1 device-key rotate";
    /** 15.1: key versions are 1 .. 2^31 - 1. */
    public static final long MAX_KEY_VERSION = 2147483647L;
    /** 15.3: exactly these members, in this order when written to reproduce the vectors. */
    static final String[] ACTIVATION_MEMBERS = {"productId", "serial", "timestamp", "nonce", "signature"};

    public static String infoFor(String purpose) {
        switch (purpose) {
            case "activate": return INFO_ACTIVATE;
            case "rotate": return INFO_ROTATE;
            default: throw new IllegalArgumentException("purpose " + purpose);
        }
    }

    // ------------------------------------------------------------------ syntax (15.1, 15.3)

    /** Key id syntax (section 2): product ids and serials. */
    public static boolean isId(String s) { return s != null && dev.wxseal.Verifier.isKeyId(s); }

    /** Wxseal-Timestamp syntax (section 4): 1-12 digits, no sign, no leading zero ("0" alone allowed). */
    public static boolean isTimestamp(String s) {
        return s != null && Verifier.isDigits(s, 1, 12) && !(s.length() > 1 && s.charAt(0) == '0');
    }

    /** Wxseal-Nonce syntax (section 4): 22-64 characters of the b64u alphabet (not decoded). */
    public static boolean isNonce(String s) {
        return s != null && s.length() >= 22 && s.length() <= 64 && B64u.isAlphabet(s);
    }

    /** Key version syntax (15.1): decimal 1 .. 2147483647, no sign, no leading zero. */
    public static boolean isKeyVersion(String s) {
        if (s == null || !Verifier.isDigits(s, 1, 10) || s.charAt(0) == '0') return false;
        return Long.parseLong(s) <= MAX_KEY_VERSION;
    }

    // ------------------------------------------------------------------ 15.4 canonical activation string

    public static String activationCanonical(String productId, String serial, String timestamp, String nonce) {
        return String.join("\n", "WXSEAL1-DEVICE-ACTIVATE", productId, serial, timestamp, nonce);
    }

    public static byte[] activationSignature(byte[] productSecret, String canonical) {
        return Crypto.hmacSha256(productSecret, Crypto.utf8(canonical));
    }

    // ------------------------------------------------------------------ 15.3 the activation request

    public static final class ActivationRequest {
        public String productId, serial, timestamp, nonce, signature; // signature: the b64u text
        public byte[] signatureBytes;
        public String canonical;
        /** Device side: the body as written; headers of the request. */
        public String body;
        public final Map<String, String> headers = new LinkedHashMap<>();
    }

    /** Device: sign and write the activation request (members in the order of the table, no whitespace). */
    public static ActivationRequest buildActivation(String productId, String serial, byte[] productSecret,
                                                    String timestamp, String nonce) {
        if (!isId(productId)) throw new IllegalArgumentException("product id syntax");
        if (!isId(serial)) throw new IllegalArgumentException("serial syntax");
        if (!isTimestamp(timestamp)) throw new IllegalArgumentException("timestamp syntax");
        if (!isNonce(nonce)) throw new IllegalArgumentException("nonce syntax");
        if (productSecret.length < 32 || productSecret.length > 64) throw new IllegalArgumentException("product secret is 32-64 bytes");
        ActivationRequest a = new ActivationRequest();
        a.productId = productId;
        a.serial = serial;
        a.timestamp = timestamp;
        a.nonce = nonce;
        a.canonical = activationCanonical(productId, serial, timestamp, nonce);
        a.signatureBytes = activationSignature(productSecret, a.canonical);
        a.signature = B64u.encode(a.signatureBytes);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("productId", productId);
        m.put("serial", serial);
        m.put("timestamp", timestamp);
        m.put("nonce", nonce);
        m.put("signature", a.signature);
        a.body = Json.stringify(m);
        a.headers.put("content-type", "application/json");
        return a;
    }

    /**
     * Server, 15.5 step 2: the body syntax of 15.3 (the size is step 1). Strict UTF-8 without a BOM,
     * one JSON object, exactly the five members, each a string within its syntax, the signature 43
     * characters decoding strictly to 32 bytes. JSON escapes stand for their character; a repeated
     * member keeps the last (SPEC: MAY reject or keep the last). Throws for WXSEAL_MALFORMED_PAYLOAD.
     */
    public static ActivationRequest parseActivation(byte[] body) throws Protocol.MalformedException {
        String text = Protocol.strictUtf8(body);
        if (!text.isEmpty() && text.charAt(0) == '\uFEFF') throw new Protocol.MalformedException("byte-order mark");
        Object v;
        try { v = Json.parse(text); }
        catch (Json.ParseException e) { throw new Protocol.MalformedException("not JSON: " + e.getMessage()); }
        if (!(v instanceof Map)) throw new Protocol.MalformedException("not a JSON object");
        Map<String, Object> m = Json.obj(v);
        for (String k : m.keySet()) {
            boolean known = false;
            for (String a : ACTIVATION_MEMBERS) known |= a.equals(k);
            if (!known) throw new Protocol.MalformedException("unknown member " + k);
        }
        String[] val = new String[ACTIVATION_MEMBERS.length];
        for (int k = 0; k < ACTIVATION_MEMBERS.length; k++) {
            Object o = m.get(ACTIVATION_MEMBERS[k]);
            if (o == null) throw new Protocol.MalformedException("member " + ACTIVATION_MEMBERS[k] + " absent");
            if (!(o instanceof String)) throw new Protocol.MalformedException("member " + ACTIVATION_MEMBERS[k] + " is not a string");
            val[k] = (String) o;
        }
        ActivationRequest a = new ActivationRequest();
        a.productId = val[0];
        a.serial = val[1];
        a.timestamp = val[2];
        a.nonce = val[3];
        a.signature = val[4];
        if (!isId(a.productId)) throw new Protocol.MalformedException("productId syntax");
        if (!isId(a.serial)) throw new Protocol.MalformedException("serial syntax");
        if (!isTimestamp(a.timestamp)) throw new Protocol.MalformedException("timestamp syntax");
        if (!isNonce(a.nonce)) throw new Protocol.MalformedException("nonce syntax");
        if (a.signature.length() != 43) throw new Protocol.MalformedException("signature is not 43 characters");
        try { a.signatureBytes = B64u.decode(a.signature); }
        catch (B64u.MalformedException e) { throw new Protocol.MalformedException("signature: " + e.getMessage()); }
        if (a.signatureBytes.length != 32) throw new Protocol.MalformedException("signature is not 32 bytes");
        a.canonical = activationCanonical(a.productId, a.serial, a.timestamp, a.nonce);
        a.body = text;
        return a;
    }

    // ------------------------------------------------------------------ 15.6 key delivery

    /** salt = UTF-8(request nonce) || server nonce (32 bytes). */
    public static byte[] deliverySalt(String requestNonce, byte[] serverNonce) {
        return Crypto.concat(Crypto.utf8(requestNonce), serverNonce);
    }

    /** OKM = HKDF-SHA256(IKM = wrapping secret, salt, info, L = 44): wrap key [0,32), wrap iv [32,44). */
    public static byte[] deliveryOkm(byte[] wrappingSecret, String requestNonce, byte[] serverNonce, String info) {
        return Crypto.hkdfSha256(wrappingSecret, deliverySalt(requestNonce, serverNonce), Crypto.utf8(info), 44);
    }

    public static String deviceKeyAad(String productId, String serial, String keyVersion) {
        return String.join("\n", "WXSEAL1-DEVICE-KEY", productId, serial, keyVersion);
    }

    public static final class Delivery {
        public String purpose, info, keyVersion, aad, body;
        public byte[] serverNonce, deviceKey, salt, okm, sealedKey;
        public final Map<String, String> headers = new LinkedHashMap<>();
    }

    /** Server: seal a device key for one request (15.6 steps 1-4) and write the answer body. */
    public static Delivery seal(String purpose, byte[] wrappingSecret, String productId, String serial,
                                String requestNonce, String keyVersion, byte[] deviceKey, byte[] serverNonce) {
        if (deviceKey.length != 32) throw new IllegalArgumentException("device key is 32 bytes");
        if (serverNonce.length != 32) throw new IllegalArgumentException("server nonce is 32 bytes");
        if (!isKeyVersion(keyVersion)) throw new IllegalArgumentException("key version syntax");
        Delivery d = new Delivery();
        d.purpose = purpose;
        d.info = infoFor(purpose);
        d.keyVersion = keyVersion;
        d.serverNonce = serverNonce;
        d.deviceKey = deviceKey;
        d.salt = deliverySalt(requestNonce, serverNonce);
        d.okm = Crypto.hkdfSha256(wrappingSecret, d.salt, Crypto.utf8(d.info), 44);
        d.aad = deviceKeyAad(productId, serial, keyVersion);
        d.sealedKey = Crypto.aesGcmEncrypt(Crypto.slice(d.okm, 0, 32), Crypto.slice(d.okm, 32, 44), Crypto.utf8(d.aad), deviceKey);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("keyVersion", keyVersion);
        m.put("serverNonce", B64u.encode(serverNonce));
        m.put("sealedKey", B64u.encode(d.sealedKey));
        d.body = Json.stringify(m);
        d.headers.put("content-type", "application/json");
        d.headers.put("cache-control", "no-store");
        return d;
    }

    /** What the device knows when it opens a delivery: everything but the answer. */
    public static final class Binding {
        public String purpose, productId, serial, requestNonce;
        public byte[] wrappingSecret;
        public Binding(String purpose, byte[] wrappingSecret, String productId, String serial, String requestNonce) {
            this.purpose = purpose; this.wrappingSecret = wrappingSecret; this.productId = productId;
            this.serial = serial; this.requestNonce = requestNonce;
        }
    }

    public static final class Opened {
        public String keyVersion;
        public byte[] deviceKey;
    }

    /**
     * Device, 15.6 steps 2-3 on the body of a 200 answer: a JSON object whose keyVersion has the key
     * version syntax, serverNonce is 43 b64u characters decoding strictly to 32 bytes and sealedKey 64
     * characters decoding strictly to 48 bytes, each a string; unknown members ignored; then derive
     * with the device's own binding and the keyVersion received, and decrypt. Any failure is
     * WXSEAL_RESPONSE_INVALID.
     */
    public static Opened open(Binding b, byte[] body) throws Protocol.ResponseInvalidException {
        Map<String, Object> m;
        try {
            Object v = Json.parse(Protocol.strictUtf8(body));
            if (!(v instanceof Map)) throw new Protocol.ResponseInvalidException("delivery is not a JSON object");
            m = Json.obj(v);
        } catch (Protocol.MalformedException | Json.ParseException e) {
            throw new Protocol.ResponseInvalidException("delivery is not JSON: " + e.getMessage());
        }
        String ver = member(m, "keyVersion"), sn = member(m, "serverNonce"), sk = member(m, "sealedKey");
        if (!isKeyVersion(ver)) throw new Protocol.ResponseInvalidException("keyVersion syntax: " + ver);
        if (sn.length() != 43) throw new Protocol.ResponseInvalidException("serverNonce is not 43 characters");
        if (sk.length() != 64) throw new Protocol.ResponseInvalidException("sealedKey is not 64 characters");
        byte[] serverNonce, sealed;
        try { serverNonce = B64u.decode(sn); sealed = B64u.decode(sk); }
        catch (B64u.MalformedException e) { throw new Protocol.ResponseInvalidException("b64u: " + e.getMessage()); }
        if (serverNonce.length != 32 || sealed.length != 48) throw new Protocol.ResponseInvalidException("lengths");
        byte[] okm = deliveryOkm(b.wrappingSecret, b.requestNonce, serverNonce, infoFor(b.purpose));
        byte[] key;
        try {
            key = Crypto.aesGcmDecrypt(Crypto.slice(okm, 0, 32), Crypto.slice(okm, 32, 44),
                Crypto.utf8(deviceKeyAad(b.productId, b.serial, ver)), sealed);
        } catch (GeneralSecurityException e) {
            throw new Protocol.ResponseInvalidException("sealedKey does not open");
        }
        if (key.length != 32) throw new Protocol.ResponseInvalidException("device key is not 32 bytes");
        Opened o = new Opened();
        o.keyVersion = ver;
        o.deviceKey = key;
        return o;
    }

    private static String member(Map<String, Object> m, String k) throws Protocol.ResponseInvalidException {
        Object v = m.get(k);
        if (!(v instanceof String)) throw new Protocol.ResponseInvalidException(k + " is absent or not a string");
        return (String) v;
    }

    /** A verifier rejection the device recognised (15.6 step 1, as 6.4). */
    public static final class Rejected extends Exception {
        private static final long serialVersionUID = 1L;
        public final String code;
        public final String serverTime;
        Rejected(String code, String serverTime) { super(code); this.code = code; this.serverTime = serverTime; }
    }

    /** Lower-case header lookup in a map of response headers. */
    static String header(Map<String, String> h, String name) {
        for (Map.Entry<String, String> e : h.entrySet()) if (e.getKey().equalsIgnoreCase(name)) return e.getValue();
        return null;
    }

    /**
     * Device, 15.6: the answer to its activation request. Step 1: a Wxseal-Error naming a code of
     * section 10 with that code's status is a rejection. Step 2: otherwise the status must be 200.
     */
    public static Opened openActivationAnswer(Binding b, int status, Map<String, String> headers, byte[] body)
            throws Rejected, Protocol.ResponseInvalidException {
        String err = header(headers, "wxseal-error");
        if (Verifier.isWireCode(err) && Verifier.statusOf(err) == status) throw new Rejected(err, header(headers, "wxseal-server-time"));
        if (status != 200) throw new Protocol.ResponseInvalidException("status " + status + ", not 200");
        return open(b, body);
    }

    // ------------------------------------------------------------------ 15.2 device requests (sign-only)

    public static final class SignedRequest {
        public String method, target, canonical, nonce;
        public byte[] body;
        public final Map<String, String> headers = new LinkedHashMap<>();
    }

    /** A sign-only request of sections 4-5 with the serial as Wxseal-Key-Id and the device key as secret. */
    public static SignedRequest signRequest(String serial, byte[] deviceKey, String method, String target,
                                            String contentType, byte[] body, String traceparent,
                                            String timestamp, String nonce) {
        SignedRequest r = new SignedRequest();
        r.method = method;
        r.target = target;
        r.body = body;
        r.nonce = nonce;
        Protocol.SignedFields f = new Protocol.SignedFields();
        f.mode = "signed";
        f.method = method;
        f.path = Protocol.pathOf(target);
        f.canonicalQuery = Protocol.canonicalQuery(Protocol.rawQueryOf(target));
        f.timestamp = timestamp;
        f.nonce = nonce;
        f.keyId = serial;
        f.contentType = Protocol.trimSpTab(contentType);
        f.traceparent = traceparent == null ? "" : traceparent;
        f.bodySha256Hex = Crypto.hex(Crypto.sha256(body));
        r.canonical = Protocol.canonicalRequest(f);
        r.headers.put("wxseal-version", "1");
        r.headers.put("wxseal-mode", "signed");
        r.headers.put("wxseal-key-id", serial);
        r.headers.put("wxseal-timestamp", timestamp);
        r.headers.put("wxseal-nonce", nonce);
        if (contentType != null) r.headers.put("content-type", contentType);
        if (traceparent != null) r.headers.put("traceparent", traceparent);
        r.headers.put("wxseal-signature", B64u.encode(Protocol.sign(deviceKey, r.canonical)));
        return r;
    }

    /** Section 12 from the device: the response signature, compared in constant time. */
    public static void checkSignedResponse(String serial, byte[] deviceKey, String requestNonce, int status,
                                           Map<String, String> headers, byte[] body) throws Protocol.ResponseInvalidException {
        String sig = header(headers, "wxseal-signature");
        if (sig == null) throw new Protocol.ResponseInvalidException("no Wxseal-Signature");
        byte[] got;
        try { got = B64u.decode(sig); }
        catch (B64u.MalformedException e) { throw new Protocol.ResponseInvalidException("Wxseal-Signature: " + e.getMessage()); }
        byte[] want = Protocol.sign(deviceKey, Protocol.canonicalResponse(serial, requestNonce, status, header(headers, "content-type"), body));
        if (got.length != 32 || !Crypto.constantTimeEquals(want, got)) throw new Protocol.ResponseInvalidException("response signature");
    }

    /**
     * Device, 15.7 step 3 for a sign-only rotation request: authenticate the response (section 12),
     * then open the delivery with the current key (15.6 steps 2-3, info "WXSEAL1 device-key rotate").
     */
    public static Opened openRotationAnswer(String productId, String serial, byte[] currentKey, String requestNonce,
                                            int status, Map<String, String> headers, byte[] body)
            throws Rejected, Protocol.ResponseInvalidException {
        String err = header(headers, "wxseal-error");
        if (Verifier.isWireCode(err) && Verifier.statusOf(err) == status) throw new Rejected(err, header(headers, "wxseal-server-time"));
        checkSignedResponse(serial, currentKey, requestNonce, status, headers, body);
        if (status != 200) throw new Protocol.ResponseInvalidException("status " + status + ", not 200");
        return open(new Binding("rotate", currentKey, productId, serial, requestNonce), body);
    }

    static String utf8(byte[] b) { return new String(b, StandardCharsets.UTF_8); }
}
