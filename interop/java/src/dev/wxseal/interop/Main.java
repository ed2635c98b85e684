package dev.wxseal.interop;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Independent Java implementation of wxseal v1, written from SPEC.md alone.
 *
 *   java dev.wxseal.interop.Main check [vectorDir]      (default: spec/vectors)
 *   java dev.wxseal.interop.Main call baseUrl method path keyId secretB64u serverKeyId serverPublicKeyPemFile jsonBody
 */
public final class Main {

    public static void main(String[] args) throws Exception {
        if (args.length >= 1 && args[0].equals("call")) {
            System.exit(call(Arrays.copyOfRange(args, 1, args.length)));
        }
        if (args.length == 0 || args[0].equals("check")) {
            Path dir = Path.of(args.length >= 2 ? args[1] : "spec/vectors");
            Main m = new Main();
            m.verbose = args.length >= 3 && args[2].equals("-v");
            System.exit(m.checkAll(dir));
        }
        System.err.println("usage: Main check [vectorDir [-v]]\n"
            + "       Main call <baseUrl> <method> <path> <keyId> <secretB64u> <serverKeyId> <serverPublicKeyPemFile> <jsonBody>");
        System.exit(2);
    }

    // ================================================================== vector checks

    private int passed, failed;
    private boolean verbose;
    private List<String> caseFailures;

    private interface Body { void run() throws Exception; }

    /** One vector case is one unit: it passes when every comparison in it holds and nothing throws. */
    private void unit(String name, Body body) {
        caseFailures = new ArrayList<>();
        try {
            body.run();
        } catch (Throwable e) {
            caseFailures.add("exception " + e);
        }
        if (caseFailures.isEmpty()) {
            passed++;
            if (verbose) System.out.println("ok   " + name);
        } else {
            failed++;
            for (String f : caseFailures) System.out.println("FAIL " + name + ": " + f);
        }
    }

    private void eq(String what, Object expected, Object actual) {
        boolean same = expected == null ? actual == null : expected.equals(actual);
        if (!same) caseFailures.add(what + "\n    expected: " + show(expected) + "\n    actual:   " + show(actual));
    }

    private void eqBytes(String what, byte[] expected, byte[] actual) {
        if (!Arrays.equals(expected, actual))
            caseFailures.add(what + "\n    expected: " + B64u.encode(expected) + "\n    actual:   " + (actual == null ? "null" : B64u.encode(actual)));
    }

    private void check(String what, boolean ok) { if (!ok) caseFailures.add(what); }

    private static String orEmpty(String s) { return s == null ? "" : s; }

    private static String show(Object o) { return o == null ? "null" : o.toString().replace("\n", "\\n"); }

    private static Map<String, Object> load(Path dir, String file) throws IOException {
        return Json.obj(Json.parse(Files.readString(dir.resolve(file), StandardCharsets.UTF_8)));
    }

