package dev.wxseal.interop;

import dev.wxseal.B64u;
import dev.wxseal.Crypto;
import dev.wxseal.Hpke;
import dev.wxseal.Json;
import dev.wxseal.Protocol;
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
 *   java dev.wxseal.interop.Main hpke-selftest | device-selftest
 *   java dev.wxseal.interop.Main verify-request | seal-request | open-response ...   (see exchange)
 *   java dev.wxseal.interop.Main call baseUrl method path keyId secretB64u serverKeyId serverPublicKeyPemFile jsonBody
 */
public final class Main {

    public static void main(String[] args) throws Exception {
        if (args.length >= 1 && args[0].equals("call")) {
            System.exit(call(Arrays.copyOfRange(args, 1, args.length)));
        }
        if (args.length >= 1 && args[0].equals("device-selftest")) {
            Main m = new Main();
            m.verbose = args.length >= 2 && args[1].equals("-v");
            System.exit(m.deviceSelftest());
        }
        if (args.length >= 1 && (args[0].equals("verify-request") || args[0].equals("seal-request") || args[0].equals("open-response"))) {
            System.exit(exchange(args[0], Arrays.copyOfRange(args, 1, args.length)));
        }
        if (args.length >= 1 && args[0].equals("hpke-selftest")) {
            Main m = new Main();
            m.verbose = args.length >= 2 && args[1].equals("-v");
            System.exit(m.hpkeSelftest());
        }
        if (args.length == 0 || args[0].equals("check")) {
            Path dir = Path.of(args.length >= 2 ? args[1] : "spec/vectors");
            Main m = new Main();
            m.verbose = args.length >= 3 && args[2].equals("-v");
            System.exit(m.checkAll(dir));
        }
        System.err.println("usage: Main check [vectorDir [-v]]\n"
            + "       Main device-selftest [-v]\n"
            + "       Main hpke-selftest [-v]\n"
            + "       Main verify-request <serverPrivateKeyPemFile> <serverKeyId> <keyId> <secretB64u> <requestJsonFile>\n"
            + "       Main seal-request <serverPublicKeyPemFile> <serverKeyId> <keyId> <secretB64u> <method> <target> <contentType> <bodyB64u>\n"
            + "       Main open-response <contextJsonFile> <responseJsonFile>\n"
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

    /** What an accepted sealed request must hand on: the session key, the body, the content type and the identity. */
    private void checkOpened(Verifier.Result res, byte[] sessionKey, byte[] body, String contentType, Map<String, Object> identity)
            throws Protocol.ResponseInvalidException {
        // the session key the verifier unwrapped: the response it seals opens with the expected key
        dev.wxseal.WxsealResponse sr = res.verified.respond(200, "text/plain", Crypto.utf8("k"));
        Protocol.Payload back = Protocol.openResponse(sessionKey, res.keyId, res.nonce, sr.status(),
            sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
        eq("verifier: session key (its response opens with the expected key)", "k", new String(back.body, StandardCharsets.UTF_8));
        eqBytes("verifier: body", body, res.payload.body);
        eq("verifier: content type", contentType, res.payload.contentType);
        eq("verifier: identity", identity == null ? null : Json.stringify(identity),
            res.payload.identity == null ? null : Json.stringify(res.payload.identity));
    }

    private static String orEmpty(String s) { return s == null ? "" : s; }

    private static String show(Object o) { return o == null ? "null" : o.toString().replace("\n", "\\n"); }

    private static Map<String, Object> load(Path dir, String file) throws IOException {
        return Json.obj(Json.parse(Files.readString(dir.resolve(file), StandardCharsets.UTF_8)));
    }

    private int checkAll(Path dir) {
        String[] files = {"canonical-query.json", "sign.json", "rsa-oaep.json", "seal-request.json", "response.json", "reject.json",
            "device-activation.json", "device-request.json", "x25519.json"};
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
        if (v.containsKey("response.json")) signedRejections(v.get("response.json"));
        if (v.containsKey("reject.json")) reject(v.get("reject.json"), rsaKeys);
        if (v.containsKey("device-activation.json")) deviceActivation(v.get("device-activation.json"));
        if (v.containsKey("device-request.json"))
            deviceRequest(v.get("device-request.json"), v.get("device-activation.json"), rsaKeys);
        if (v.containsKey("x25519.json")) x25519(v.get("x25519.json"), rsaKeys);
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
                    checkOpened(res, sessionKey, body, Json.str(in, "contentType"), identity);
                    dev.wxseal.WxsealResponse sr = res.verified.respond(201, "text/plain", Crypto.utf8("created"));
                    Protocol.Payload back = Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"),
                        sr.status(), sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
                    eq("response round trip body", "created", new String(back.body, StandardCharsets.UTF_8));
                    try {
                        Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"), 200,
                            sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
                        check("a response with a changed status must not open", false);
                    } catch (Protocol.ResponseInvalidException expected) { /* good */ }
                }
            });
        }
    }

    // ---------------------------------------------------------------- RFC 9180 appendix A.1.1

    /**
     * The HPKE underneath the X25519 suite, against the published values of RFC 9180 appendix A.1.1
     * (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode): SPEC 6.5 asks an
     * implementation to check its HPKE there before the wxseal vectors.
     */
    private int hpkeSelftest() {
        String info = "4f6465206f6e2061204772656369616e2055726e";
        String ikmE = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234";
        String pkEm = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
        String skEm = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736";
        String ikmR = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037";
        String pkRm = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d";
        String skRm = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
        String enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
        String sharedSecret = "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc";
        String ksc = "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449";
        String secret = "12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397";
        String key = "4531685d41d65f03dc48f6b8302c05b0";
        String baseNonce = "56d890e5accaaf011cff4b7d";
        String exporterSecret = "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8";
        String pt = "4265617574792069732074727574682c20747275746820626561757479";
        String[][] encryptions = { // seq, aad, nonce, ct
            {"0", "436f756e742d30", "56d890e5accaaf011cff4b7d", "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"},
            {"1", "436f756e742d31", "56d890e5accaaf011cff4b7c", "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84"},
            {"2", "436f756e742d32", "56d890e5accaaf011cff4b7f", "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180"},
            {"4", "436f756e742d34", "56d890e5accaaf011cff4b79", "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d"},
            {"255", "436f756e742d323535", "56d890e5accaaf011cff4b82", "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a"},
            {"256", "436f756e742d323536", "56d890e5accaaf011cff4a7d", "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2"},
        };
        String[][] exports = { // exporter context, value (L = 32)
            {"", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"},
            {"00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"},
            {"54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"},
        };
        unit("A.1.1 DeriveKeyPair (sender and receiver)", () -> {
            eq("skEm", skEm, Crypto.hex(Hpke.derivePrivateKey(unhex(ikmE))));
            eq("pkEm", pkEm, Crypto.hex(Hpke.publicOf(unhex(skEm))));
            eq("skRm", skRm, Crypto.hex(Hpke.derivePrivateKey(unhex(ikmR))));
            eq("pkRm", pkRm, Crypto.hex(Hpke.publicOf(unhex(skRm))));
            eq("pkRm through the JDK key encoding", pkRm, Crypto.hex(Hpke.rawPublicKey(Hpke.publicKeyFromRaw(unhex(pkRm)))));
        });
        unit("A.1.1 Encap with skEm, and Decap", () -> {
            Hpke.Encapsulation e = Hpke.encap(unhex(pkRm), unhex(skEm));
            eq("enc", enc, Crypto.hex(e.enc));
            eq("shared_secret (Encap)", sharedSecret, Crypto.hex(e.sharedSecret));
            eq("shared_secret (Decap)", sharedSecret, Crypto.hex(Hpke.decap(unhex(enc), unhex(skRm))));
        });
        unit("A.1.1 key schedule", () -> {
            Hpke.Context c = Hpke.keySchedule(Hpke.AEAD_AES_128_GCM, unhex(sharedSecret), unhex(info));
            eq("key_schedule_context", ksc, Crypto.hex(c.keyScheduleContext));
            eq("secret", secret, Crypto.hex(c.secret));
            eq("key", key, Crypto.hex(c.key));
            eq("base_nonce", baseNonce, Crypto.hex(c.baseNonce));
            eq("exporter_secret", exporterSecret, Crypto.hex(c.exporterSecret));
        });
        for (String[] x : encryptions) {
            unit("A.1.1.1 encryption seq " + x[0], () -> {
                Hpke.Context c = Hpke.keySchedule(Hpke.AEAD_AES_128_GCM, unhex(sharedSecret), unhex(info));
                long seq = Long.parseLong(x[0]);
                eq("nonce", x[2], Crypto.hex(c.nonce(seq)));
                eq("ct", x[3], Crypto.hex(c.seal(seq, unhex(x[1]), unhex(pt))));
                eq("open(ct)", pt, Crypto.hex(c.open(seq, unhex(x[1]), unhex(x[3]))));
            });
        }
        for (String[] x : exports) {
            unit("A.1.1.2 export context '" + x[0] + "'", () ->
                eq("exported value", x[1], Crypto.hex(Hpke.keySchedule(Hpke.AEAD_AES_128_GCM, unhex(sharedSecret), unhex(info))
                    .export(unhex(x[0]), 32))));
        }
        unit("A.1.1 single-shot SealBase / OpenBase (seq 0)", () -> {
            Hpke.Sealed s = Hpke.sealBase(Hpke.AEAD_AES_128_GCM, unhex(pkRm), unhex(skEm), unhex(info), unhex(encryptions[0][1]), unhex(pt));
            eq("enc", enc, Crypto.hex(s.enc));
            eq("ct", encryptions[0][3], Crypto.hex(s.ct));
            eq("OpenBase", pt, Crypto.hex(Hpke.openBase(Hpke.AEAD_AES_128_GCM, unhex(enc), unhex(skRm), unhex(info),
                unhex(encryptions[0][1]), unhex(encryptions[0][3]))));
        });
        unit("X25519: a low-order enc (all zero, and u = 1) is refused", () -> {
            for (String u : new String[] {"00", "01"}) {
                byte[] point = new byte[32];
                point[0] = unhex(u)[0];
                try {
                    Hpke.decap(point, unhex(skRm));
                    check("Decap of u = " + u + " must fail", false);
                } catch (java.security.GeneralSecurityException expected) { /* good */ }
            }
        });
        unit("X25519: the top bit of u is masked (RFC 7748 5)", () -> {
            byte[] hi = unhex(pkRm);
            hi[31] |= (byte) 0x80;
            eq("X25519(sk, u with bit 255 set) = X25519(sk, u)", Crypto.hex(Hpke.x25519(unhex(skEm), unhex(pkRm))),
                Crypto.hex(Hpke.x25519(unhex(skEm), hi)));
        });
        System.out.println(passed + " passed, " + failed + " failed");
        return failed == 0 && passed > 0 ? 0 : 1;
    }

    // ---------------------------------------------------------------- x25519.json (SPEC 6.5)

    private static byte[] unhex(String h) {
        if (h == null || h.length() % 2 != 0) throw new IllegalArgumentException("not hex: " + h);
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int hi = Character.digit(h.charAt(2 * i), 16), lo = Character.digit(h.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) throw new IllegalArgumentException("not hex: " + h);
            out[i] = (byte) (hi * 16 + lo);
        }
        return out;
    }

    /** The suite ids and info of the file, and the server key: DeriveKeyPair(ikm), raw, PEM, key id. */
    private void x25519FileChecks(Map<String, Object> file) throws Exception {
        Map<String, Object> h = Json.obj(file.get("hpke"));
        eq("hpke.mode", (long) Hpke.MODE_BASE, Json.num(h, "mode"));
        eq("hpke.kemId", (long) Hpke.KEM_X25519_HKDF_SHA256, Json.num(h, "kemId"));
        eq("hpke.kdfId", (long) Hpke.KDF_HKDF_SHA256, Json.num(h, "kdfId"));
        eq("hpke.aeadId", (long) Hpke.AEAD_AES_256_GCM, Json.num(h, "aeadId"));
        eq("hpke.info", Hpke.WXSEAL_INFO, Json.str(h, "info"));
        eq("hpke.infoHex", Crypto.hex(Crypto.utf8(Hpke.WXSEAL_INFO)), Json.str(h, "infoHex"));
        eq("hpke.aadHex (empty)", "", Json.str(h, "aadHex"));
        Map<String, Object> k = Json.obj(file.get("serverKey"));
        byte[] sk = Hpke.derivePrivateKey(unhex(Json.str(k, "ikmHex")));
        eq("serverKey.privateKeyHex = DeriveKeyPair(ikm)", Json.str(k, "privateKeyHex"), Crypto.hex(sk));
        eq("serverKey.publicKeyHex = X25519(sk, 9)", Json.str(k, "publicKeyHex"), Crypto.hex(Hpke.publicOf(sk)));
        PrivateKey priv = Hpke.privateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem"));
        PublicKey pub = Hpke.publicKeyFromSpkiPem(Json.str(k, "publicKeyPem"));
        eq("privateKeyPem holds privateKeyHex", Json.str(k, "privateKeyHex"), Crypto.hex(Hpke.rawPrivateKey(priv)));
        eq("publicKeyPem holds publicKeyHex", Json.str(k, "publicKeyHex"), Crypto.hex(Hpke.rawPublicKey(pub)));
        eq("the generic loaders read the PEMs as X25519", true,
            Hpke.isX25519(Crypto.serverPrivateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem")))
                && Hpke.isX25519(Crypto.serverPublicKeyFromSpkiPem(Json.str(k, "publicKeyPem"))));
        eq("serverKeyId = sk- + 16 hex of SHA-256(DER SPKI)", Json.str(k, "serverKeyId"), Crypto.referenceServerKeyId(pub));
        eq("wrappedKeyBytes", (long) Hpke.WRAPPED_BYTES, Json.num(k, "wrappedKeyBytes"));
    }

    /** One wrap: the ephemeral key, every HPKE intermediate value, the wrapped key, and the unwrap. Returns the wrap. */
    private byte[] x25519Wrap(Map<String, Object> file, Map<String, Object> w) throws Exception {
        Map<String, Object> k = Json.obj(file.get("serverKey"));
        byte[] skR = unhex(Json.str(k, "privateKeyHex"));
        byte[] pkR = unhex(Json.str(k, "publicKeyHex"));
        byte[] sessionKey = B64u.d(Json.str(w, "sessionKey"));
        eq("sessionKey length", 32, sessionKey.length);
        byte[] skE = Hpke.derivePrivateKey(unhex(Json.str(w, "ephemeralIkmHex")));
        eq("ephemeralPrivateKeyHex = DeriveKeyPair(ephemeralIkm)", Json.str(w, "ephemeralPrivateKeyHex"), Crypto.hex(skE));
        Hpke.Sealed s = Hpke.sealBase(Hpke.AEAD_AES_256_GCM, pkR, unhex(Json.str(w, "ephemeralPrivateKeyHex")),
            Crypto.utf8(Hpke.WXSEAL_INFO), new byte[0], sessionKey);
        eq("encHex", Json.str(w, "encHex"), Crypto.hex(s.enc));
        eq("sharedSecretHex", Json.str(w, "sharedSecretHex"), Crypto.hex(s.encapsulation.sharedSecret));
        eq("keyScheduleContextHex", Json.str(w, "keyScheduleContextHex"), Crypto.hex(s.context.keyScheduleContext));
        eq("keyHex", Json.str(w, "keyHex"), Crypto.hex(s.context.key));
        eq("baseNonceHex", Json.str(w, "baseNonceHex"), Crypto.hex(s.context.baseNonce));
        byte[] wrapped = Crypto.concat(s.enc, s.ct);
        eq("wrapped = b64u(enc || ct)", Json.str(w, "wrapped"), B64u.encode(wrapped));
        eq("wrapped length", Hpke.WRAPPED_BYTES, wrapped.length);
        eq("header length", 107, B64u.encode(wrapped).length());
        eqBytes("wrap(K, fixed ephemeral key)", wrapped, Hpke.wrap(pkR, sessionKey, skE));
        // receiver side, from the vector's own bytes
        byte[] given = B64u.d(Json.str(w, "wrapped"));
        eq("Decap(enc, skR) = sharedSecret", Json.str(w, "sharedSecretHex"), Crypto.hex(Hpke.decap(Crypto.slice(given, 0, 32), skR)));
        eqBytes("unwrap(wrapped) = sessionKey", sessionKey, Hpke.unwrap(Hpke.privateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem")), given));
        // a fresh ephemeral key: another wrap of the same K, which unwraps to K
        byte[] fresh = Crypto.wrapSessionKey(Hpke.publicKeyFromSpkiPem(Json.str(k, "publicKeyPem")), sessionKey);
        check("a fresh wrap differs from the fixed one", !Arrays.equals(fresh, wrapped));
        eqBytes("unwrap(fresh wrap) = sessionKey", sessionKey, Hpke.unwrap(skR, fresh));
        return wrapped;
    }

    /** A verifier holding the X25519 server key of x25519.json and, when loaded, the RSA key of rsa-oaep.json (either type, SPEC 2). */
    private static Verifier x25519Server(Map<String, Object> file, String keyId, byte[] secret, List<Object> rsaKeys) {
        Verifier v = new Verifier();
        Verifier.Credential cred = new Verifier.Credential();
        cred.secrets.add(new Verifier.Secret(secret, null, null));
        v.credentials.put(keyId, cred);
        Map<String, Object> k = Json.obj(file.get("serverKey"));
        v.serverKeys.put(Json.str(k, "serverKeyId"), Crypto.serverPrivateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem")));
        if (rsaKeys != null) {
            Map<String, Object> rk = Json.obj(rsaKeys.get(0));
            v.serverKeys.put(Json.str(rk, "serverKeyId"), Crypto.serverPrivateKeyFromPkcs8Pem(Json.str(rk, "privateKeyPem")));
        }
        return v;
    }

    private void x25519(Map<String, Object> file, List<Object> rsaKeys) {
        int n = 0;
        for (Object o : Json.arr(file.get("wraps"))) {
            Map<String, Object> w = Json.obj(o);
            unit("x25519.wraps[" + n++ + "]", () -> {
                x25519FileChecks(file);
                x25519Wrap(file, w);
            });
        }
        n = 0;
        for (Object o : Json.arr(file.get("sealed"))) {
            Map<String, Object> c = Json.obj(o);
            unit("x25519.sealed[" + n++ + "] " + Json.str(c, "description"), () -> {
                x25519FileChecks(file);
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                Map<String, Object> w = Json.obj(in.get("wrap"));
                eq("input.mode", "sealed", Json.str(in, "mode"));
                eq("input.serverKeyId names the X25519 key", Json.str(Json.obj(file.get("serverKey")), "serverKeyId"), Json.str(in, "serverKeyId"));
                byte[] wrapped = x25519Wrap(file, w);
                byte[] secret = B64u.d(Json.str(in, "secret"));
                byte[] sessionKey = B64u.d(Json.str(w, "sessionKey"));
                String keyId = Json.str(in, "keyId"), nonce = Json.str(in, "nonce"), ts = Json.str(in, "timestamp");
                Object idv = in.get("identity");
                Map<String, Object> identity = idv == null || idv == Json.NULL ? null : Json.obj(idv);
                byte[] body = B64u.d(Json.str(in, "body"));
                // the request rebuilt from the inputs, the wrap being our own (fixed ephemeral key)
                Protocol.SealedRequest r = Protocol.sealRequest(Json.str(in, "method"), Json.str(in, "target"), keyId, secret,
                    Json.str(in, "serverKeyId"), null, wrapped, sessionKey, B64u.d(Json.str(in, "iv")), ts, nonce,
                    Json.str(in, "contentType"), identity, Json.str(in, "traceparent"), body);
                eq("requestAad", Json.str(ex, "requestAad"), r.aad);
                eqBytes("plaintext", B64u.d(Json.str(ex, "plaintext")), r.plaintext);
                eqBytes("sealedBody", B64u.d(Json.str(ex, "sealedBody")), r.body);
                eq("bodySha256Hex", Json.str(ex, "bodySha256Hex"), Crypto.hex(Crypto.sha256(r.body)));
                eq("canonical", Json.str(ex, "canonical"), r.canonical);
                Map<String, String> eh = stringMap(ex.get("headers"));
                eqHeaders("header", eh, r.headers);

                // the vector's own request, as sent, through the independent verifier holding both key types
                Verifier ver = x25519Server(file, keyId, secret, rsaKeys);
                Verifier.Result res = ver.verify(toRequest(Json.str(in, "method"), Json.str(in, "target"), eh,
                    B64u.d(Json.str(ex, "sealedBody"))), Long.parseLong(ts));
                check("verifier accepts the vector request: " + res, res.accepted());
                if (res.accepted()) {
                    checkOpened(res, sessionKey, body, Json.str(in, "contentType"), identity);
                }
                // the same request naming the RSA key: the decoded length is not its modulus length (step 4)
                if (rsaKeys != null) {
                    Map<String, String> other = new LinkedHashMap<>(eh);
                    other.put("wxseal-server-key-id", Json.str(Json.obj(rsaKeys.get(0)), "serverKeyId"));
                    Verifier.Result r2 = x25519Server(file, keyId, secret, rsaKeys).verify(toRequest(Json.str(in, "method"),
                        Json.str(in, "target"), other, B64u.d(Json.str(ex, "sealedBody"))), Long.parseLong(ts));
                    eq("80 bytes under an RSA key id", "WXSEAL_MALFORMED_HEADER", r2.code);
                }

                // the sealed response (6.3), from K as for RSA, and its opening (6.4)
                Map<String, Object> rsp = Json.obj(c.get("response"));
                Map<String, Object> ri = Json.obj(rsp.get("input"));
                Map<String, Object> re = Json.obj(rsp.get("expected"));
                int status = (int) Json.num(ri, "status");
                byte[] rbody = B64u.d(Json.str(ri, "body"));
                String rct = Json.str(ri, "contentType");
                Protocol.SealedResponse sr = Protocol.sealResponse(sessionKey, B64u.d(Json.str(ri, "responseNonce")), keyId, nonce,
                    status, rct, rbody);
                eq("response wireStatus", Json.num(re, "wireStatus"), (long) sr.wireStatus);
                eqBytes("response sealedBody", B64u.d(Json.str(re, "sealedBody")), sr.body);
                eqHeaders("response header", stringMap(re.get("headers")), sr.headers);
                Map<String, String> rh = stringMap(re.get("headers"));
                Protocol.Payload p = Protocol.openResponse(sessionKey, keyId, nonce, (int) Json.num(re, "wireStatus"),
                    rh.get("content-type"), rh.get("wxseal-response-nonce"), B64u.d(Json.str(re, "sealedBody")));
                eq("opened response content type", rct, p.contentType);
                eqBytes("opened response body", Protocol.noContentStatus(status) ? new byte[0] : rbody, p.body);
            });
        }
        n = 0;
        List<Object> sealedCases = Json.arr(file.get("sealed"));
        for (Object o : Json.arr(file.get("unwrapFailures"))) {
            Map<String, Object> c = Json.obj(o);
            unit("x25519.unwrapFailures[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> k = Json.obj(file.get("serverKey"));
                String wrappedB64 = Json.str(c, "wrapped");
                byte[] wrapped = B64u.d(wrappedB64);
                try {
                    byte[] got = Hpke.unwrap(Hpke.privateKeyFromPkcs8Pem(Json.str(k, "privateKeyPem")), wrapped);
                    check("must not unwrap, but gave " + B64u.encode(got), false);
                } catch (java.security.GeneralSecurityException expected) { /* good */ }
                // through the verifier: a request signed with this wrapped key (so the HMAC passes) fails at
                // step 7 with WXSEAL_UNWRAP_FAILED; one of another length is refused earlier (SPEC 4, 9).
                Map<String, Object> in = Json.obj(Json.obj(sealedCases.get(0)).get("input"));
                byte[] secret = B64u.d(Json.str(in, "secret"));
                String ts = Json.str(in, "timestamp");
                Protocol.SealedRequest r = Protocol.sealRequest(Json.str(in, "method"), Json.str(in, "target"), Json.str(in, "keyId"),
                    secret, Json.str(in, "serverKeyId"), null, wrapped, Crypto.random(32), Crypto.random(12), ts, freshNonce(),
                    Json.str(in, "contentType"), null, null, B64u.d(Json.str(in, "body")));
                Verifier.Result res = x25519Server(file, Json.str(in, "keyId"), secret, rsaKeys).verify(toRequest(r.method, r.target,
                    r.headers, r.body), Long.parseLong(ts));
                eq("verifier code (" + wrapped.length + " bytes)",
                    wrapped.length == Hpke.WRAPPED_BYTES ? "WXSEAL_UNWRAP_FAILED" : "WXSEAL_MALFORMED_HEADER", res.code);
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

    // ---------------------------------------------------------------- response.json: SPEC 10.1

    private void signedRejections(Map<String, Object> file) {
        int n = 0;
        for (Object o : Json.arr(file.get("signedRejections"))) {
            Map<String, Object> c = Json.obj(o);
            unit("response.signedRejections[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> rq = Json.obj(c.get("request"));
                Map<String, Object> rs = Json.obj(c.get("response"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                Map<String, String> h = stringMap(rs.get("headers"));
                int status = (int) Json.num(rs, "status");
                byte[] secret = B64u.d(Json.str(rq, "secret"));
                String code = h.get("wxseal-error");
                eq("status of " + code, (long) Verifier.statusOf(code), (long) status);
                String canonical = Protocol.canonicalRejection(Json.str(rq, "keyId"), Json.str(rq, "nonce"), status, code, h.get("wxseal-server-time"));
                eq("canonical", Json.str(ex, "canonical"), canonical);
                eq("signature", Json.str(ex, "signature"), B64u.encode(Protocol.sign(secret, canonical)));
                eq("wxseal-signature header", Json.str(ex, "signature"), h.get("wxseal-signature"));
                eq("body error.code", code, Json.str(Json.obj(Json.obj(Json.parse(utf8(B64u.d(Json.str(rs, "body"))))).get("error")), "code"));
                check("a client trusts it for its request", Protocol.trustedRejection(status, h, Json.str(rq, "keyId"), Json.str(rq, "nonce"), secret));
            });
        }
        n = 0;
        for (Object o : Json.arr(file.get("rejectionMustNotVerify"))) {
            Map<String, Object> c = Json.obj(o);
            unit("response.rejectionMustNotVerify[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> rq = Json.obj(c.get("request"));
                Map<String, Object> rs = Json.obj(c.get("response"));
                check("a client must not trust it", !Protocol.trustedRejection((int) Json.num(rs, "status"), stringMap(rs.get("headers")),
                    Json.str(rq, "keyId"), Json.str(rq, "nonce"), B64u.d(Json.str(rq, "secret"))));
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
                if (res.accepted() && c.containsKey("expectedIdentity")) {
                    Map<String, Object> got = res.payload.identity == null ? Map.of() : res.payload.identity;
                    eq("identity handed on", Json.stringify(c.get("expectedIdentity")), Json.stringify(got));
                }
                if (res.accepted() && c.containsKey("expectedContentType")) {
                    Object want = c.get("expectedContentType");
                    eq("content type handed on", want == Json.NULL ? null : want, res.payload.contentType);
                }
                if (!res.accepted()) {
                    // SPEC 10.1: signed exactly when raised after the signature verified, and then
                    // trusted by a client for this request.
                    boolean after = java.util.Set.of("WXSEAL_REPLAYED_NONCE", "WXSEAL_NONCE_STORE_FULL", "WXSEAL_NONCE_STORE_UNAVAILABLE",
                        "WXSEAL_NONCE_STORE_RESET", "WXSEAL_UNWRAP_FAILED", "WXSEAL_DECRYPT_FAILED", "WXSEAL_MALFORMED_PAYLOAD").contains(res.code);
                    boolean before = !after && !res.code.equals("WXSEAL_MALFORMED_HEADER");
                    if (after) check(res.code + " must be signed", res.rejectionSignature != null);
                    if (before) check(res.code + " must not be signed", res.rejectionSignature == null);
                    if (res.rejectionSignature != null) {
                        Map<String, String> h = Map.of("wxseal-error", res.code, "wxseal-server-time", res.serverTime,
                            "wxseal-signature", res.rejectionSignature);
                        check("a client trusts the signed rejection", Protocol.trustedRejection(res.status, h,
                            req.headers.get("wxseal-key-id").get(0), req.headers.get("wxseal-nonce").get(0), B64u.d(Json.str(file, "secret"))));
                    }
                }
                if (verbose) System.out.println("     -> " + res);
                if (!res.accepted() && expected != null && !expected.equals(res.code))
                    caseFailures.add("  detail: " + res.detail);
            });
        }
    }

    // ================================================================== SPEC 15: devices

    private static String utf8(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    private static String freshNonce() { return B64u.encode(Crypto.random(16)); }

    /** The headers of a vector ("name": "value", all strings). */
    private static Map<String, String> stringMap(Object o) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.obj(o).entrySet()) out.put(e.getKey(), (String) e.getValue());
        return out;
    }

    private void eqHeaders(String what, Map<String, String> expected, Map<String, String> actual) {
        eq(what + " names", new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()));
        for (Map.Entry<String, String> h : expected.entrySet()) eq(what + " " + h.getKey(), h.getValue(), actual.get(h.getKey()));
    }

    private static Verifier.Request toRequest(String method, String target, Map<String, String> headers, byte[] body) {
        Verifier.Request req = new Verifier.Request();
        req.method = method;
        req.target = target;
        headers.forEach(req::header);
        req.body = body;
        return req;
    }

    private static Verifier.Request toRequest(Device.SignedRequest r) { return toRequest(r.method, r.target, r.headers, r.body); }

    /** A verifier whose device store is srv (and which shares its nonce store, 15.5). */
    private static Verifier deviceVerifier(DeviceServer srv) {
        Verifier v = new Verifier();
        v.devices = srv;
        v.nonces = srv.nonces;
        v.windowSeconds = 60;
        srv.clientCredentials = v.credentials;
        return v;
    }

    private static Device.Binding binding(Map<String, Object> b) {
        return new Device.Binding(Json.str(b, "purpose"), B64u.d(Json.str(b, "wrappingSecret")), Json.str(b, "productId"),
            Json.str(b, "serial"), Json.str(b, "requestNonce"));
    }

    /** A device-signed request must verify, with the given key version (15.2). */
    private void deviceRequestVerifies(String what, Verifier v, String serial, byte[] key, long version, long now) {
        Device.SignedRequest r = Device.signRequest(serial, key, "POST", "/api/devices/telemetry", "application/json",
            Crypto.utf8("{}"), null, Long.toString(now), freshNonce());
        Verifier.Result res = v.verify(toRequest(r), now);
        eq(what, "accepted v" + version, res.accepted() ? "accepted v" + res.deviceKeyVersion : res.toString());
    }

    private String deviceRequestResult(Verifier v, String serial, byte[] key, long now) {
        Device.SignedRequest r = Device.signRequest(serial, key, "POST", "/api/devices/telemetry", "application/json",
            Crypto.utf8("{}"), null, Long.toString(now), freshNonce());
        Verifier.Result res = v.verify(toRequest(r), now);
        return res.accepted() ? "accepted v" + res.deviceKeyVersion : res.code;
    }

    // ---------------------------------------------------------------- device-activation.json

    private void deviceActivation(Map<String, Object> file) {
        List<Object> deliveries = Json.arr(file.get("delivery"));
        int n = 0;
        for (Object o : Json.arr(file.get("activation"))) {
            Map<String, Object> c = Json.obj(o);
            int idx = n++;
            unit("device-activation.activation[" + idx + "] " + Json.str(c, "description"), () -> {
                if (idx == 0) eq("activationPath", Json.str(file, "activationPath"), Device.ACTIVATION_PATH);
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                String productId = Json.str(in, "productId"), serial = Json.str(in, "serial");
                String ts = Json.str(in, "timestamp"), nonce = Json.str(in, "nonce");
                byte[] ps = B64u.d(Json.str(in, "productSecret"));
                // device: 15.3 / 15.4
                Device.ActivationRequest a = Device.buildActivation(productId, serial, ps, ts, nonce);
                eq("canonical", Json.str(ex, "canonical"), a.canonical);
                eq("signature", Json.str(ex, "signature"), a.signature);
                eq("body (b64u)", Json.str(ex, "body"), B64u.encode(Crypto.utf8(a.body)));
                eqHeaders("header", stringMap(ex.get("headers")), a.headers);
                // server, step 2: the expected body parses back to the same values
                Device.ActivationRequest back = Device.parseActivation(B64u.d(Json.str(ex, "body")));
                eq("parsed", productId + "|" + serial + "|" + ts + "|" + nonce + "|" + Json.str(ex, "signature"),
                    back.productId + "|" + back.serial + "|" + back.timestamp + "|" + back.nonce + "|" + back.signature);
                eq("parsed canonical", Json.str(ex, "canonical"), back.canonical);

                // server round trip (15.5, 15.6): with the delivery vector answering this request, if any,
                // the Java server must answer byte for byte the same body when given the same random values.
                Map<String, Object> dIn = null, dEx = null;
                for (Object d : deliveries) {
                    Map<String, Object> di = Json.obj(Json.obj(d).get("input"));
                    if ("activate".equals(Json.str(di, "purpose")) && nonce.equals(Json.str(di, "requestNonce"))
                        && serial.equals(Json.str(di, "serial")) && productId.equals(Json.str(di, "productId"))) {
                        dIn = di; dEx = Json.obj(Json.obj(d).get("expected"));
                    }
                }
                DeviceServer srv = new DeviceServer();
                srv.product(productId, ps);
                byte[] devKey = dIn != null ? B64u.d(Json.str(dIn, "deviceKey")) : Crypto.random(32);
                byte[] sn = dIn != null ? B64u.d(Json.str(dIn, "serverNonce")) : Crypto.random(32);
                long version = dIn != null ? Long.parseLong(Json.str(dIn, "keyVersion")) : 1;
                if (dIn != null) eqBytes("delivery wrappingSecret = product secret", ps, B64u.d(Json.str(dIn, "wrappingSecret")));
                if (version > 1) srv.register(productId, serial).highestVersion = version - 1; // a re-armed serial
                srv.newDeviceKey = () -> devKey;
                srv.newServerNonce = () -> sn;
                long now = Long.parseLong(ts);
                byte[] body = Crypto.utf8(a.body);
                DeviceServer.Answer ans = srv.activate(body, Integer.toString(body.length), now);
                check("the Java server accepts the activation, got " + ans, ans.accepted());
                if (!ans.accepted()) return;
                eq("status", 200, ans.status);
                eq("matched product secret", 0, ans.secretIndex);
                if (dEx != null) {
                    eq("server answer body = delivery vector body", Json.str(dEx, "body"), B64u.encode(ans.body));
                    eqHeaders("answer header", stringMap(dEx.get("headers")), ans.headers);
                }
                eq("serial state after delivery", DeviceServer.State.PENDING, srv.stateOf(serial, now));
                // device: 15.6
                Device.Opened op = Device.openActivationAnswer(new Device.Binding("activate", ps, productId, serial, nonce),
                    ans.status, ans.headers, ans.body);
                eqBytes("opened device key", devKey, op.deviceKey);
                eq("opened key version", Long.toString(version), op.keyVersion);
                // 15.8: the first request that verifies with the pending key makes the serial active;
                // an activation of an active serial is WXSEAL_KEY_REVOKED
                Verifier v = deviceVerifier(srv);
                deviceRequestVerifies("request signed with the delivered key", v, serial, op.deviceKey, version, now);
                eq("serial state after a verified request", DeviceServer.State.ACTIVE, srv.stateOf(serial, now));
                Device.ActivationRequest again = Device.buildActivation(productId, serial, ps, ts, freshNonce());
                eq("activation of an active serial", "WXSEAL_KEY_REVOKED", srv.activate(Crypto.utf8(again.body), null, now).code);
            });
        }

        n = 0;
        for (Object o : deliveries) {
            Map<String, Object> c = Json.obj(o);
            unit("device-activation.delivery[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                byte[] ws = B64u.d(Json.str(in, "wrappingSecret"));
                byte[] devKey = B64u.d(Json.str(in, "deviceKey"));
                Device.Delivery d = Device.seal(Json.str(in, "purpose"), ws, Json.str(in, "productId"), Json.str(in, "serial"),
                    Json.str(in, "requestNonce"), Json.str(in, "keyVersion"), devKey, B64u.d(Json.str(in, "serverNonce")));
                eq("hkdfInfo", Json.str(ex, "hkdfInfo"), d.info);
                eq("saltHex", Json.str(ex, "saltHex"), Crypto.hex(d.salt));
                eq("okmHex", Json.str(ex, "okmHex"), Crypto.hex(d.okm));
                eq("wrapKeyHex", Json.str(ex, "wrapKeyHex"), Crypto.hex(Crypto.slice(d.okm, 0, 32)));
                eq("wrapIvHex", Json.str(ex, "wrapIvHex"), Crypto.hex(Crypto.slice(d.okm, 32, 44)));
                eq("aad", Json.str(ex, "aad"), d.aad);
                eq("sealedKey", Json.str(ex, "sealedKey"), B64u.encode(d.sealedKey));
                eq("sealedKey length", 64, B64u.encode(d.sealedKey).length());
                eq("body (b64u)", Json.str(ex, "body"), B64u.encode(Crypto.utf8(d.body)));
                eqHeaders("header", stringMap(ex.get("headers")), d.headers);
                // device side: the expected body opens with the binding to the device key and version
                Device.Opened op = Device.open(new Device.Binding(Json.str(in, "purpose"), ws, Json.str(in, "productId"),
                    Json.str(in, "serial"), Json.str(in, "requestNonce")), B64u.d(Json.str(ex, "body")));
                eqBytes("opened device key", devKey, op.deviceKey);
                eq("opened key version", Json.str(in, "keyVersion"), op.keyVersion);
            });
        }

        Map<String, Object> verify = Json.obj(file.get("verify"));
        n = 0;
        for (Object o : Json.arr(verify.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("device-activation.verify[" + n++ + "] " + Json.str(c, "description"), () -> {
                List<Object> secretsJson = Json.arr(c.containsKey("productSecrets") ? c.get("productSecrets") : verify.get("productSecrets"));
                byte[][] secrets = new byte[secretsJson.size()][];
                for (int k = 0; k < secrets.length; k++) secrets[k] = B64u.d((String) secretsJson.get(k));
                // the server the file describes: one product, window 60 s, a fresh nonce store; no serial
                // registered in advance, so the first activation of a serial creates it (15.8)
                DeviceServer srv = new DeviceServer();
                srv.product(Json.str(verify, "productId"), secrets);
                srv.windowSeconds = Json.num(verify, "windowSeconds");
                long now = Json.num(c, "now");
                String expected = Json.str(c, "expectedCode");
                byte[] body = B64u.d(Json.str(c, "body"));
                String cl = null; // the vectors give the body only: step 1 then counts the bytes read
                if (c.containsKey("precededBy")) {
                    byte[] pre = B64u.d(Json.str(c, "precededBy"));
                    DeviceServer.Answer first = srv.activate(pre, null, now);
                    check("precededBy must be accepted, got " + first, first.accepted());
                }
                DeviceServer.Answer a = srv.activate(body, cl, now);
                if (Boolean.TRUE.equals(c.get("sendTwice"))) {
                    check("first send must be accepted, got " + a, a.accepted());
                    a = srv.activate(body, cl, now);
                }
                eq("activation verifier result", expected == null ? "accepted" : expected, a.accepted() ? "accepted" : a.code);
                if (verbose) System.out.println("     -> " + (a.accepted() ? "accepted" : a.code + " (" + utf8(a.body) + ")"));
                if (a.accepted()) {
                    if (expected == null) eq("expectedSecretIndex", Json.num(c, "expectedSecretIndex"), (long) a.secretIndex);
                    eq("status", 200, a.status);
                    eq("content-type", "application/json", a.headers.get("content-type"));
                    eq("cache-control", "no-store", a.headers.get("cache-control"));
                    Device.ActivationRequest req = Device.parseActivation(body);
                    Device.Opened op = Device.openActivationAnswer(new Device.Binding("activate", secrets[a.secretIndex],
                        req.productId, req.serial, req.nonce), a.status, a.headers, a.body);
                    eq("delivered key version", "1", op.keyVersion);
                } else {
                    // section 10 rejection, never signed (15.5)
                    eq("status of " + a.code, (long) Verifier.statusOf(a.code), (long) a.status);
                    eq("wxseal-error", a.code, a.headers.get("wxseal-error"));
                    eq("wxseal-server-time", Long.toString(now), a.headers.get("wxseal-server-time"));
                    eq("content-type", "application/json", a.headers.get("content-type"));
                    eq("not signed", null, a.headers.get("wxseal-signature"));
                    eq("body error.code", a.code, Json.str(Json.obj(Json.obj(Json.parse(utf8(a.body))).get("error")), "code"));
                    try {
                        Device.openActivationAnswer(new Device.Binding("activate", secrets[0], "p", "s", freshNonce()),
                            a.status, a.headers, a.body);
                        check("the device must recognise the rejection", false);
                    } catch (Device.Rejected r) {
                        eq("code the device recognises", a.code, r.code);
                    }
                }
            });
        }

        n = 0;
        for (Object o : Json.arr(file.get("mustNotOpen"))) {
            Map<String, Object> c = Json.obj(o);
            unit("device-activation.mustNotOpen[" + n++ + "] " + Json.str(c, "description"), () -> {
                Device.Binding b = binding(Json.obj(c.get("binding")));
                byte[] body = B64u.d(Json.str(c, "body"));
                try {
                    Device.Opened op = Device.openActivationAnswer(b, 200, Map.of("content-type", "application/json"), body);
                    check("must not open, but opened to key version " + op.keyVersion, false);
                } catch (Protocol.ResponseInvalidException expected) {
                    if (verbose) System.out.println("     -> " + expected.getMessage());
                }
                // Not vacuous: when the body is one of the delivery vectors, it opens with that vector's own binding.
                for (Object d : deliveries) {
                    Map<String, Object> di = Json.obj(Json.obj(d).get("input"));
                    if (!Json.str(Json.obj(Json.obj(d).get("expected")), "body").equals(Json.str(c, "body"))) continue;
                    Device.open(new Device.Binding(Json.str(di, "purpose"), B64u.d(Json.str(di, "wrappingSecret")),
                        Json.str(di, "productId"), Json.str(di, "serial"), Json.str(di, "requestNonce")), body);
                }
            });
        }
    }

    // ---------------------------------------------------------------- device-request.json

    private void deviceRequest(Map<String, Object> file, Map<String, Object> activationFile, List<Object> rsaKeys) {
        Map<String, Object> rot = Json.obj(file.get("rotation"));
        int n = 0;
        for (Object o : Json.arr(file.get("cases"))) {
            Map<String, Object> c = Json.obj(o);
            unit("device-request.cases[" + n++ + "] " + Json.str(c, "description"), () -> {
                Map<String, Object> in = Json.obj(c.get("input"));
                Map<String, Object> ex = Json.obj(c.get("expected"));
                eq("mode", "signed", Json.str(in, "mode"));
                String serial = Json.str(in, "serial");
                byte[] key = B64u.d(Json.str(in, "deviceKey"));
                eq("device key is 32 bytes", 32, key.length);
                Device.SignedRequest r = Device.signRequest(serial, key, Json.str(in, "method"), Json.str(in, "target"),
                    Json.str(in, "contentType"), B64u.d(Json.str(in, "body")), null, Json.str(in, "timestamp"), Json.str(in, "nonce"));
                eq("canonical", Json.str(ex, "canonical"), r.canonical);
                eqHeaders("header", stringMap(ex.get("headers")), r.headers);
                // the verifier of section 9, the serial looked up as a key id at step 4 (15.2)
                DeviceServer srv = new DeviceServer();
                long version = Long.parseLong(Json.str(in, "keyVersion"));
                srv.restoreActive(Json.str(rot, "productId"), serial, version, key);
                Verifier v = deviceVerifier(srv);
                Verifier.Result res = v.verify(toRequest(r.method, r.target, stringMap(ex.get("headers")), r.body),
                    Long.parseLong(Json.str(in, "timestamp")));
                eq("verifier", "accepted v" + version, res.accepted() ? "accepted v" + res.deviceKeyVersion : res.toString());
            });
        }

        unit("device-request.rotation", () -> {
            String serial = Json.str(rot, "serial"), productId = Json.str(rot, "productId");
            byte[] key1 = B64u.d(Json.str(rot, "deviceKey"));
            long v1 = Long.parseLong(Json.str(rot, "keyVersion"));
            Map<String, Object> rq = Json.obj(rot.get("request"));
            Map<String, String> rh = stringMap(rq.get("headers"));
            String ts = rh.get("wxseal-timestamp"), nonce = rh.get("wxseal-nonce");
            long now = Long.parseLong(ts);
            // device: 15.7 step 1, an empty-body POST to the rotation path signed with the current key
            eq("rotation path", Device.ROTATION_PATH, Protocol.pathOf(Json.str(rq, "target")));
            eq("method", "POST", Json.str(rq, "method"));
            Device.SignedRequest r = Device.signRequest(serial, key1, Json.str(rq, "method"), Json.str(rq, "target"),
                rh.get("content-type"), B64u.d(Json.str(rq, "body")), null, ts, nonce);
            eq("canonical", Json.str(rq, "canonical"), r.canonical);
            eqHeaders("request header", rh, r.headers);
            eq("empty body", 0, r.body.length);

            // server: verify (section 9), then the handler (15.7 step 2), then sign (section 12)
            Map<String, Object> rs = Json.obj(rot.get("response"));
            byte[] respBody = B64u.d(Json.str(rs, "body"));
            byte[] sn = B64u.d(Json.str(Json.obj(Json.parse(utf8(respBody))), "serverNonce"));
            byte[] key2 = B64u.d(Json.str(rot, "newDeviceKey"));
            DeviceServer srv = new DeviceServer();
            srv.restoreActive(productId, serial, v1, key1);
            srv.newDeviceKey = () -> key2;
            srv.newServerNonce = () -> sn;
            Verifier v = deviceVerifier(srv);
            Verifier.Request req = toRequest(Json.str(rq, "method"), Json.str(rq, "target"), rh, B64u.d(Json.str(rq, "body")));
            Verifier.Result res = v.verify(req, now);
            eq("verifier", "accepted v" + v1, res.accepted() ? "accepted v" + res.deviceKeyVersion : res.toString());
            if (!res.accepted()) return;
            DeviceServer.Answer out = DeviceServer.respond(res, srv.rotate(res, req, now));
            eq("status", Json.num(rs, "status"), (long) out.status);
            eq("response body (b64u)", Json.str(rs, "body"), B64u.encode(out.body));
            Map<String, String> expHeaders = stringMap(rs.get("headers"));
            for (Map.Entry<String, String> h : expHeaders.entrySet()) eq("response header " + h.getKey(), h.getValue(), out.headers.get(h.getKey()));
            for (String h : out.headers.keySet())
                if (!expHeaders.containsKey(h)) check("unexpected response header " + h, h.equals("cache-control")); // 15.7: SHOULD carry no-store
            eq("valid versions after rotation", List.of(v1, v1 + 1), new ArrayList<>(srv.validKeys(serial, now).keySet()));

            // cross-file: the delivery inside is device-activation.json's rotation delivery for this request
            if (activationFile != null) {
                boolean found = false;
                for (Object d : Json.arr(activationFile.get("delivery"))) {
                    Map<String, Object> di = Json.obj(Json.obj(d).get("input"));
                    if (!"rotate".equals(Json.str(di, "purpose")) || !nonce.equals(Json.str(di, "requestNonce"))) continue;
                    found = true;
                    eq("delivery vector body", Json.str(Json.obj(Json.obj(d).get("expected")), "body"), Json.str(rs, "body"));
                    eqBytes("delivery vector wrapping secret = current device key", key1, B64u.d(Json.str(di, "wrappingSecret")));
                }
                check("device-activation.json has the rotation delivery for nonce " + nonce, found);
            }

            // device: 15.7 step 3, authenticate (section 12) then open with the current key
            Device.Opened op = Device.openRotationAnswer(productId, serial, key1, nonce, (int) Json.num(rs, "status"), expHeaders, respBody);
            eqBytes("newDeviceKey", key2, op.deviceKey);
            eq("newKeyVersion", Json.str(rot, "newKeyVersion"), op.keyVersion);
            Map<String, String> forged = new LinkedHashMap<>(expHeaders);
            forged.put("wxseal-signature", B64u.encode(Protocol.sign(Crypto.random(32), "x")));
            try {
                Device.openRotationAnswer(productId, serial, key1, nonce, 200, forged, respBody);
                check("a rotation answer with another signature must be refused", false);
            } catch (Protocol.ResponseInvalidException expected) { /* good */ }

            // 15.7: both keys verify during the grace; after it, only the new one
            deviceRequestVerifies("request with the new key", v, serial, key2, v1 + 1, now + 1);
            deviceRequestVerifies("request with the old key within the grace", v, serial, key1, v1, now + 2);
            long after = now + srv.graceSeconds + 1;
            eq("old key after the grace", "WXSEAL_BAD_SIGNATURE", deviceRequestResult(v, serial, key1, after));
            deviceRequestVerifies("new key after the grace", v, serial, key2, v1 + 1, after);

            // the same exchange in sealed mode ("in any mode the route accepts"): rotate again, 2 -> 3
            Map<String, Object> rk = Json.obj(rsaKeys.get(0));
            v.serverKeys.put(Json.str(rk, "serverKeyId"), Crypto.privateKeyFromPkcs8Pem(Json.str(rk, "privateKeyPem")));
            byte[] k = Crypto.random(32), key3 = Crypto.random(32);
            srv.newDeviceKey = () -> key3;
            srv.newServerNonce = () -> Crypto.random(32);
            String n2 = freshNonce();
            Protocol.SealedRequest sr = Protocol.sealRequest("POST", Device.ROTATION_PATH, serial, key2, Json.str(rk, "serverKeyId"),
                Crypto.publicKeyFromSpkiPem(Json.str(rk, "publicKeyPem")), null, k, Crypto.random(12), Long.toString(after), n2,
                null, null, null, new byte[0]);
            Verifier.Request sreq = toRequest(sr.method, sr.target, sr.headers, sr.body);
            Verifier.Result sres = v.verify(sreq, after);
            eq("sealed rotation request", "accepted v" + (v1 + 1), sres.accepted() ? "accepted v" + sres.deviceKeyVersion : sres.toString());
            if (!sres.accepted()) return;
            DeviceServer.Answer sout = DeviceServer.respond(sres, srv.rotate(sres, sreq, after));
            Protocol.Payload p = Protocol.openResponse(k, serial, n2, sout.status, sout.headers.get("content-type"),
                sout.headers.get("wxseal-response-nonce"), sout.body);
            eq("sealed rotation inner content type", "application/json", p.contentType);
            Device.Opened op3 = Device.open(new Device.Binding("rotate", key2, productId, serial, n2), p.body);
            eqBytes("sealed rotation key", key3, op3.deviceKey);
            eq("sealed rotation version", Long.toString(v1 + 2), op3.keyVersion);
            eq("valid versions after the second rotation", List.of(v1 + 1, v1 + 2), new ArrayList<>(srv.validKeys(serial, after).keySet()));
        });
    }

    // ---------------------------------------------------------------- device-selftest (not vectors)

    /**
     * Scenarios of 15.5, 15.7 and 15.8 that no vector covers, against this implementation only.
     * Prints "N passed, M failed" like check.
     */
    private int deviceSelftest() {
        byte[] ps = Crypto.random(32);
        String prod = "prod-a", serial = "unit-0001";
        long now = 1_763_900_000L;

        unit("selftest: registration required: an unregistered serial is WXSEAL_UNKNOWN_KEY_ID, a registered one activates", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            s.requireRegistration = true;
            eq("unregistered", "WXSEAL_UNKNOWN_KEY_ID", activate(s, prod, serial, ps, now).code);
            s.register(prod, serial);
            eq("registered", null, activate(s, prod, serial, ps, now).code);
        });
        unit("selftest: a serial of another product, or a client key id, is WXSEAL_UNKNOWN_KEY_ID", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            s.product("prod-b", Crypto.random(32));
            s.register("prod-b", serial);
            eq("other product", "WXSEAL_UNKNOWN_KEY_ID", activate(s, prod, serial, ps, now).code);
            Verifier v = deviceVerifier(s);
            v.credentials.put("client-1", new Verifier.Credential());
            eq("client key id", "WXSEAL_UNKNOWN_KEY_ID", activate(s, prod, "client-1", ps, now).code);
        });
        unit("selftest: a disabled product, or one without a valid secret, is WXSEAL_KEY_REVOKED (before the HMAC)", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps).disabled = true;
            eq("disabled", "WXSEAL_KEY_REVOKED", activate(s, prod, serial, Crypto.random(32), now).code);
            DeviceServer s2 = new DeviceServer();
            s2.product(prod).secrets.add(new Verifier.Secret(ps, null, now - 1));
            eq("expired secret", "WXSEAL_KEY_REVOKED", activate(s2, prod, serial, ps, now).code);
        });
        unit("selftest: key store unreachable at step 4, or failing to record at step 8: WXSEAL_KEY_STORE_UNAVAILABLE, nothing recorded", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            s.keyStoreDown = true;
            eq("step 4", "WXSEAL_KEY_STORE_UNAVAILABLE", activate(s, prod, serial, ps, now).code);
            s.keyStoreDown = false;
            s.keyStoreWritesFail = true;
            DeviceServer.Answer a = activate(s, prod, serial, ps, now);
            eq("step 8", "WXSEAL_KEY_STORE_UNAVAILABLE", a.code);
            eq("status", 503, a.status);
            eq("no serial recorded", null, s.stateOf(serial, now));
            s.keyStoreWritesFail = false;
            eq("retry", null, activate(s, prod, serial, ps, now).code);
        });
        unit("selftest: re-activation while pending replaces the key (version 2); the first key stops being valid", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            Verifier v = deviceVerifier(s);
            Device.Opened k1 = open(activate(s, prod, serial, ps, now), ps, prod, serial);
            eq("v1", "1", k1.keyVersion);
            Device.Opened k2 = open(activate(s, prod, serial, ps, now + 5), ps, prod, serial);
            eq("v2", "2", k2.keyVersion);
            eq("old pending key", "WXSEAL_BAD_SIGNATURE", deviceRequestResult(v, serial, k1.deviceKey, now + 6));
            eq("new key", "accepted v2", deviceRequestResult(v, serial, k2.deviceKey, now + 7));
            eq("state", DeviceServer.State.ACTIVE, s.stateOf(serial, now + 7));
        });
        unit("selftest: the pending window ends without a request: active, activation refused, the key verifies", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            Verifier v = deviceVerifier(s);
            Device.Opened k1 = open(activate(s, prod, serial, ps, now), ps, prod, serial);
            eq("pending at +3600", DeviceServer.State.PENDING, s.stateOf(serial, now + 3600));
            eq("active at +3601", DeviceServer.State.ACTIVE, s.stateOf(serial, now + 3601));
            eq("activation", "WXSEAL_KEY_REVOKED", activate(s, prod, serial, ps, now + 3601).code);
            eq("request", "accepted v1", deviceRequestResult(v, serial, k1.deviceKey, now + 3602));
        });
        unit("selftest: a registered (never activated) serial's requests are WXSEAL_KEY_REVOKED; an unknown one WXSEAL_UNKNOWN_KEY_ID", () -> {
            DeviceServer s = new DeviceServer();
            s.register(prod, serial);
            Verifier v = deviceVerifier(s);
            eq("registered", "WXSEAL_KEY_REVOKED", deviceRequestResult(v, serial, Crypto.random(32), now));
            eq("unknown", "WXSEAL_UNKNOWN_KEY_ID", deviceRequestResult(v, "nobody", Crypto.random(32), now));
            s.keyStoreDown = true;
            eq("store down", "WXSEAL_KEY_STORE_UNAVAILABLE", deviceRequestResult(v, serial, Crypto.random(32), now));
        });
        unit("selftest: revocation, then re-arming: version continues above every earlier one, old keys invalid", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            Verifier v = deviceVerifier(s);
            Device.Opened k1 = open(activate(s, prod, serial, ps, now), ps, prod, serial);
            eq("request", "accepted v1", deviceRequestResult(v, serial, k1.deviceKey, now));
            s.revoke(serial);
            eq("revoked request", "WXSEAL_KEY_REVOKED", deviceRequestResult(v, serial, k1.deviceKey, now + 1));
            eq("revoked activation", "WXSEAL_KEY_REVOKED", activate(s, prod, serial, ps, now + 1).code);
            s.rearm(serial);
            eq("re-armed request", "WXSEAL_KEY_REVOKED", deviceRequestResult(v, serial, k1.deviceKey, now + 2));
            Device.Opened k2 = open(activate(s, prod, serial, ps, now + 2), ps, prod, serial);
            eq("version after re-arming", "2", k2.keyVersion);
            eq("old key", "WXSEAL_BAD_SIGNATURE", deviceRequestResult(v, serial, k1.deviceKey, now + 3));
            eq("new key", "accepted v2", deviceRequestResult(v, serial, k2.deviceKey, now + 3));
        });
        unit("selftest: a lost rotation answer and a retry leave k and the newest version only", () -> {
            DeviceServer s = new DeviceServer();
            byte[] k1 = Crypto.random(32);
            s.restoreActive(prod, serial, 1, k1);
            Verifier v = deviceVerifier(s);
            Device.Opened lost = rotate(s, v, serial, prod, k1, now);
            Device.Opened got = rotate(s, v, serial, prod, k1, now + 10);
            eq("versions", "2,3", lost.keyVersion + "," + got.keyVersion);
            eq("valid", List.of(1L, 3L), new ArrayList<>(s.validKeys(serial, now + 10).keySet()));
            eq("lost key", "WXSEAL_BAD_SIGNATURE", deviceRequestResult(v, serial, lost.deviceKey, now + 11));
            eq("newest key", "accepted v3", deviceRequestResult(v, serial, got.deviceKey, now + 11));
        });
        unit("selftest: rotation by a client that is not a device gets an authenticated 403", () -> {
            DeviceServer s = new DeviceServer();
            Verifier v = deviceVerifier(s);
            byte[] secret = Crypto.random(32);
            Verifier.Credential cred = new Verifier.Credential();
            cred.secrets.add(new Verifier.Secret(secret, null, null));
            v.credentials.put("client-1", cred);
            String nonce = freshNonce();
            Device.SignedRequest r = Device.signRequest("client-1", secret, "POST", Device.ROTATION_PATH, null, new byte[0], null, Long.toString(now), nonce);
            Verifier.Request req = toRequest(r);
            Verifier.Result res = v.verify(req, now);
            check("accepted " + res, res.accepted());
            DeviceServer.Answer out = DeviceServer.respond(res, s.rotate(res, req, now));
            eq("status", 403, out.status);
            Device.checkSignedResponse("client-1", secret, nonce, out.status, out.headers, out.body);
        });
        unit("selftest: activation nonces are scoped per product; Content-Length over 1024 alone is WXSEAL_BODY_TOO_LARGE", () -> {
            DeviceServer s = new DeviceServer();
            s.product(prod, ps);
            String nonce = freshNonce();
            Device.ActivationRequest a = Device.buildActivation(prod, serial, ps, Long.toString(now), nonce);
            eq("first", null, s.activate(Crypto.utf8(a.body), null, now).code);
            Device.ActivationRequest b = Device.buildActivation(prod, "unit-0002", ps, Long.toString(now), nonce);
            eq("same nonce, other serial", "WXSEAL_REPLAYED_NONCE", s.activate(Crypto.utf8(b.body), null, now).code);
            eq("content-length", "WXSEAL_BODY_TOO_LARGE", s.activate(Crypto.utf8(b.body), "1025", now).code);
        });
        unit("selftest: the device recognises a rejection only with the code's status", () -> {
            Device.Binding b = new Device.Binding("activate", ps, prod, serial, freshNonce());
            Map<String, String> h = Map.of("wxseal-error", "WXSEAL_BAD_SIGNATURE", "wxseal-server-time", "1");
            try { Device.openActivationAnswer(b, 401, h, new byte[0]); check("rejection", false); }
            catch (Device.Rejected r) { eq("code", "WXSEAL_BAD_SIGNATURE", r.code); }
            catch (Protocol.ResponseInvalidException e) { check("rejection expected", false); }
            try { Device.openActivationAnswer(b, 503, h, new byte[0]); check("invalid", false); }
            catch (Device.Rejected r) { check("status mismatch must not be a rejection", false); }
            catch (Protocol.ResponseInvalidException e) { /* good */ }
        });
        if (passed == 0) { failed++; System.out.println("FAIL nothing was checked"); }
        System.out.println(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    private static DeviceServer.Answer activate(DeviceServer s, String prod, String serial, byte[] ps, long now) {
        Device.ActivationRequest a = Device.buildActivation(prod, serial, ps, Long.toString(now), freshNonce());
        DeviceServer.Answer ans = s.activate(Crypto.utf8(a.body), null, now);
        lastActivationNonce = a.nonce;
        return ans;
    }

    private static String lastActivationNonce;

    private static Device.Opened open(DeviceServer.Answer ans, byte[] ps, String prod, String serial) throws Exception {
        return Device.openActivationAnswer(new Device.Binding("activate", ps, prod, serial, lastActivationNonce),
            ans.status, ans.headers, ans.body);
    }

    private static Device.Opened rotate(DeviceServer s, Verifier v, String serial, String prod, byte[] key, long now) throws Exception {
        String nonce = freshNonce();
        Device.SignedRequest r = Device.signRequest(serial, key, "POST", Device.ROTATION_PATH, null, new byte[0], null, Long.toString(now), nonce);
        Verifier.Request req = toRequest(r);
        Verifier.Result res = v.verify(req, now);
        if (!res.accepted()) throw new IllegalStateException("rotation request: " + res);
        DeviceServer.Answer out = DeviceServer.respond(res, s.rotate(res, req, now));
        return Device.openRotationAnswer(prod, serial, key, nonce, out.status, out.headers, out.body);
    }

    // ================================================================== exchange mode (JSON files, no network)

    /**
     * The two ends of a sealed exchange as JSON, so another implementation can play the other end
     * with server keys of either type (SPEC 2, 6.5), generated by the caller:
     *
     *   verify-request: a request {method, target, headers, body} is verified by this verifier (clock:
     *     now) holding one server private key (RSA or X25519) and one client secret. Prints
     *     {"code": null, "body", "contentType", "identity", "response": {status, headers, body}} where
     *     the response is sealed to it (status 201, application/json, {"echo": body text}), or
     *     {"code": "WXSEAL_..."}.
     *   seal-request: prints a sealed request to the server public key (RSA or X25519), timestamped
     *     now, as {method, target, headers, body, context: {keyId, nonce, sessionKey}}.
     *   open-response: opens {status, headers, body} for a context printed by seal-request (6.4);
     *     prints {"status", "contentType", "body"}.
     *
     * Byte strings are b64u, header names lowercase.
     */
    private static int exchange(String command, String[] a) {
        try {
            Map<String, Object> out = new LinkedHashMap<>();
            if (command.equals("verify-request") && a.length == 5) {
                Map<String, Object> rq = Json.obj(Json.parse(Files.readString(Path.of(a[4]), StandardCharsets.UTF_8)));
                Verifier v = new Verifier();
                Verifier.Credential cred = new Verifier.Credential();
                cred.secrets.add(new Verifier.Secret(B64u.decode(a[3]), null, null));
                v.credentials.put(a[2], cred);
                v.serverKeys.put(a[1], Crypto.serverPrivateKeyFromPkcs8Pem(Files.readString(Path.of(a[0]), StandardCharsets.UTF_8)));
                Verifier.Result res = v.verify(toRequest(Json.str(rq, "method"), Json.str(rq, "target"), stringMap(rq.get("headers")),
                    B64u.decode(Json.str(rq, "body"))), System.currentTimeMillis() / 1000);
                out.put("code", res.code);
                if (res.accepted()) {
                    out.put("mode", res.mode);
                    out.put("body", B64u.encode(res.payload.body));
                    out.put("contentType", res.payload.contentType);
                    out.put("identity", res.payload.identity);
                    if (res.verified.sealed()) {
                        Map<String, Object> echo = new LinkedHashMap<>();
                        echo.put("echo", new String(res.payload.body, StandardCharsets.UTF_8));
                        dev.wxseal.WxsealResponse sr = res.verified.respond(201, "application/json", Crypto.utf8(Json.stringify(echo)));
                        Map<String, Object> response = new LinkedHashMap<>();
                        response.put("status", (long) sr.status());
                        Map<String, Object> rh = new LinkedHashMap<>();
                        sr.headers().forEach((k, val) -> rh.put(k.toLowerCase(java.util.Locale.ROOT), val));
                        response.put("headers", rh);
                        response.put("body", B64u.encode(sr.body()));
                        out.put("response", response);
                    }
                } else {
                    out.put("detail", res.detail);
                }
            } else if (command.equals("seal-request") && a.length == 8) {
                PublicKey pub = Crypto.serverPublicKeyFromSpkiPem(Files.readString(Path.of(a[0]), StandardCharsets.UTF_8));
                byte[] sessionKey = Crypto.random(32);
                String nonce = freshNonce();
                Protocol.SealedRequest r = Protocol.sealRequest(a[4], a[5], a[2], B64u.decode(a[3]), a[1], pub, null, sessionKey,
                    Crypto.random(12), Long.toString(System.currentTimeMillis() / 1000), nonce, a[6].isEmpty() ? null : a[6], null, null,
                    B64u.decode(a[7]));
                out.put("method", r.method);
                out.put("target", r.target);
                out.put("headers", new LinkedHashMap<String, Object>(r.headers));
                out.put("body", B64u.encode(r.body));
                Map<String, Object> ctx = new LinkedHashMap<>();
                ctx.put("keyId", a[2]);
                ctx.put("nonce", nonce);
                ctx.put("sessionKey", B64u.encode(sessionKey));
                out.put("context", ctx);
            } else if (command.equals("open-response") && a.length == 2) {
                Map<String, Object> ctx = Json.obj(Json.obj(Json.parse(Files.readString(Path.of(a[0]), StandardCharsets.UTF_8))).get("context"));
                Map<String, Object> rs = Json.obj(Json.parse(Files.readString(Path.of(a[1]), StandardCharsets.UTF_8)));
                Map<String, String> h = new LinkedHashMap<>();
                stringMap(rs.get("headers")).forEach((k, val) -> h.put(k.toLowerCase(java.util.Locale.ROOT), val));
                int status = (int) Json.num(rs, "status");
                Protocol.Payload p = Protocol.openResponse(B64u.decode(Json.str(ctx, "sessionKey")), Json.str(ctx, "keyId"),
                    Json.str(ctx, "nonce"), status, h.get("content-type"), h.get("wxseal-response-nonce"), B64u.decode(Json.str(rs, "body")));
                out.put("status", (long) status);
                out.put("contentType", p.contentType);
                out.put("body", B64u.encode(p.body));
            } else {
                System.err.println("bad arguments for " + command + " (see usage)");
                return 2;
            }
            System.out.println(Json.stringify(out));
            return 0;
        } catch (Exception e) {
            System.err.println(command + " failed: " + e);
            return 1;
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
            PublicKey pub = Crypto.serverPublicKeyFromSpkiPem(Files.readString(Path.of(a[6]), StandardCharsets.UTF_8)); // RSA or X25519
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
