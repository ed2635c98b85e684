package dev.wxseal;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.security.PublicKey;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A wxseal client for Java services: sends sealed requests (SPEC 5, 6.2) to a wxseal server or
 * gateway with {@link java.net.http.HttpClient} and opens the sealed answer (SPEC 6.4).
 *
 * <pre>
 * Client client = Client.builder()
 *     .baseUrl("https://api.example.com")
 *     .credential("bff-1", secretBytes)
 *     .serverKeyPem("sk-0123456789abcdef", serverPublicKeySpkiPem)   // RSA, X25519 or SM2: the suite follows the key
 *     .build();
 * Client.Response r = client.send("POST", "/api/orders?x=1", "application/json", bodyBytes,
 *     Map.of("openid", "o-123", "appid", "wx123"));
 * </pre>
 *
 * Every request gets a new session key, IV and nonce (no session-key reuse, SPEC 14). With
 * {@code mode("signed")} requests are sign-only (SPEC 3): the body travels in clear, both ways authenticated. A verifier
 * rejection (a {@code Wxseal-Error} of SPEC 10 with its status) is thrown as a {@link WxsealException}
 * with that code; an answer that does not open is {@code WXSEAL_RESPONSE_INVALID}. Thread-safe.
 */
public final class Client {
    private final URI base;
    private final String keyId;
    private final byte[] secret;
    private final String serverKeyId;
    private final PublicKey serverKey;
    private final HttpClient http;
    private final Duration timeout;
    private final boolean signOnly;

    private Client(Builder b) {
        this.base = b.base;
        this.keyId = b.keyId;
        this.secret = b.secret;
        this.serverKeyId = b.serverKeyId;
        this.serverKey = b.serverKey;
        this.timeout = b.timeout;
        this.signOnly = b.signOnly;
        this.http = b.http != null ? b.http
            : HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(b.connectTimeout).build();
    }

    public static Builder builder() { return new Builder(); }

    public static final class Builder {
        private URI base;
        private String keyId, serverKeyId;
        private byte[] secret;
        private PublicKey serverKey;
        private HttpClient http;
        private Duration timeout = Duration.ofSeconds(30), connectTimeout = Duration.ofSeconds(10);
        private boolean signOnly;

        /** The server's base URL, e.g. {@code http://127.0.0.1:8080} (a path prefix is kept). */
        public Builder baseUrl(String url) { this.base = URI.create(url.replaceAll("/+$", "")); return this; }
        public Builder credential(String keyId, byte[] secret) {
            if (!Verifier.isKeyId(keyId)) throw new IllegalArgumentException("not a key id: " + keyId);
            if (secret.length < 32 || secret.length > 64) throw new IllegalArgumentException("a client secret is 32-64 bytes");
            this.keyId = keyId;
            this.secret = secret.clone();
            return this;
        }
        /**
         * The server public key (RSA 2048-4096, X25519, or SM2 {@link Sm2PublicKey}: the SM suite of
         * SPEC 6.6) and its server key id.
         */
        public Builder serverKey(String serverKeyId, PublicKey key) {
            if (!Verifier.isKeyId(serverKeyId)) throw new IllegalArgumentException("not a server key id: " + serverKeyId);
            this.serverKeyId = serverKeyId;
            this.serverKey = key;
            return this;
        }
        /** The server public key as SPKI PEM (RSA, X25519 or SM2), or the armored {@code WXSEAL SM2 PUBLIC KEY} hex form. */
        public Builder serverKeyPem(String serverKeyId, String spkiPem) {
            return serverKey(serverKeyId, Crypto.serverPublicKeyFromSpkiPem(spkiPem));
        }
        public Builder timeout(Duration d) { this.timeout = d; return this; }
        public Builder connectTimeout(Duration d) { this.connectTimeout = d; return this; }
        public Builder httpClient(HttpClient c) { this.http = c; return this; }
        /**
         * "sealed" (default: SPEC 6, body and identity encrypted) or "signed" (SPEC 3 sign-only: the body
         * travels in clear, request and response are authenticated with HMAC; no server key needed).
         */
        public Builder mode(String mode) {
            if (!mode.equals("sealed") && !mode.equals("signed")) throw new IllegalArgumentException("mode " + mode);
            this.signOnly = mode.equals("signed");
            return this;
        }

