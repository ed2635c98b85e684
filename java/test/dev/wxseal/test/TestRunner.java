package dev.wxseal.test;

import com.sun.net.httpserver.HttpServer;
import dev.wxseal.B64u;
import dev.wxseal.Client;
import dev.wxseal.Crypto;
import dev.wxseal.MemoryNonceStore;
import dev.wxseal.NonceStore;
import dev.wxseal.Protocol;
import dev.wxseal.RedisNonceStore;
import dev.wxseal.RedisTestAccess;
import dev.wxseal.Sm;
import dev.wxseal.Sm2PrivateKey;
import dev.wxseal.VerifiedRequest;
import dev.wxseal.Verifier;
import dev.wxseal.WxsealException;
import dev.wxseal.WxsealRequest;
import dev.wxseal.WxsealResponse;
import dev.wxseal.examples.HttpServerServletAdapter;
import dev.wxseal.servlet.WxsealFilter;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The Java test runner (no JUnit: plain assertions). Runs every vector case of spec/vectors the
 * library covers (VectorTests), RFC 9180 A.1.1, then unit tests of the verifier, the nonce stores
 * (RedisNonceStore against the real Redis at 127.0.0.1:6379: a missing Redis is a FAILURE), the
 * servlet filter (served through HttpServerServletAdapter) and the client.
 *
 *   java -cp java/build/wxseal.jar:java/build/examples.jar:java/build/tests.jar:/usr/share/java/jakarta-servlet-api.jar \
 *       dev.wxseal.test.TestRunner [vectorDir] [--redis host:port] [--vectors-only]
 *
 * Exit status 0 only when everything passed.
 */
public final class TestRunner {
    private static int passed, failed;

    private interface Body { void run() throws Exception; }

    private static void test(String name, Body b) {
        try {
            b.run();
            passed++;
            System.out.println("ok   " + name);
        } catch (Throwable e) {
            failed++;
            System.out.println("FAIL " + name + ": " + e);
            StackTraceElement[] st = e.getStackTrace();
            for (int i = 0; i < Math.min(4, st.length); i++) System.out.println("       at " + st[i]);
        }
    }

    static void assertTrue(boolean c, String what) { if (!c) throw new AssertionError(what); }