    private int checkAll(Path dir) {
        String[] files = {"canonical-query.json", "sign.json", "rsa-oaep.json", "seal-request.json", "response.json", "reject.json"};
        Map<String, Map<String, Object>> v = new LinkedHashMap<>();
        for (String f : files) {
            try { v.put(f, load(dir, f)); }
            catch (Exception e) { failed++; System.out.println("FAIL " + f + ": cannot load: " + e); }
        }
        if (v.containsKey("canonical-query.json")) canonicalQuery(v.get("canonical-query.json"));
        if (v.containsKey("sign.json")) sign(v.get("sign.json"));
        List<Object> rsaKeys = v.containsKey("rsa-oaep.json") ? Json.arr(v.get("rsa-oaep.json").get("keys")) : null;
        if (rsaKeys != null) rsaOaep(rsaKeys);
        if (v.containsKey("seal-request.json")) sealRequest(v.get("seal-request.json"), rsaKeys);
        if (v.containsKey("response.json")) response(v.get("response.json"));
        if (v.containsKey("reject.json")) reject(v.get("reject.json"), rsaKeys);
        if (passed == 0) { failed++; System.out.println("FAIL no vector case was checked"); }
        System.out.println(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    // ---------------------------------------------------------------- canonical-query.json

    private void canonicalQuery(Map<String, Object> file) {
        int n = 0;
        for (Object o : Json.arr(file.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("canonical-query[" + n++ + "] " + show(c.get("rawQuery")), () ->
                eq("canonical query", Json.str(c, "canonical"), Protocol.canonicalQuery(Json.str(c, "rawQuery"))));
        }
    }

    // ---------------------------------------------------------------- sign.json

    private void sign(Map<String, Object> file) {
        String emptySha = Json.str(file, "emptyBodySha256");
        int n = 0;
        for (Object o : Json.arr(file.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("sign[" + n++ + "] " + Json.str(c, "description"), () -> {
                eq("emptyBodySha256", Protocol.EMPTY_SHA256, Crypto.hex(Crypto.sha256(new byte[0])));
                if (emptySha != null) eq("emptyBodySha256 (file)", emptySha, Protocol.EMPTY_SHA256);
                Map<String, Object> fl = Json.obj(c.get("fields"));
                byte[] body = B64u.d(Json.str(c, "body"));
                String bodySha = Crypto.hex(Crypto.sha256(body));
                eq("fields.bodySha256 = hex(SHA-256(body))", Json.str(fl, "bodySha256"), bodySha);
                String cq = Protocol.canonicalQuery(Json.str(fl, "rawQuery"));
                if (fl.containsKey("canonicalQuery")) eq("fields.canonicalQuery", Json.str(fl, "canonicalQuery"), cq);
                Protocol.SignedFields f = new Protocol.SignedFields();
                f.mode = Json.str(fl, "mode");
                f.method = Json.str(fl, "method");
                f.path = Json.str(fl, "path");
                f.canonicalQuery = cq;
                f.timestamp = Json.str(fl, "timestamp");
                f.nonce = Json.str(fl, "nonce");
                f.keyId = Json.str(fl, "keyId");
                // SPEC 13: a null input means the field is absent, i.e. an empty line of the canonical string
                f.contentType = Protocol.trimSpTab(Json.str(fl, "contentType"));
                f.serverKeyId = orEmpty(Json.str(fl, "serverKeyId"));
                f.wrappedKey = orEmpty(Json.str(fl, "wrappedKey"));
                f.iv = orEmpty(Json.str(fl, "iv"));
                f.identity = orEmpty(Json.str(fl, "identity"));
                f.traceparent = orEmpty(Json.str(fl, "traceparent"));
                f.bodySha256Hex = bodySha;
                String canonical = Protocol.canonicalRequest(f);
                eq("canonical string", Json.str(c, "canonical"), canonical);
                byte[] sig = Protocol.sign(B64u.d(Json.str(c, "secret")), canonical);
                eq("signature", Json.str(c, "signature"), B64u.encode(sig));
                eq("signature length", 43, B64u.encode(sig).length());
                if (!f.identity.isEmpty()) { // the identity header must decode to a section 7 object
                    Protocol.checkIdentity(Json.parse(Protocol.strictUtf8(B64u.decode(f.identity))));
                }
            });
        }
    }

    // ---------------------------------------------------------------- rsa-oaep.json

    private void rsaOaep(List<Object> keys) {
        int ki = 0;
        for (Object ko : keys) {
            Map<String, Object> k = Json.obj(ko);
            int kidx = ki++;
            int n = 0;
            for (Object o : Json.arr(k.get("cases"))) {
                Map<String, Object> c = Json.obj(o);
                unit("rsa-oaep keys[" + kidx + "].cases[" + n++ + "]", () -> {
                    PrivateKey priv = Crypto.privateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem"));
                    PublicKey pub = Crypto.publicKeyFromSpkiPem(Json.str(k, "publicKeyPem"));
                    // key-level checks: the pair matches, the size and the reference key id
                    eq("public modulus = private modulus", ((RSAPublicKey) pub).getModulus(), ((RSAPrivateCrtKey) priv).getModulus());
                    eq("public exponent", java.math.BigInteger.valueOf(65537), ((RSAPublicKey) pub).getPublicExponent());
                    eq("modulus bits", Json.num(k, "bits"), (long) ((RSAPublicKey) pub).getModulus().bitLength());
                    eq("serverKeyId = sk- + 16 hex of SHA-256(DER SPKI)", Json.str(k, "serverKeyId"), Crypto.referenceServerKeyId(pub));
                    byte[] sessionKey = B64u.d(Json.str(c, "sessionKey"));
                    byte[] wrapped = B64u.d(Json.str(c, "wrapped"));
                    eq("wrapped length = modulus length", Crypto.modulusBytes(pub), wrapped.length);
                    eqBytes("unwrap(wrapped)", sessionKey, Crypto.rsaOaepDecrypt(priv, wrapped));
                    byte[] again = Crypto.rsaOaepEncrypt(pub, sessionKey);
                    eq("wrap length", Crypto.modulusBytes(pub), again.length);
                    eqBytes("unwrap(wrap(sessionKey))", sessionKey, Crypto.rsaOaepDecrypt(priv, again));
                });
            }
        }
    }

    // ---------------------------------------------------------------- seal-request.json

    private static Map<String, Object> rsaKey(List<Object> keys, Map<String, Object> file) {
        if (keys == null) throw new IllegalStateException("rsa-oaep.json not loaded");
        return Json.obj(keys.get((int) Json.num(file, "serverKeyIndex")));
    }

    private void sealRequest(Map<String, Object> file, List<Object> rsaKeys) {
        int n = 0;
        for (Object o : Json.arr(file.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("seal-request[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> key = rsaKey(rsaKeys, file);
                PrivateKey priv = Crypto.privateKeyFromPkcs8Pem(Json.str(key, "privateKeyPem"));
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                eq("input.mode", "sealed", Json.str(in, "mode"));
                byte[] secret = B64u.d(Json.str(in, "secret"));
                byte[] sessionKey = B64u.d(Json.str(in, "sessionKey"));
                byte[] wrapped = B64u.d(Json.str(in, "wrappedKey"));
                eq("input.serverKeyId names rsa-oaep key", Json.str(key, "serverKeyId"), Json.str(in, "serverKeyId"));
                eqBytes("unwrap(input.wrappedKey) = input.sessionKey", sessionKey, Crypto.rsaOaepDecrypt(priv, wrapped));
                Object idv = in.get("identity");
                Map<String, Object> identity = idv == null || idv == Json.NULL ? null : Json.obj(idv);
                byte[] body = B64u.d(Json.str(in, "body"));
                Protocol.SealedRequest r = Protocol.sealRequest(Json.str(in, "method"), Json.str(in, "target"),
                    Json.str(in, "keyId"), secret, Json.str(in, "serverKeyId"), null, wrapped, sessionKey,
                    B64u.d(Json.str(in, "iv")), Json.str(in, "timestamp"), Json.str(in, "nonce"),
                    Json.str(in, "contentType"), identity, Json.str(in, "traceparent"), body);
                eq("requestAad", Json.str(ex, "requestAad"), r.aad);
                eqBytes("plaintext", B64u.d(Json.str(ex, "plaintext")), r.plaintext);
                eqBytes("sealedBody", B64u.d(Json.str(ex, "sealedBody")), r.body);
                eq("bodySha256Hex", Json.str(ex, "bodySha256Hex"), Crypto.hex(Crypto.sha256(r.body)));
                eq("canonical", Json.str(ex, "canonical"), r.canonical);
                Map<String, Object> eh = Json.obj(ex.get("headers"));
                Map<String, Object> expectedHeaders = new LinkedHashMap<>(eh);
                eq("header names", new java.util.TreeSet<>(expectedHeaders.keySet()), new java.util.TreeSet<>(r.headers.keySet()));
                for (Map.Entry<String, Object> h : expectedHeaders.entrySet())
                    eq("header " + h.getKey(), h.getValue(), r.headers.get(h.getKey()));

                // Round trip through the independent verifier (section 9) and the sealed response (6.3/6.4).
                Verifier ver = rejectServer(B64u.encode(secret), Json.str(in, "keyId"), key);
                Verifier.Request req = new Verifier.Request();
                req.method = r.method;
                req.target = r.target;
                r.headers.forEach(req::header);
                req.body = r.body;
                Verifier.Result res = ver.verify(req, Long.parseLong(Json.str(in, "timestamp")));
                check("own verifier accepts the rebuilt request: " + res, res.accepted());
                if (res.accepted()) {
                    eqBytes("verifier: session key", sessionKey, res.sessionKey);
                    eqBytes("verifier: body", body, res.payload.body);
                    eq("verifier: content type", Json.str(in, "contentType"), res.payload.contentType);
                    eq("verifier: identity", identity == null ? null : Json.stringify(identity),
                        res.payload.identity == null ? null : Json.stringify(res.payload.identity));
                    byte[] rn = Crypto.random(32);
                    Protocol.SealedResponse sr = Protocol.sealResponse(res.sessionKey, rn, res.keyId, res.nonce, 201,
                        "text/plain", Crypto.utf8("created"));
                    Protocol.Payload back = Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"),
                        sr.wireStatus, sr.headers.get("content-type"), sr.headers.get("wxseal-response-nonce"), sr.body);
                    eq("response round trip body", "created", new String(back.body, StandardCharsets.UTF_8));
                    try {
                        Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"), 200,
                            sr.headers.get("content-type"), sr.headers.get("wxseal-response-nonce"), sr.body);
                        check("a response with a changed status must not open", false);
                    } catch (Protocol.ResponseInvalidException expected) { /* good */ }
                }
            });
        }
    }

    // ---------------------------------------------------------------- response.json

    private void response(Map<String, Object> file) {
        int n = 0;
        for (Object o : Json.arr(file.get("sealed"))) {
            Map<String, Object> c = Json.obj(o);
            unit("response.sealed[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                byte[] k = B64u.d(Json.str(in, "sessionKey"));
                byte[] rn = B64u.d(Json.str(in, "responseNonce"));
                int status = (int) Json.num(in, "status");
                byte[] body = B64u.d(Json.str(in, "body"));
                String ct = Json.str(in, "contentType");
                Protocol.SealedResponse r = Protocol.sealResponse(k, rn, Json.str(in, "keyId"), Json.str(in, "requestNonce"), status, ct, body);
                eq("okmHex", Json.str(ex, "okmHex"), Crypto.hex(r.okm));
                eq("responseKeyHex", Json.str(ex, "responseKeyHex"), Crypto.hex(Crypto.slice(r.okm, 0, 32)));
                eq("responseIvHex", Json.str(ex, "responseIvHex"), Crypto.hex(Crypto.slice(r.okm, 32, 44)));
                eq("wireStatus", Json.num(ex, "wireStatus"), (long) r.wireStatus);
                eq("responseAad", Json.str(ex, "responseAad"), r.aad);
                eqBytes("plaintext", B64u.d(Json.str(ex, "plaintext")), r.plaintext);
                eqBytes("sealedBody", B64u.d(Json.str(ex, "sealedBody")), r.body);
                Map<String, Object> eh = Json.obj(ex.get("headers"));
                eq("header names", new java.util.TreeSet<>(eh.keySet()), new java.util.TreeSet<>(r.headers.keySet()));
                for (Map.Entry<String, Object> h : eh.entrySet()) eq("header " + h.getKey(), h.getValue(), r.headers.get(h.getKey()));
                // client side (6.4): open the expected sealed body with the wire status
                Protocol.Payload p = Protocol.openResponse(k, Json.str(in, "keyId"), Json.str(in, "requestNonce"),
                    (int) Json.num(ex, "wireStatus"), (String) eh.get("content-type"), (String) eh.get("wxseal-response-nonce"),
                    B64u.d(Json.str(ex, "sealedBody")));
                eq("opened content type", ct, p.contentType);
                eqBytes("opened body", Protocol.noContentStatus(status) ? new byte[0] : body, p.body);
                eq("opened identity", null, p.identity);
            });
        }
        n = 0;
        for (Object o : Json.arr(file.get("signed"))) {
            Map<String, Object> c = Json.obj(o);
            unit("response.signed[" + n++ + "]", () -> {
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                String canonical = Protocol.canonicalResponse(Json.str(in, "keyId"), Json.str(in, "requestNonce"),
                    (int) Json.num(in, "status"), Json.str(in, "contentType"), B64u.d(Json.str(in, "body")));
                eq("canonical", Json.str(ex, "canonical"), canonical);
                eq("signature", Json.str(ex, "signature"), B64u.encode(Protocol.sign(B64u.d(Json.str(in, "secret")), canonical)));
            });
        }
        // mustNotOpen: each sealed response, opened per 6.4 with the given session key, key id, request
        // nonce, status and response nonce, must fail (WXSEAL_RESPONSE_INVALID).
        List<Object> sealedCases = Json.arr(file.get("sealed"));
        n = 0;
        for (Object o : Json.arr(file.get("mustNotOpen"))) {
            Map<String, Object> c = Json.obj(o);
            unit("response.mustNotOpen[" + n++ + "] " + Json.str(c, "description"), () -> {
                byte[] k = B64u.d(Json.str(c, "sessionKey"));
                byte[] sealedBody = B64u.d(Json.str(c, "sealedBody"));
                try {
                    Protocol.Payload p = Protocol.openResponse(k, Json.str(c, "keyId"), Json.str(c, "requestNonce"),
                        (int) Json.num(c, "status"), Protocol.SEALED_CT, Json.str(c, "responseNonce"), sealedBody);
                    check("must not open, but opened to " + B64u.encode(p.body), false);
                } catch (Protocol.ResponseInvalidException expected) { /* good */ }
                // Not vacuous: when the body is one of the sealed vectors, it opens with that vector's own values.
                for (Object so : sealedCases) {
                    Map<String, Object> in = Json.obj(Json.obj(so).get("input"));
                    Map<String, Object> ex = Json.obj(Json.obj(so).get("expected"));
                    if (!Arrays.equals(B64u.d(Json.str(ex, "sealedBody")), sealedBody)) continue;
                    Protocol.openResponse(B64u.d(Json.str(in, "sessionKey")), Json.str(in, "keyId"), Json.str(in, "requestNonce"),
                        (int) Json.num(ex, "wireStatus"), Protocol.SEALED_CT, Json.str(in, "responseNonce"), sealedBody);
                }
            });
        }
    }

    // ---------------------------------------------------------------- reject.json

    /** The server state reject.json describes: one key id with one secret; one server key; W = 60; 1 MiB. */
    private static Verifier rejectServer(String secretB64u, String keyId, Map<String, Object> rsaKey) {
        Verifier v = new Verifier();
        Verifier.Credential cred = new Verifier.Credential();
        cred.secrets.add(new Verifier.Secret(B64u.d(secretB64u), null, null));
        v.credentials.put(keyId, cred);
        v.serverKeys.put(Json.str(rsaKey, "serverKeyId"), Crypto.privateKeyFromPkcs8Pem(Json.str(rsaKey, "privateKeyPem")));
        v.windowSeconds = 60;
        v.bodyLimit = 1024 * 1024;
        v.nonces = new Verifier.NonceStore(1_000_000); // fresh store per case
        return v;
    }

    private static Verifier.Request request(Map<String, Object> r) {
        Verifier.Request req = new Verifier.Request();
        req.method = Json.str(r, "method");
        req.target = Json.str(r, "target");
        for (Map.Entry<String, Object> h : Json.obj(r.get("headers")).entrySet()) {
            // a JSON array would be a header sent several times
            if (h.getValue() instanceof List) for (Object v : Json.arr(h.getValue())) req.header(h.getKey(), (String) v);
            else req.header(h.getKey(), (String) h.getValue());
        }
        req.body = B64u.d(Json.str(r, "body"));
        return req;
    }

    private void reject(Map<String, Object> file, List<Object> rsaKeys) {
        int n = 0;
        for (Object o : Json.arr(file.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("reject[" + n++ + "] " + Json.str(c, "description"), () -> {
                Verifier v = rejectServer(Json.str(file, "secret"), Json.str(file, "keyId"), rsaKey(rsaKeys, file));
                if (c.containsKey("maxBodyBytes")) v.bodyLimit = Json.num(c, "maxBodyBytes");
                if (c.containsKey("allowedModes")) {
                    java.util.Set<String> modes = new java.util.HashSet<>();
                    for (Object m : Json.arr(c.get("allowedModes"))) modes.add((String) m);
                    v.allowedModes = modes;
                }
                Verifier.Request req = request(Json.obj(c.get("request")));
                long now = Json.num(c, "now");
                String expected = Json.str(c, "expectedCode");
                if (c.containsKey("precededBy")) {
                    Verifier.Result first = v.verify(request(Json.obj(c.get("precededBy"))), now);
                    check("precededBy request must be accepted, got " + first, first.accepted());
                }
                Verifier.Result res = v.verify(req, now);
                if (Boolean.TRUE.equals(c.get("sendTwice"))) {
                    check("first send must be accepted, got " + res, res.accepted());
                    res = v.verify(req, now);
                }
                eq("verifier result", expected == null ? "accepted" : expected, res.accepted() ? "accepted" : res.code);
                if (!res.accepted() && expected != null && expected.equals(res.code))
                    eq("status of " + res.code, (long) Verifier.statusOf(expected), (long) res.status);
                if (verbose) System.out.println("     -> " + res);
                if (!res.accepted() && expected != null && !expected.equals(res.code))
                    caseFailures.add("  detail: " + res.detail);
            });
        }
    }

    // ================================================================== call mode (independent client)

    private static int call(String[] a) {
        if (a.length != 8) {
            System.err.println("usage: call <baseUrl> <method> <path> <keyId> <secretB64u> <serverKeyId> <serverPublicKeyPemFile> <jsonBody>");
            return 2;
        }
        String baseUrl = a[0], method = a[1], path = a[2], keyId = a[3], secretB64u = a[4], serverKeyId = a[5];
        try {
            byte[] secret = B64u.decode(secretB64u);
            PublicKey pub = Crypto.publicKeyFromSpkiPem(Files.readString(Path.of(a[6]), StandardCharsets.UTF_8));
            byte[] body = Crypto.utf8(a[7]);
            if (method.equals("HEAD")) throw new IllegalArgumentException("sealed mode MUST NOT be used with HEAD");

            URI uri = URI.create(baseUrl.replaceAll("/+$", "") + path);
            // What is signed is what goes on the request line: the raw path and raw query of the URI.
            String target = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
            byte[] sessionKey = Crypto.random(32);
            String nonce = B64u.encode(Crypto.random(16));
            String timestamp = Long.toString(System.currentTimeMillis() / 1000);
            Protocol.SealedRequest r = Protocol.sealRequest(method, target, keyId, secret, serverKeyId, pub, null,
                sessionKey, Crypto.random(12), timestamp, nonce, "application/json", null, null, body);

            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                .method(method, HttpRequest.BodyPublishers.ofByteArray(r.body));
            r.headers.forEach(b::header);
            HttpResponse<byte[]> resp = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());

            int status = resp.statusCode();
            // 6.4: a verifier rejection is recognised by a Wxseal-Error header holding a code of section 10;
            // anything else must open as a sealed response or is WXSEAL_RESPONSE_INVALID.
            String error = resp.headers().firstValue("wxseal-error").orElse(null);
            if (Verifier.isWireCode(error)) {
                System.err.println("rejected by the verifier: " + error + " (HTTP " + status + ", server time "
                    + resp.headers().firstValue("wxseal-server-time").orElse("?") + ")");
                System.err.println(new String(resp.body(), StandardCharsets.UTF_8));
                return 1;
            }
            Protocol.Payload p = Protocol.openResponse(sessionKey, keyId, nonce, status,
                resp.headers().firstValue("content-type").orElse(null),
                resp.headers().firstValue("wxseal-response-nonce").orElse(null), resp.body());
            System.err.println("HTTP " + status + ", inner content type: " + p.contentType);
            System.out.write(p.body);
            System.out.println();
            System.out.flush();
            return 0;
        } catch (Protocol.ResponseInvalidException e) {
            System.err.println(e.getMessage());
            return 1;
        } catch (Exception e) {
            System.err.println("call failed: " + e);
            return 1;
        }
    }
}