        public Client build() {
            if (base == null || keyId == null) throw new IllegalStateException("baseUrl and credential are required");
            if (!signOnly && serverKey == null) throw new IllegalStateException("sealed mode needs the server public key (serverKey)");
            return new Client(this);
        }
    }

    /** An opened, authenticated answer: the status received, the inner content type and the body. */
    public static final class Response {
        private final int status;
        private final String contentType;
        private final byte[] body;
        Response(int status, String contentType, byte[] body) { this.status = status; this.contentType = contentType; this.body = body; }
        public int status() { return status; }
        public String contentType() { return contentType; }
        public byte[] body() { return body.clone(); }
        public String text() { return new String(body, java.nio.charset.StandardCharsets.UTF_8); }
    }

    /** A sealed request built but not sent (SPEC 6.2 + 5), with the key that opens its answer. */
    public static final class Prepared {
        public final String method, target, nonce;
        public final Map<String, String> headers;
        public final byte[] body;
        final byte[] sessionKey; // null in sign-only mode
        final Protocol.Suite suite;
        Prepared(String method, String target, String nonce, Map<String, String> headers, byte[] body, byte[] sessionKey,
                 Protocol.Suite suite) {
            this.method = method; this.target = target; this.nonce = nonce; this.headers = headers; this.body = body; this.sessionKey = sessionKey;
            this.suite = suite;
        }
    }

    /** Build a sealed request for a target (raw path and query, as it goes on the request line). */
    public Prepared prepare(String method, String target, String contentType, byte[] body, Map<String, String> identity) {
        if (!Verifier.isMethod(method)) throw new IllegalArgumentException("method must be 1-16 letters A-Z");
        if (!signOnly && method.equals("HEAD")) throw new IllegalArgumentException("sealed mode MUST NOT be used with HEAD (SPEC 3)");
        String problem = Protocol.targetProblem(target);
        if (problem != null) throw new IllegalArgumentException("request target: " + problem);
        Map<String, Object> id = null;
        if (identity != null && !identity.isEmpty()) {
            id = new LinkedHashMap<>();
            for (String k : Protocol.IDENTITY_MEMBERS) if (identity.get(k) != null) id.put(k, identity.get(k));
        }
        String nonce = B64u.encode(Crypto.random(16));
        String timestamp = Long.toString(Math.floorDiv(System.currentTimeMillis(), 1000));
        if (signOnly) return prepareSigned(method, target, timestamp, nonce, contentType, id, body == null ? new byte[0] : body);
        Protocol.Suite suite = Protocol.Suite.of(serverKey);
        byte[] sessionKey = Crypto.random(suite.sessionKeyBytes());
        Protocol.SealedRequest r = Protocol.sealRequest(suite, method, target, keyId, secret, serverKeyId, serverKey, null,
            sessionKey, Crypto.random(12), timestamp, nonce, contentType, id, null, body == null ? new byte[0] : body);
        return new Prepared(method, target, nonce, r.headers, r.body, sessionKey, suite);
    }

    /** SPEC 5 in sign-only mode: the body as is, the identity in Wxseal-Identity (b64u of its JSON). */
    private Prepared prepareSigned(String method, String target, String timestamp, String nonce, String contentType,
                                   Map<String, Object> identity, byte[] body) {
        if (contentType != null && (contentType.length() > 256 || !Verifier.isFieldText(contentType)))
            throw new IllegalArgumentException("content type: at most 256 characters 0x20-0x7E and tab");
        Protocol.SignedFields f = new Protocol.SignedFields();
        f.mode = "signed";
        f.method = method;
        f.path = Protocol.pathOf(target);
        f.canonicalQuery = Protocol.canonicalQuery(Protocol.rawQueryOf(target));
        f.timestamp = timestamp;
        f.nonce = nonce;
        f.keyId = keyId;
        f.contentType = Protocol.trimSpTab(contentType);
        f.identity = identity == null ? "" : B64u.encode(Crypto.utf8(Json.stringify(identity)));
        f.bodySha256Hex = Crypto.hex(Crypto.sha256(body));
        Map<String, String> h = new LinkedHashMap<>();
        h.put("wxseal-version", "1");
        h.put("wxseal-mode", "signed");
        h.put("wxseal-key-id", keyId);
        h.put("wxseal-timestamp", timestamp);
        h.put("wxseal-nonce", nonce);
        if (contentType != null) h.put("content-type", contentType);
        if (identity != null) h.put("wxseal-identity", f.identity);
        h.put("wxseal-signature", B64u.encode(Protocol.sign(secret, Protocol.canonicalRequest(f))));
        return new Prepared(method, target, nonce, h, body, null, Protocol.Suite.SHA256);
    }

