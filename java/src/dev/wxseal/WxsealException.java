package dev.wxseal;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A wxseal error: a verifier rejection (SPEC.md section 10: the code and its HTTP status) or an
 * error a client raises about an answer ({@code WXSEAL_RESPONSE_INVALID}, {@code WXSEAL_NETWORK}, ...).
 *
 * A verifier rejection knows how it is answered on the wire: {@link #responseHeaders()} and
 * {@link #responseBody()} give exactly the format of SPEC 10, including the {@code Wxseal-Signature}
 * of a signed rejection (10.1) when the request's signature had verified.
 */
public class WxsealException extends Exception {
    private static final long serialVersionUID = 1L;

    public static final String BODY_TOO_LARGE = "WXSEAL_BODY_TOO_LARGE";
    public static final String UNSUPPORTED_VERSION = "WXSEAL_UNSUPPORTED_VERSION";
    public static final String MISSING_HEADER = "WXSEAL_MISSING_HEADER";
    public static final String MALFORMED_HEADER = "WXSEAL_MALFORMED_HEADER";
    public static final String MODE_NOT_ALLOWED = "WXSEAL_MODE_NOT_ALLOWED";
    public static final String TIMESTAMP_EXPIRED = "WXSEAL_TIMESTAMP_EXPIRED";
    public static final String TIMESTAMP_FUTURE = "WXSEAL_TIMESTAMP_FUTURE";
    public static final String UNKNOWN_KEY_ID = "WXSEAL_UNKNOWN_KEY_ID";
    public static final String KEY_REVOKED = "WXSEAL_KEY_REVOKED";
    public static final String UNKNOWN_SERVER_KEY = "WXSEAL_UNKNOWN_SERVER_KEY";
    public static final String BAD_SIGNATURE = "WXSEAL_BAD_SIGNATURE";
    public static final String REPLAYED_NONCE = "WXSEAL_REPLAYED_NONCE";
    public static final String UNWRAP_FAILED = "WXSEAL_UNWRAP_FAILED";
    public static final String DECRYPT_FAILED = "WXSEAL_DECRYPT_FAILED";
    public static final String MALFORMED_PAYLOAD = "WXSEAL_MALFORMED_PAYLOAD";
    public static final String NONCE_STORE_FULL = "WXSEAL_NONCE_STORE_FULL";
    public static final String NONCE_STORE_UNAVAILABLE = "WXSEAL_NONCE_STORE_UNAVAILABLE";
    public static final String NONCE_STORE_RESET = "WXSEAL_NONCE_STORE_RESET";
    public static final String KEY_STORE_UNAVAILABLE = "WXSEAL_KEY_STORE_UNAVAILABLE";
    public static final String CREDENTIALS_STALE = "WXSEAL_CREDENTIALS_STALE";
    public static final String ROUTE_NOT_FOUND = "WXSEAL_ROUTE_NOT_FOUND";
    public static final String TOO_MANY_HEADERS = "WXSEAL_TOO_MANY_HEADERS";
    // raised by a client only, never sent on the wire (SPEC 10)
    public static final String RESPONSE_INVALID = "WXSEAL_RESPONSE_INVALID";
    public static final String TIMEOUT = "WXSEAL_TIMEOUT";
    public static final String NETWORK = "WXSEAL_NETWORK";
    public static final String CONFIG_INVALID = "WXSEAL_CONFIG_INVALID";

    private static final Map<String, Integer> STATUS;
    static {
        Map<String, Integer> m = new HashMap<>();
        Object[][] t = {
            {BODY_TOO_LARGE, 413}, {UNSUPPORTED_VERSION, 400}, {MISSING_HEADER, 400}, {MALFORMED_HEADER, 400},
            {MODE_NOT_ALLOWED, 403}, {TIMESTAMP_EXPIRED, 401}, {TIMESTAMP_FUTURE, 401}, {UNKNOWN_KEY_ID, 401},
            {KEY_REVOKED, 401}, {UNKNOWN_SERVER_KEY, 400}, {BAD_SIGNATURE, 401}, {REPLAYED_NONCE, 401},
            {UNWRAP_FAILED, 400}, {DECRYPT_FAILED, 400}, {MALFORMED_PAYLOAD, 400}, {NONCE_STORE_FULL, 503},
            {NONCE_STORE_UNAVAILABLE, 503}, {NONCE_STORE_RESET, 503}, {KEY_STORE_UNAVAILABLE, 503},
            {CREDENTIALS_STALE, 503}, {ROUTE_NOT_FOUND, 404}, {TOO_MANY_HEADERS, 431},
        };
        for (Object[] r : t) m.put((String) r[0], (Integer) r[1]);
        STATUS = Collections.unmodifiableMap(m);
    }

    /** True for the codes of SPEC 10, the only values of Wxseal-Error a client takes for a rejection (6.4). */
    public static boolean isWireCode(String code) { return code != null && STATUS.containsKey(code); }

    /** The HTTP status of a code of SPEC 10. */
    public static int statusOf(String code) {
        Integer s = STATUS.get(code);
        if (s == null) throw new IllegalArgumentException("not a wire code: " + code);
        return s;
    }

    private final String code;
    private final int status;
    private final String serverTime;   // Wxseal-Server-Time of a verifier rejection; null otherwise
    private final String signature;    // Wxseal-Signature of a signed rejection (10.1); null when unsigned

    /** A client-side error (no HTTP status of its own: 0). */
    public WxsealException(String code, String message) { this(code, message, null); }

    public WxsealException(String code, String message, Throwable cause) {
        super(code + ": " + message, cause);
        this.code = code;
        this.status = STATUS.getOrDefault(code, 0);
        this.serverTime = null;
        this.signature = null;
    }

    /** A verifier rejection of SPEC 10, signed (10.1) when signature is not null. */
    public WxsealException(String code, String message, long serverTime, String signature) {
        super(code + ": " + message, null, false, false); // cheap: forged traffic raises many of these
        this.code = code;
        this.status = statusOf(code);
        this.serverTime = Long.toString(serverTime);
        this.signature = signature;
    }

    public String code() { return code; }
    public int status() { return status; }
    /** True when this is a verifier rejection that goes on the wire (SPEC 10). */
    public boolean isRejection() { return serverTime != null; }
    /** True for a signed rejection (SPEC 10.1), raised after the request's signature verified. */
    public boolean isSigned() { return signature != null; }
    public String serverTime() { return serverTime; }
    public String rejectionSignature() { return signature; }

    /** The headers of the rejection (SPEC 10): Wxseal-Error, Wxseal-Server-Time, Content-Type, and Wxseal-Signature when signed. */
    public Map<String, String> responseHeaders() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("Wxseal-Error", code);
        if (serverTime != null) h.put("Wxseal-Server-Time", serverTime);
        h.put("Content-Type", "application/json");
        if (signature != null) h.put("Wxseal-Signature", signature);
        return h;
    }

    /** {"error":{"code":"...","message":"..."}}: a fixed text per code, never echoing request data. */
    public byte[] responseBody() {
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("code", code);
        err.put("message", humanMessage(code));
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("error", err);
        return Json.stringify(o).getBytes(StandardCharsets.UTF_8);
    }

    static String humanMessage(String code) {
        switch (code) {
            case BODY_TOO_LARGE: return "the body exceeds the limit";
            case UNSUPPORTED_VERSION: return "Wxseal-Version is not 1";
            case MISSING_HEADER: return "a required header is absent";
            case MALFORMED_HEADER: return "a header or the request target is malformed";
            case MODE_NOT_ALLOWED: return "the route does not accept this mode";
            case TIMESTAMP_EXPIRED: return "the timestamp is older than the window";
            case TIMESTAMP_FUTURE: return "the timestamp is further ahead than the window";
            case UNKNOWN_KEY_ID: return "no credential has this key id";
            case KEY_REVOKED: return "the credential is revoked or not valid now";
            case UNKNOWN_SERVER_KEY: return "the server holds no key with this server key id";
            case BAD_SIGNATURE: return "the signature does not match";
            case REPLAYED_NONCE: return "this nonce was already accepted";
            case UNWRAP_FAILED: return "the wrapped key does not decrypt";
            case DECRYPT_FAILED: return "the body does not decrypt";
            case MALFORMED_PAYLOAD: return "the decrypted payload is malformed";
            case NONCE_STORE_FULL: return "the nonce store is full";
            case NONCE_STORE_UNAVAILABLE: return "the nonce store cannot be reached";
            case NONCE_STORE_RESET: return "the nonce store lost its records; send a new request";
            case KEY_STORE_UNAVAILABLE: return "the credential store cannot be reached";
            case CREDENTIALS_STALE: return "the credentials cannot be confirmed";
            default: return "request refused";
        }
    }
}
