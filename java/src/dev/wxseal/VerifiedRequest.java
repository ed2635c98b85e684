package dev.wxseal;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request that passed every step of SPEC 9. It holds what the application may trust (the key id
 * that signed it, the WeChat identity of SPEC 7, the plaintext body and its content type) and the
 * request's own keys, with which it answers: {@link #respond} seals the response (SPEC 6.3) in
 * sealed mode and signs it (SPEC 12) in sign-only mode.
 */
public final class VerifiedRequest {
    private final String mode, keyId, nonce, method;
    private final Map<String, String> identity;
    private final boolean identityPresent;
    private final byte[] body;
    private final String contentType;
    private final byte[] secret, sessionKey;
    private final Protocol.Suite suite;
    private final String secretId;

    VerifiedRequest(String mode, String keyId, String nonce, String method, Map<String, Object> identity, String contentType,
                    byte[] body, byte[] secret, String secretId, byte[] sessionKey, Protocol.Suite suite) {
        this.suite = suite;
        this.secretId = secretId;
        this.mode = mode;
        this.keyId = keyId;
        this.nonce = nonce;
        this.method = method;
        Map<String, String> id = new LinkedHashMap<>();
        if (identity != null) identity.forEach((k, v) -> id.put(k, (String) v));
        this.identity = Collections.unmodifiableMap(id);
        this.identityPresent = identity != null;
        this.contentType = contentType;
        this.body = body;
        this.secret = secret;
        this.sessionKey = sessionKey;
    }

    /** {@code sealed} or {@code signed}. */
    public String mode() { return mode; }
    public boolean sealed() { return mode.equals("sealed"); }
    /** The client's key id: the credential whose secret verified the signature. */
    public String keyId() { return keyId; }
    /** The id the credential store gave the secret that verified the signature ({@link CredentialStore.Secret#id()}), or null. */
    public String secretId() { return secretId; }
    public String nonce() { return nonce; }
    public String method() { return method; }
    /** The identity of SPEC 7: known members only (openid, appid, unionid, env, source), in that order; empty when absent. */
    public Map<String, String> identity() { return identity; }
    /** True when the request carried an identity (even one with no known member). */
    public boolean identityPresent() { return identityPresent; }
    /** The identity as JSON (the reference serialisation), "{}" when absent. */
    public String identityJson() { return Json.stringify(new LinkedHashMap<String, Object>(identity)); }
    /** The plaintext body (sealed mode: decrypted; sign-only: as sent). */
    public byte[] body() { return body.clone(); }
    /** The suite of the request: {@link Protocol.Suite#SM} when it was sealed to an SM2 server key (SPEC 6.6). */
    public Protocol.Suite suite() { return suite; }
    /** The body's media type (sealed mode: from the meta; sign-only: the trimmed header), null when absent. */
    public String contentType() { return contentType; }

    /**
     * The authenticated answer to this request, whatever the status (SPEC 10.2): sealed mode per
     * SPEC 6.3 (1xx, 204 and 304 sent as 200 with an empty inner body), sign-only mode per SPEC 12.
     *
     * @param head true when answering a HEAD request (sign-only mode: the body signed is empty)
     */
    public WxsealResponse respond(int status, String contentType, byte[] body, boolean head) {
        if (body == null) body = new byte[0];
        if (sealed()) {
            Protocol.SealedResponse r = Protocol.sealResponse(suite, sessionKey, Crypto.random(32), keyId, nonce, status, contentType, body);
            Map<String, String> h = new LinkedHashMap<>();
            h.put("Content-Type", Protocol.SEALED_CT);
            h.put("Wxseal-Response-Nonce", r.headers.get("wxseal-response-nonce"));
            return new WxsealResponse(r.wireStatus, h, r.body);
        }
        boolean noContent = Protocol.noContentStatus(status);
        byte[] sent = noContent || head ? new byte[0] : body;
        String ct = noContent ? null : contentType;
        String canonical = Protocol.canonicalResponse(keyId, nonce, status, ct == null ? "" : ct, sent);
        Map<String, String> h = new LinkedHashMap<>();
        if (ct != null) h.put("Content-Type", ct);
        h.put("Wxseal-Signature", B64u.encode(Protocol.sign(secret, canonical)));
        return new WxsealResponse(status, h, sent);
    }

    public WxsealResponse respond(int status, String contentType, byte[] body) {
        return respond(status, contentType, body, "HEAD".equals(method));
    }
}