    static void assertEq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual))
            throw new AssertionError(what + ": expected <" + expected + "> got <" + actual + ">");
    }

    static WxsealException expectReject(Verifier v, WxsealRequest r, long now, String code) {
        try {
            v.verify(r, now);
        } catch (WxsealException e) {
            assertEq(code, e.code(), "rejection code");
            assertEq(WxsealException.statusOf(code), e.status(), "rejection status");
            return e;
        }
        throw new AssertionError("expected " + code + ", but the request was accepted");
    }

    // ---------------------------------------------------------------- fixtures

    static final String KEY_ID = "bff-java-test";
    static final byte[] SECRET = Crypto.random(32);
    static KeyPair rsa, x25519;
    static Sm2PrivateKey sm2;
    static String rsaId, xId, smId;

    static Verifier.Builder verifierBuilder() {
        return Verifier.builder().credential(KEY_ID, SECRET).serverKey(rsaId, rsa.getPrivate()).serverKey(xId, x25519.getPrivate())
            .serverKey(smId, sm2);
    }

    /**
     * SPEC 14 with the server key pub (its suite decides the session key's length): three requests
     * under one wrapped key are unwrapped once; a wrapped key whose session key is not what the body
     * was sealed with is WXSEAL_DECRYPT_FAILED each time, never cached.
     */
    static void sessionKeyCache(java.security.PublicKey pub, String serverKeyId) throws Exception {
        Protocol.Suite suite = Protocol.Suite.of(pub);
        Verifier v = verifierBuilder().sessionKeyCache(100, 300).build();
        byte[] k = Crypto.random(suite.sessionKeyBytes());
        byte[] wrapped = Crypto.wrapSessionKey(pub, k);
        long now = now();
        for (int i = 0; i < 3; i++) {
            Protocol.SealedRequest r = Protocol.sealRequest(suite, "POST", "/api/reuse", KEY_ID, SECRET, serverKeyId, null, wrapped, k,
                Crypto.random(12), Long.toString(now), B64u.encode(Crypto.random(16)), "text/plain", null, null, Crypto.utf8("n" + i));
            VerifiedRequest ok = v.verify(new WxsealRequest(r.method, r.target).headers(r.headers).body(r.body), now);
            assertEq("n" + i, new String(ok.body(), StandardCharsets.UTF_8), "body " + i);
        }
        assertEq(1L, v.unwrapCount(), "one unwrap for three requests");
        byte[] wrapped2 = Crypto.wrapSessionKey(pub, Crypto.random(suite.sessionKeyBytes()));
        for (int i = 0; i < 2; i++) {
            Protocol.SealedRequest bad = Protocol.sealRequest(suite, "POST", "/api/reuse", KEY_ID, SECRET, serverKeyId, null, wrapped2, k,
                Crypto.random(12), Long.toString(now), B64u.encode(Crypto.random(16)), null, null, null, Crypto.utf8("x"));
            expectReject(v, new WxsealRequest(bad.method, bad.target).headers(bad.headers).body(bad.body), now, WxsealException.DECRYPT_FAILED);
        }
        assertEq(3L, v.unwrapCount(), "each failing request was unwrapped (nothing cached)");
    }

    /** A client for the suite named "RSA-OAEP", "X25519" or "SM2", with the given secret. */
    static Client clientNamed(String suite, String base, byte[] secret) {
        Client.Builder b = Client.builder().baseUrl(base).credential(KEY_ID, secret);
        if (suite.equals("SM2")) return b.serverKey(smId, sm2.publicKey()).build();
        boolean x = suite.equals("X25519");
        return b.serverKey(x ? xId : rsaId, x ? x25519.getPublic() : rsa.getPublic()).build();
    }

    static Client clientFor(String base, boolean useX25519) {
        return Client.builder().baseUrl(base).credential(KEY_ID, SECRET)
            .serverKey(useX25519 ? xId : rsaId, useX25519 ? x25519.getPublic() : rsa.getPublic()).build();
    }

    static WxsealRequest toRequest(Client.Prepared p) {
        return new WxsealRequest(p.method, p.target).headers(p.headers).body(p.body);
    }

    static WxsealRequest withHeader(Client.Prepared p, String name, String value) {
        Map<String, String> h = new LinkedHashMap<>(p.headers);
        h.put(name.toLowerCase(java.util.Locale.ROOT), value);
        return new WxsealRequest(p.method, p.target).headers(h).body(p.body);
    }

    static long now() { return Math.floorDiv(System.currentTimeMillis(), 1000); }

    static String flip(String b64u) {
        char c = b64u.charAt(5);
        return b64u.substring(0, 5) + (c == 'A' ? 'B' : 'A') + b64u.substring(6);
    }

    // ---------------------------------------------------------------- main

    public static void main(String[] args) throws Exception {
        Path vectors = Path.of("spec/vectors");
        String redis = "127.0.0.1:6379";
        boolean vectorsOnly = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--redis")) redis = args[++i];
            else if (args[i].equals("--vectors-only")) vectorsOnly = true;
            else vectors = Path.of(args[i]);
        }
        int vec = new VectorTests().checkAll(vectors);
        if (vectorsOnly) System.exit(vec);
        VectorTests rfc = new VectorTests();
        rfc.hpkeSelftest();
        int hpke = rfc.summary("rfc9180: ");

        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        rsa = g.generateKeyPair();
        x25519 = KeyPairGenerator.getInstance("X25519").generateKeyPair();
        rsaId = Crypto.referenceServerKeyId(rsa.getPublic());
        xId = Crypto.referenceServerKeyId(x25519.getPublic());
        sm2 = Sm.generate();
        smId = Crypto.referenceServerKeyId(sm2.publicKey());

        verifierTests();
        memoryStoreTests();
        redisTests(redis);
        filterTests();

        System.out.println("unit: " + passed + " passed, " + failed + " failed");
        boolean ok = vec == 0 && hpke == 0 && failed == 0;
        System.out.println(ok ? "ALL PASSED" : "FAILURES");
        System.exit(ok ? 0 : 1);
    }

    // ---------------------------------------------------------------- verifier

    static void verifierTests() throws Exception {
        Client c = clientFor("http://127.0.0.1:1", false);
        Client cx = clientFor("http://127.0.0.1:1", true);
        Map<String, String> identity = Map.of("openid", "o-1", "appid", "wx1", "source", "wx_client");

        for (String suite : new String[] {"RSA-OAEP", "X25519", "SM2"}) {
            Client suiteClient = clientNamed(suite, "http://127.0.0.1:1", SECRET);
            test(suite + ": a sealed request verifies and hands on key id, identity, plaintext, content type; the answer opens", () -> {
                Verifier v = verifierBuilder().build();
                Client cl = suiteClient;
                Client.Prepared p = cl.prepare("POST", "/api/echo?b=2&a=1", "application/json", Crypto.utf8("{\"n\":1}"), identity);
                VerifiedRequest ok = v.verify(toRequest(p));
                assertEq(KEY_ID, ok.keyId(), "key id");
                assertEq("sealed", ok.mode(), "mode");
                assertEq("{\"openid\":\"o-1\",\"appid\":\"wx1\",\"source\":\"wx_client\"}", ok.identityJson(), "identity");
                assertEq("{\"n\":1}", new String(ok.body(), StandardCharsets.UTF_8), "plaintext");
                assertEq("application/json", ok.contentType(), "content type");
                assertEq(1L, v.unwrapCount(), "one unwrap");
                assertEq(suite.equals("SM2"), ok.suite().isSm(), "the suite follows the named key");
                assertEq(suite.equals("SM2") ? 151 : suite.equals("X25519") ? 107 : 342, p.headers.get("wxseal-wrapped-key").length(),
                    "wrapped key length");
                WxsealResponse r = ok.respond(201, "text/plain", Crypto.utf8("made"));
                Client.Response opened = cl.open(p, r.status(), r.headers().get("Content-Type"), null,
                    r.headers().get("Wxseal-Response-Nonce"), r.body());
                assertEq(201, opened.status(), "status");
                assertEq("made", opened.text(), "body");
                assertEq("text/plain", opened.contentType(), "inner content type");
                // 204 is sent as 200 with an empty inner body (6.3)
                WxsealResponse nc = ok.respond(204, null, Crypto.utf8("ignored"));
                assertEq(200, nc.status(), "204 sent as 200");
                assertEq(0, cl.open(p, nc.status(), nc.headers().get("Content-Type"), null,
                    nc.headers().get("Wxseal-Response-Nonce"), nc.body()).body().length, "empty inner body");
            });

            test(suite + ": forged requests are refused with WXSEAL_BAD_SIGNATURE and never unwrapped", () -> {
                Verifier v = verifierBuilder().build();
                Client cl = suiteClient;
                Client.Prepared p = cl.prepare("POST", "/api/pay", "application/json", Crypto.utf8("{\"amount\":1}"), null);
                long now = now();
                // tampered body, wrapped key, IV, nonce, timestamp, path, key with the right length but another client's secret
                byte[] body = p.body.clone();
                body[0] ^= 1;
                expectReject(v, new WxsealRequest(p.method, p.target).headers(p.headers).body(body), now, WxsealException.BAD_SIGNATURE);
                expectReject(v, withHeader(p, "Wxseal-Wrapped-Key", flip(p.headers.get("wxseal-wrapped-key"))), now, WxsealException.BAD_SIGNATURE);
                expectReject(v, withHeader(p, "Wxseal-Iv", flip(p.headers.get("wxseal-iv"))), now, WxsealException.BAD_SIGNATURE);
                expectReject(v, withHeader(p, "Wxseal-Nonce", B64u.encode(Crypto.random(16))), now, WxsealException.BAD_SIGNATURE);
                expectReject(v, withHeader(p, "Wxseal-Signature", B64u.encode(Crypto.random(32))), now, WxsealException.BAD_SIGNATURE);
                expectReject(v, new WxsealRequest(p.method, "/api/other").headers(p.headers).body(p.body), now, WxsealException.BAD_SIGNATURE);
                Client mallory = clientNamed(suite, "http://127.0.0.1:1", Crypto.random(32));
                WxsealException e = expectReject(v, toRequest(mallory.prepare("POST", "/api/pay", null, new byte[0], null)), now,
                    WxsealException.BAD_SIGNATURE);
                assertTrue(!e.isSigned(), "a rejection before the signature verified is not signed");
                assertEq("WXSEAL_BAD_SIGNATURE", e.responseHeaders().get("Wxseal-Error"), "Wxseal-Error");
                assertEq("{\"error\":{\"code\":\"WXSEAL_BAD_SIGNATURE\",\"message\":\"the signature does not match\"}}",
                    new String(e.responseBody(), StandardCharsets.UTF_8), "SPEC 10 body");
                assertEq(0L, v.unwrapCount(), "no unwrap for any forged request");
                // and the forged attempts burnt no nonce: the genuine request still passes
                v.verify(toRequest(p), now);
                assertEq(1L, v.unwrapCount(), "the genuine request is unwrapped once");
            });

            test(suite + ": a replay is refused with a signed WXSEAL_REPLAYED_NONCE, before any unwrap", () -> {
                Verifier v = verifierBuilder().build();
                Client.Prepared p = suiteClient.prepare("POST", "/api/pay", null, Crypto.utf8("x"), null);
                long now = now();
                v.verify(toRequest(p), now);
                WxsealException e = expectReject(v, toRequest(p), now, WxsealException.REPLAYED_NONCE);
                assertTrue(e.isSigned(), "signed rejection (10.1)");
                Map<String, String> h = new LinkedHashMap<>();
                e.responseHeaders().forEach((k, val) -> h.put(k.toLowerCase(), val));
                Protocol.Suite ps = suite.equals("SM2") ? Protocol.Suite.SM : Protocol.Suite.SHA256;
                Protocol.Suite otherSuite = ps.isSm() ? Protocol.Suite.SHA256 : Protocol.Suite.SM;
                assertTrue(Protocol.trustedRejection(ps, 401, h, KEY_ID, p.nonce, SECRET), "the client trusts it for this request");
                assertTrue(!Protocol.trustedRejection(ps, 401, h, KEY_ID, B64u.encode(Crypto.random(16)), SECRET), "not for another request");
                assertTrue(!Protocol.trustedRejection(otherSuite, 401, h, KEY_ID, p.nonce, SECRET), "not under the other suite's HMAC");
                assertEq(1L, v.unwrapCount(), "the replay was not unwrapped");
            });
        }

        test("session-key cache (SPEC 14): a reused wrapped key is unwrapped once; a key that does not decrypt is never cached",
            () -> sessionKeyCache(rsa.getPublic(), rsaId));
        test("session-key cache (SPEC 14) with an SM2 key: a reused 16-byte key is unwrapped once; a failing one is never cached",
            () -> sessionKeyCache(sm2.publicKey(), smId));

        test("CredentialStore.Secret ids: the verifier reports the id of the secret that verified (null without one)", () -> {
            byte[] s1 = Crypto.random(32), s2 = Crypto.random(32);
            dev.wxseal.CredentialStore store = keyId -> !keyId.equals(KEY_ID) ? null : new dev.wxseal.CredentialStore.Credential(List.of(
                new dev.wxseal.CredentialStore.Secret(s1, null, null, "v1"), new dev.wxseal.CredentialStore.Secret(s2, null, null, "v2")), false);
            Verifier v = Verifier.builder().credentials(store).serverKey(smId, sm2).build();
            for (String id : new String[] {"v1", "v2"}) {
                byte[] secret = id.equals("v1") ? s1 : s2;
                Client cl = Client.builder().baseUrl("http://127.0.0.1:1").credential(KEY_ID, secret).serverKey(smId, sm2.publicKey()).build();
                assertEq(id, v.verify(toRequest(cl.prepare("POST", "/a", null, new byte[0], null))).secretId(), "secret id");
            }
            assertEq(null, verifierBuilder().build().verify(toRequest(c.prepare("GET", "/a", null, null, null))).secretId(), "no id");
        });

        test("timestamps outside the window: WXSEAL_TIMESTAMP_EXPIRED / _FUTURE; the edges are accepted", () -> {
            Verifier v = verifierBuilder().windowSeconds(60).build();
            Client.Prepared p = c.prepare("GET", "/api/x", null, new byte[0], null);
            long t = Long.parseLong(p.headers.get("wxseal-timestamp"));
            expectReject(v, toRequest(p), t + 61, WxsealException.TIMESTAMP_EXPIRED);
            expectReject(v, toRequest(p), t - 61, WxsealException.TIMESTAMP_FUTURE);
            assertEq(0L, v.unwrapCount(), "no unwrap");
            v.verify(toRequest(p), t + 60);
            v.verify(toRequest(c.prepare("GET", "/api/x", null, new byte[0], null)), t - 60);
        });

        test("an expired request is refused even with a valid signature and an unseen nonce (no nonce claimed)", () -> {
            MemoryNonceStore store = new MemoryNonceStore();
            Verifier v = verifierBuilder().nonceStore(store).build();
            Client.Prepared p = c.prepare("POST", "/api/x", null, new byte[0], null);
            expectReject(v, toRequest(p), Long.parseLong(p.headers.get("wxseal-timestamp")) + 3600, WxsealException.TIMESTAMP_EXPIRED);
            assertEq(0, store.size(), "no nonce recorded");
        });

        test("body limit: Content-Length over the limit is refused before reading; a body over the limit too", () -> {
            Verifier v = verifierBuilder().maxBodyBytes(1024).build();
            try {
                v.readBody("5000", new InputStream() {
                    @Override public int read() { throw new AssertionError("must not read"); }
                });
                throw new AssertionError("accepted");
            } catch (WxsealException e) { assertEq("WXSEAL_BODY_TOO_LARGE", e.code(), "code"); assertEq(413, e.status(), "status"); }
            try {
                v.readBody(null, new java.io.ByteArrayInputStream(new byte[1025]));
                throw new AssertionError("accepted");
            } catch (WxsealException e) { assertEq("WXSEAL_BODY_TOO_LARGE", e.code(), "code"); }
            assertEq(1024, v.readBody("1024", new java.io.ByteArrayInputStream(new byte[1024])).length, "at the limit");
            Client.Prepared p = c.prepare("POST", "/api/x", null, new byte[2000], null);
            expectReject(v, toRequest(p), now(), WxsealException.BODY_TOO_LARGE);
        });

        test("unknown key id, revoked key, unknown server key, mode not allowed", () -> {
            dev.wxseal.MemoryCredentialStore creds = new dev.wxseal.MemoryCredentialStore().put(KEY_ID, SECRET);
            Verifier v = Verifier.builder().credentials(creds).serverKey(rsaId, rsa.getPrivate()).build();
            long now = now();
            Client other = Client.builder().baseUrl("http://127.0.0.1:1").credential("nobody", SECRET).serverKey(rsaId, rsa.getPublic()).build();
            expectReject(v, toRequest(other.prepare("GET", "/a", null, null, null)), now, WxsealException.UNKNOWN_KEY_ID);
            expectReject(v, toRequest(cx.prepare("GET", "/a", null, null, null)), now, WxsealException.UNKNOWN_SERVER_KEY);
            creds.revoke(KEY_ID);
            expectReject(v, toRequest(c.prepare("GET", "/a", null, null, null)), now, WxsealException.KEY_REVOKED);
            Verifier signedOnly = verifierBuilder().allowedModes("signed").build();
            expectReject(signedOnly, toRequest(c.prepare("GET", "/a", null, null, null)), now, WxsealException.MODE_NOT_ALLOWED);
        });

        test("sign-only mode: identity header verified, response signed per SPEC 12", () -> {
            Verifier v = verifierBuilder().build();
            long now = now();
            String nonce = B64u.encode(Crypto.random(16));
            String idB64 = B64u.encode(Crypto.utf8("{\"openid\":\"o-2\",\"env\":\"prod\"}"));
            byte[] body = Crypto.utf8("{\"q\":1}");
            Protocol.SignedFields f = new Protocol.SignedFields();
            f.mode = "signed"; f.method = "POST"; f.path = "/api/s"; f.canonicalQuery = ""; f.timestamp = Long.toString(now);
            f.nonce = nonce; f.keyId = KEY_ID; f.contentType = "application/json"; f.identity = idB64;
            f.bodySha256Hex = Crypto.hex(Crypto.sha256(body));
            WxsealRequest r = new WxsealRequest("POST", "/api/s").header("Wxseal-Version", "1").header("Wxseal-Mode", "signed")
                .header("Wxseal-Key-Id", KEY_ID).header("Wxseal-Timestamp", f.timestamp).header("Wxseal-Nonce", nonce)
                .header("Content-Type", "application/json").header("Wxseal-Identity", idB64)
                .header("Wxseal-Signature", B64u.encode(Protocol.sign(SECRET, Protocol.canonicalRequest(f)))).body(body);
            VerifiedRequest ok = v.verify(r, now);
            assertEq("signed", ok.mode(), "mode");
            assertEq("{\"openid\":\"o-2\",\"env\":\"prod\"}", ok.identityJson(), "identity");
            assertEq(0L, v.unwrapCount(), "no unwrap in sign-only mode");
            WxsealResponse resp = ok.respond(200, "text/plain", Crypto.utf8("hi"));
            assertEq(B64u.encode(Protocol.sign(SECRET, Protocol.canonicalResponse(KEY_ID, nonce, 200, "text/plain", Crypto.utf8("hi")))),
                resp.headers().get("Wxseal-Signature"), "response signature");
            assertEq("hi", new String(resp.body(), StandardCharsets.UTF_8), "body in clear");
        });
    }

    // ---------------------------------------------------------------- memory store

    static void memoryStoreTests() {
        test("MemoryNonceStore: replay, per key id, bounded (FULL), records expire after their window", () -> {
            MemoryNonceStore s = new MemoryNonceStore(2);
            assertEq(NonceStore.Claim.CLAIMED, s.claim("k", "n1", 100, 160, 100), "first");
            assertEq(NonceStore.Claim.REPLAYED, s.claim("k", "n1", 100, 160, 120), "replay");
            assertEq(NonceStore.Claim.CLAIMED, s.claim("k2", "n1", 100, 170, 100), "another key id");
            assertEq(NonceStore.Claim.FULL, s.claim("k", "n3", 100, 160, 100), "full");
            assertEq(NonceStore.Claim.REPLAYED, s.claim("k", "n1", 100, 160, 160), "kept until expiresAt inclusive");
            assertEq(NonceStore.Claim.CLAIMED, s.claim("k", "n3", 161, 221, 161), "room after expiry");
            assertEq(2, s.size(), "size");
        });
        test("a full nonce store refuses with a signed WXSEAL_NONCE_STORE_FULL (503)", () -> {
            Verifier v = verifierBuilder().nonceStore(new MemoryNonceStore(1)).build();
            Client c = clientFor("http://127.0.0.1:1", true);
            v.verify(toRequest(c.prepare("GET", "/a", null, null, null)), now());
            WxsealException e = expectReject(v, toRequest(c.prepare("GET", "/a", null, null, null)), now(), WxsealException.NONCE_STORE_FULL);
            assertTrue(e.isSigned(), "signed");
        });
    }

    // ---------------------------------------------------------------- Redis

    static void redisTests(String hostPort) throws Exception {
        String host = hostPort.substring(0, hostPort.lastIndexOf(':'));
        int port = Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
        String prefix = "wxseal-java-test:" + B64u.encode(Crypto.random(6)) + ":";
        RedisNonceStore store = new RedisNonceStore(host, port, prefix, 1000, 1000, 0, null);
        try {
            test("RedisNonceStore (" + hostPort + "): SET NX EX claims once, replay refused, TTL bounded by the window", () -> {
                long now = now();
                long t = now + 1; // a request signed after this instance's first epoch second (SPEC 8.1)
                assertEq(NonceStore.Claim.CLAIMED, store.claim("k1", "nonce-aaaaaaaaaaaaaaaaaa", t, t + 60, now), "first claim");
                assertEq(NonceStore.Claim.REPLAYED, store.claim("k1", "nonce-aaaaaaaaaaaaaaaaaa", t, t + 60, now), "replay");
                assertEq(NonceStore.Claim.CLAIMED, store.claim("k2", "nonce-aaaaaaaaaaaaaaaaaa", t, t + 60, now), "another key id");
                Object ttl = RedisTestAccess.command(store, "TTL", RedisTestAccess.nonceKey(store, "k1", "nonce-aaaaaaaaaaaaaaaaaa"));
                assertTrue(ttl instanceof Long && (Long) ttl > 0 && (Long) ttl <= 62, "TTL within t + W: " + ttl);
            });

            test("RedisNonceStore through the verifier: accepted once, replay refused", () -> {
                Verifier v = verifierBuilder().nonceStore(store).build();
                Client c = clientFor("http://127.0.0.1:1", true);
                Thread.sleep(1100 - System.currentTimeMillis() % 1000); // sign in a later second than the epoch start
                Client.Prepared p = c.prepare("POST", "/api/r", null, Crypto.utf8("r"), null);
                v.verify(toRequest(p));
                expectReject(v, toRequest(p), now(), WxsealException.REPLAYED_NONCE);
            });

            test("RedisNonceStore: a lost store (epoch gone) refuses requests signed before the loss (WXSEAL_NONCE_STORE_RESET)", () -> {
                RedisTestAccess.command(store, "DEL", RedisTestAccess.epochKey(store));
                long now = now();
                assertEq(NonceStore.Claim.RESET, store.claim("k1", "nonce-bbbbbbbbbbbbbbbbbb", now, now + 60, now), "signed at the loss");
                assertEq(NonceStore.Claim.CLAIMED, store.claim("k1", "nonce-cccccccccccccccccc", now + 1, now + 61, now), "signed after");
            });
        } finally {
            cleanup(store, prefix);
            store.close();
        }

        test("RedisNonceStore unreachable: WXSEAL_NONCE_STORE_UNAVAILABLE (503, signed), fail closed", () -> {
            int dead;
            try (ServerSocket ss = new ServerSocket(0)) { dead = ss.getLocalPort(); }
            RedisNonceStore gone = new RedisNonceStore("127.0.0.1", dead, "x:", 300, 300, 0, null);
            Verifier v = verifierBuilder().nonceStore(gone).build();
            Client c = clientFor("http://127.0.0.1:1", false);
            WxsealException e = expectReject(v, toRequest(c.prepare("POST", "/a", null, null, null)), now(),
                WxsealException.NONCE_STORE_UNAVAILABLE);
            assertTrue(e.isSigned(), "signed (raised after the signature)");
            assertEq(0L, v.unwrapCount(), "not unwrapped");
        });

        test("RedisNonceStore: a server that does not answer times out into WXSEAL_NONCE_STORE_UNAVAILABLE", () -> {
            try (ServerSocket silent = new ServerSocket(0)) {
                Thread acceptor = new Thread(() -> {
                    try { silent.accept(); Thread.sleep(5000); } catch (Exception ignored) { /* closed */ }
                });
                acceptor.setDaemon(true);
                acceptor.start();
                RedisNonceStore mute = new RedisNonceStore("127.0.0.1", silent.getLocalPort(), "x:", 300, 300, 0, null);
                long t0 = System.nanoTime();
                try {
                    mute.claim("k", "n", now(), now() + 60, now());
                    throw new AssertionError("claimed");
                } catch (NonceStore.UnavailableException expected) { /* good */ }
                assertTrue((System.nanoTime() - t0) / 1_000_000 < 3000, "bounded by the read timeout");
            }
        });
    }

    @SuppressWarnings("unchecked")
    static void cleanup(RedisNonceStore store, String prefix) {
        try {
            Object keys = RedisTestAccess.command(store, "KEYS", prefix + "*");
            List<String> args = new ArrayList<>(List.of("DEL"));
            args.addAll((List<String>) keys);
            if (args.size() > 1) RedisTestAccess.command(store, args.toArray(new String[0]));
            Object left = RedisTestAccess.command(store, "KEYS", prefix + "*");
            if (!((List<String>) left).isEmpty()) System.out.println("warning: keys left under " + prefix);
        } catch (Exception e) {
            System.out.println("warning: cleanup of " + prefix + " failed: " + e);
        }
    }

    // ---------------------------------------------------------------- servlet filter through the adapter

    static void filterTests() throws Exception {
        Verifier v = verifierBuilder().build();
        AtomicReference<String> seen = new AtomicReference<>();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        server.createContext("/", new HttpServerServletAdapter(new WxsealFilter(v), (req, res) -> {
            if (req.getRequestURI().endsWith("/boom")) throw new IllegalStateException("application failure");
            byte[] body;
            try (InputStream in = req.getInputStream()) { body = in.readAllBytes(); }
            @SuppressWarnings("unchecked")
            Map<String, String> id = (Map<String, String>) req.getAttribute(WxsealFilter.ATTR_IDENTITY);
            seen.set(req.getAttribute(WxsealFilter.ATTR_KEY_ID) + "|" + id.get("openid") + "|" + req.getContentType() + "|"
                + new String(body, StandardCharsets.UTF_8));
            res.setStatus(202);
            res.setContentType("text/plain");
            res.setHeader("X-App", "yes");
            res.getWriter().print("got " + new String(body, StandardCharsets.UTF_8));
        }));
        server.start();
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        try {
            for (String suite : new String[] {"RSA-OAEP", "X25519", "SM2"}) {
                test("filter (" + suite + "): Client -> HttpServer -> WxsealFilter -> app, sealed answer opened", () -> {
                    Client.Response r = clientNamed(suite, base, SECRET).send("POST", "/api/hello?z=1&a=2", "application/json",
                        Crypto.utf8("{\"hi\":1}"), Map.of("openid", "o-9"));
                    assertEq(202, r.status(), "status");
                    assertEq("text/plain;charset=UTF-8", r.contentType(), "inner content type (getWriter declares UTF-8)");
                    assertEq("got {\"hi\":1}", r.text(), "body");
                    assertEq(KEY_ID + "|o-9|application/json|{\"hi\":1}", seen.get(), "what the application saw");
                });
            }
            test("filter: a sign-only Client request; the signed answer verifies; a tampered answer does not", () -> {
                Client cl = Client.builder().baseUrl(base).credential(KEY_ID, SECRET).mode("signed").build();
                Client.Response r = cl.send("PUT", "/api/hello", "text/plain", Crypto.utf8("clear"), Map.of("openid", "o-s"));
                assertEq(202, r.status(), "status");
                assertEq("got clear", r.text(), "body");
                assertEq(KEY_ID + "|o-s|text/plain|clear", seen.get(), "what the application saw");
                Client.Prepared p = cl.prepare("PUT", "/api/hello", "text/plain", Crypto.utf8("x"), null);
                HttpResponse<String> raw = rawSend(base, p, null, null);
                String sig = raw.headers().firstValue("wxseal-signature").orElse(null);
                String ct = raw.headers().firstValue("content-type").orElse(null);
                assertEq("got x", cl.open(p, raw.statusCode(), ct, null, sig, Crypto.utf8(raw.body())).text(), "opens");
                try {
                    cl.open(p, raw.statusCode(), ct, null, sig, Crypto.utf8("got y"));
                    throw new AssertionError("a changed body was accepted");
                } catch (WxsealException e) { assertEq("WXSEAL_RESPONSE_INVALID", e.code(), "code"); }
                try {
                    cl.open(p, 200, ct, null, sig, Crypto.utf8(raw.body()));
                    throw new AssertionError("a changed status was accepted");
                } catch (WxsealException e) { assertEq("WXSEAL_RESPONSE_INVALID", e.code(), "code"); }
            });
            test("filter: a forged request gets the SPEC 10 rejection and never reaches the application", () -> {
                seen.set(null);
                long before = v.unwrapCount();
                Client.Prepared p = clientFor(base, false).prepare("POST", "/api/hello", null, Crypto.utf8("x"), null);
                HttpResponse<String> r = rawSend(base, p, "wxseal-iv", flip(p.headers.get("wxseal-iv")));
                assertEq(401, r.statusCode(), "status");
                assertEq("WXSEAL_BAD_SIGNATURE", r.headers().firstValue("wxseal-error").orElse(null), "Wxseal-Error");
                assertTrue(r.headers().firstValue("wxseal-server-time").isPresent(), "Wxseal-Server-Time");
                assertEq("application/json", r.headers().firstValue("content-type").orElse(null), "content type");
                assertTrue(r.body().contains("\"code\":\"WXSEAL_BAD_SIGNATURE\""), "JSON body");
                assertEq(null, seen.get(), "application not called");
                assertEq(before, v.unwrapCount(), "no unwrap");
            });
            test("filter: a replayed request is refused (WXSEAL_REPLAYED_NONCE, signed); the Client reports the code", () -> {
                Client.Prepared p = clientFor(base, true).prepare("POST", "/api/hello", null, Crypto.utf8("once"), null);
                assertEq(202, rawSend(base, p, null, null).statusCode(), "first");
                HttpResponse<String> r = rawSend(base, p, null, null);
                assertEq(401, r.statusCode(), "status");
                assertEq("WXSEAL_REPLAYED_NONCE", r.headers().firstValue("wxseal-error").orElse(null), "code");
                assertTrue(r.headers().firstValue("wxseal-signature").isPresent(), "signed rejection");
                try {
                    clientFor(base, true).open(p, r.statusCode(), "application/json", "WXSEAL_REPLAYED_NONCE", null, new byte[0]);
                    throw new AssertionError("opened");
                } catch (WxsealException e) { assertEq("WXSEAL_REPLAYED_NONCE", e.code(), "client code"); }
            });
            test("filter: an application failure is still an authenticated (sealed) 500 (SPEC 10.2)", () -> {
                Client.Response r = clientFor(base, false).send("GET", "/api/boom", null, null, null);
                assertEq(500, r.status(), "status");
                assertEq("application/json", r.contentType(), "inner content type");
            });
            test("Client: an answer that is not sealed is WXSEAL_RESPONSE_INVALID", () -> {
                Client cl = clientFor(base, false);
                Client.Prepared p = cl.prepare("GET", "/api/x", null, null, null);
                try {
                    cl.open(p, 200, "application/json", null, null, Crypto.utf8("{}"));
                    throw new AssertionError("opened");
                } catch (WxsealException e) { assertEq("WXSEAL_RESPONSE_INVALID", e.code(), "code"); }
            });
        } finally {
            server.stop(0);
        }
    }

    static HttpResponse<String> rawSend(String base, Client.Prepared p, String header, String value) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + p.target))
            .method(p.method, HttpRequest.BodyPublishers.ofByteArray(p.body));
        p.headers.forEach((k, val) -> b.header(k, k.equals(header) ? value : val));
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

}