    /**
     * Open the answer to a prepared request; a verifier rejection is thrown with its code. Sealed
     * mode: SPEC 6.4. Sign-only mode: the Wxseal-Signature of SPEC 12 over the status, the content
     * type and the body received (pass them as received; signature = the Wxseal-Signature header).
     */
    public Response open(Prepared p, int status, String contentType, String errorCode, String responseNonceOrSignature, byte[] body)
            throws WxsealException {
        if (WxsealException.isWireCode(errorCode) && WxsealException.statusOf(errorCode) == status)
            throw new WxsealException(errorCode, "rejected by the server (HTTP " + status + ")");
        if (p.sessionKey == null) {
            byte[] got;
            try { got = responseNonceOrSignature == null ? null : B64u.decode(responseNonceOrSignature); }
            catch (B64u.MalformedException e) { got = null; }
            if (got == null || got.length != 32)
                throw new WxsealException(WxsealException.RESPONSE_INVALID, "no valid Wxseal-Signature on the answer");
            byte[] b = body == null ? new byte[0] : body;
            byte[] want = Protocol.sign(secret, Protocol.canonicalResponse(keyId, p.nonce, status, contentType, b));
            if (!Crypto.constantTimeEquals(want, got))
                throw new WxsealException(WxsealException.RESPONSE_INVALID, "the answer's signature does not verify");
            return new Response(status, contentType == null ? null : Protocol.trimSpTab(contentType), b);
        }
        String responseNonce = responseNonceOrSignature;
        try {
            Protocol.Payload pl = Protocol.openResponse(p.suite, p.sessionKey, keyId, p.nonce, status, contentType, responseNonce, body);
            return new Response(status, pl.contentType, pl.body);
        } catch (Protocol.ResponseInvalidException e) {
            throw new WxsealException(WxsealException.RESPONSE_INVALID, e.getMessage());
        }
    }

    /**
     * Send a sealed request and open its answer.
     *
     * @param target   path and optional query, e.g. {@code /api/orders?id=7} (visible ASCII, already percent-encoded)
     * @param identity the WeChat identity to assert (SPEC 7; openid, appid, unionid, env, source), or null
     */
    public Response send(String method, String target, String contentType, byte[] body, Map<String, String> identity)
            throws WxsealException {
        String basePath = base.getRawPath() == null ? "" : base.getRawPath();
        Prepared p = prepare(method, basePath + target, contentType, body, identity);
        URI uri = URI.create(base.getScheme() + "://" + base.getRawAuthority() + p.target);
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout)
            .method(method, HttpRequest.BodyPublishers.ofByteArray(p.body));
        p.headers.forEach(b::header);
        HttpResponse<byte[]> resp;
        try {
            resp = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            throw new WxsealException(WxsealException.TIMEOUT, "no answer within " + timeout, e);
        } catch (IOException e) {
            throw new WxsealException(WxsealException.NETWORK, e.toString(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WxsealException(WxsealException.NETWORK, "interrupted", e);
        }
        return open(p, resp.statusCode(), resp.headers().firstValue("content-type").orElse(null),
            resp.headers().firstValue("wxseal-error").orElse(null),
            resp.headers().firstValue(signOnly ? "wxseal-signature" : "wxseal-response-nonce").orElse(null), resp.body());
    }
}
