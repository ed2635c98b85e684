package dev.wxseal.test;

import dev.wxseal.B64u;
import dev.wxseal.Crypto;
import dev.wxseal.Hpke;
import dev.wxseal.Json;
import dev.wxseal.Protocol;
import dev.wxseal.Sm;
import dev.wxseal.Sm2PrivateKey;
import dev.wxseal.Sm2PublicKey;
import dev.wxseal.VerifiedRequest;
import dev.wxseal.Verifier;
import dev.wxseal.WxsealException;
import dev.wxseal.WxsealRequest;
import dev.wxseal.WxsealResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every case of the vector files the library covers (SPEC 13: canonical-query, sign, rsa-oaep,
 * seal-request, response, reject, x25519, sm), checked against the library (dev.wxseal), plus RFC 9180
 * appendix A.1.1 for the HPKE underneath. The one vector checker of the shared files: the test runner
 * runs it ({@link #checkAll}), and so does the interop harness (interop/java), whose Main extends it
 * with the device files of SPEC 15 and counts their cases in the same tally ({@link #checkFiles},
 * {@link #unit}, {@link #summary}).
 */
public class VectorTests {
    // ================================================================== the tally

    private int passed, failed;
    /** Print every passing case (and, for some, what the verifier answered), not only the failures. */
    protected boolean verbose;
    private List<String> caseFailures;

    /** The body of a case: its comparisons; an exception fails it. */
    protected interface Body { void run() throws Exception; }

    /** One vector case is one unit: it passes when every comparison in it holds and nothing throws. */
    protected final void unit(String name, Body body) {
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

    /** The body of one case of a vector file's array. */
    protected interface CaseBody { void run(Map<String, Object> c) throws Exception; }

    /**
     * One unit per case of a vector file's array, named "name[i]" and then the case's description when
     * it has one (the name a failure is reported under, and a mutation test looks for).
     */
    protected final void cases(String name, List<Object> array, CaseBody body) {
        for (int i = 0; i < array.size(); i++) {
            Map<String, Object> c = Json.obj(array.get(i));
            String description = Json.str(c, "description");
            unit(name + "[" + i + "]" + (description == null ? "" : " " + description), () -> body.run(c));
        }
    }

    /** A failure outside any unit (a file that does not load): counted, and printed as FAIL what. */
    protected final void failOutside(String what) {
        failed++;
        System.out.println("FAIL " + what);
    }

    /**
     * Prints "label N passed, M failed" (the last line of a run) and returns the exit status: 0 when
     * nothing failed and something was checked.
     */
    public final int summary(String label) {
        if (passed == 0) failOutside("nothing was checked");
        System.out.println(label + passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    protected final void eq(String what, Object expected, Object actual) {
        boolean same = expected == null ? actual == null : expected.equals(actual);
        if (!same) caseFailures.add(what + "\n    expected: " + show(expected) + "\n    actual:   " + show(actual));
    }

    protected final void eqBytes(String what, byte[] expected, byte[] actual) {
        if (!Arrays.equals(expected, actual))
            caseFailures.add(what + "\n    expected: " + B64u.encode(expected) + "\n    actual:   " + (actual == null ? "null" : B64u.encode(actual)));
    }

    protected final void check(String what, boolean ok) { if (!ok) caseFailures.add(what); }

    /** Header names (as a set) and each value. */
    protected final void eqHeaders(String what, Map<String, String> expected, Map<String, String> actual) {
        eq(what + " names", new java.util.TreeSet<>(expected.keySet()), new java.util.TreeSet<>(actual.keySet()));
        for (Map.Entry<String, String> h : expected.entrySet()) eq(what + " " + h.getKey(), h.getValue(), actual.get(h.getKey()));
    }

    /**
     * What an accepted sealed request must hand on, against its case's input: the session key (a
     * response it seals opens with it, in the suite), the body, the content type and the identity.
     */
    private void checkOpened(Result res, Protocol.Suite suite, byte[] sessionKey, Map<String, Object> in) throws Exception {
        WxsealResponse sr = res.ok.respond(200, "text/plain", Crypto.utf8("k"));
        Protocol.Payload back = Protocol.openResponse(suite, sessionKey, res.keyId, res.nonce, sr.status(),
            sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
        eq("verifier: session key (response opens)", "k", utf8(back.body));
        eqBytes("verifier: body", B64u.d(Json.str(in, "body")), res.payload.body);
        eq("verifier: content type", Json.str(in, "contentType"), res.payload.contentType);
        Map<String, Object> identity = identityOf(in);
        eq("verifier: identity", identity == null ? null : Json.stringify(identity),
            res.payload.identity == null ? null : Json.stringify(res.payload.identity));
    }

    /** The identity object of a sealed case's input, or null when it has none. */
    private static Map<String, Object> identityOf(Map<String, Object> in) {
        Object idv = in.get("identity");
        return idv == null || idv == Json.NULL ? null : Json.obj(idv);
    }

    /**
     * A sealed request of seal-request, x25519 or sm rebuilt from its case's input with this wrapped key
     * and session key: the AAD, plaintext, body, body digest (SHA-256, SM3 in the SM suite), canonical
     * string and headers must be the expected ones. Returns the rebuilt request.
     */
    private Protocol.SealedRequest checkSealed(Protocol.Suite suite, Map<String, Object> in, Map<String, Object> ex, byte[] wrapped,
            byte[] sessionKey) throws Exception {
        eq("input.mode", "sealed", Json.str(in, "mode"));
        Protocol.SealedRequest r = Protocol.sealRequest(suite, Json.str(in, "method"), Json.str(in, "target"), Json.str(in, "keyId"),
            B64u.d(Json.str(in, "secret")), Json.str(in, "serverKeyId"), null, wrapped, sessionKey, B64u.d(Json.str(in, "iv")),
            Json.str(in, "timestamp"), Json.str(in, "nonce"), Json.str(in, "contentType"), identityOf(in), Json.str(in, "traceparent"),
            B64u.d(Json.str(in, "body")));
        eq("requestAad", Json.str(ex, "requestAad"), r.aad);
        eqBytes("plaintext", B64u.d(Json.str(ex, "plaintext")), r.plaintext);
        eqBytes("sealedBody", B64u.d(Json.str(ex, "sealedBody")), r.body);
        if (suite.isSm()) eq("bodySm3Hex", Json.str(ex, "bodySm3Hex"), Crypto.hex(Sm.sm3(r.body)));
        else eq("bodySha256Hex", Json.str(ex, "bodySha256Hex"), Crypto.hex(Crypto.sha256(r.body)));
        eq("canonical", Json.str(ex, "canonical"), r.canonical);
        eqHeaders("header", stringMap(ex.get("headers")), r.headers);
        return r;
    }

    /** A sealed case's request as sent (the expected sealed body), with these headers. */
    private static WxsealRequest asSent(Map<String, Object> in, Map<String, Object> ex, Map<String, String> headers) {
        return toRequest(Json.str(in, "method"), Json.str(in, "target"), headers, B64u.d(Json.str(ex, "sealedBody")));
    }

    /**
     * The verifier of x25519.json or sm.json with the RSA key loaded too: a sealed case's request as sent,
     * but naming the RSA key, is refused at step 4 (its wrapped key is not the modulus length).
     */
    private void checkUnderRsaKeyId(String what, Map<String, Object> file, List<Object> rsaKeys, Map<String, Object> in,
            Map<String, Object> ex) {
        if (rsaKeys == null) return;
        Map<String, String> other = stringMap(ex.get("headers"));
        other.put("wxseal-server-key-id", Json.str(Json.obj(rsaKeys.get(0)), "serverKeyId"));
        Result r = verify(serverWithRsa(file, Json.str(in, "keyId"), B64u.d(Json.str(in, "secret")), rsaKeys), asSent(in, ex, other),
            Long.parseLong(Json.str(in, "timestamp")));
        eq(what, "WXSEAL_MALFORMED_HEADER", r.code);
    }

    /**
     * The response of a sealed case of x25519.json or sm.json (6.3), sealed from the case's session key,
     * and the expected one opened (6.4). Returns the sealed response, for the suite's own checks.
     */
    private Protocol.SealedResponse checkSealedResponse(Protocol.Suite suite, Map<String, Object> c, byte[] sessionKey,
            Map<String, Object> in) throws Exception {
        Map<String, Object> rsp = Json.obj(c.get("response"));
        Map<String, Object> ri = Json.obj(rsp.get("input"));
        Map<String, Object> re = Json.obj(rsp.get("expected"));
        String keyId = Json.str(in, "keyId"), nonce = Json.str(in, "nonce");
        int status = (int) Json.num(ri, "status");
        byte[] rbody = B64u.d(Json.str(ri, "body"));
        String rct = Json.str(ri, "contentType");
        Protocol.SealedResponse sr = Protocol.sealResponse(suite, sessionKey, B64u.d(Json.str(ri, "responseNonce")), keyId, nonce,
            status, rct, rbody);
        eq("response wireStatus", Json.num(re, "wireStatus"), (long) sr.wireStatus);
        eqBytes("response sealedBody", B64u.d(Json.str(re, "sealedBody")), sr.body);
        Map<String, String> rh = stringMap(re.get("headers"));
        eqHeaders("response header", rh, sr.headers);
        Protocol.Payload p = Protocol.openResponse(suite, sessionKey, keyId, nonce, (int) Json.num(re, "wireStatus"),
            rh.get("content-type"), rh.get("wxseal-response-nonce"), B64u.d(Json.str(re, "sealedBody")));
        eq("opened response content type", rct, p.contentType);
        eqBytes("opened response body", Protocol.noContentStatus(status) ? new byte[0] : rbody, p.body);
        return sr;
    }

    private static String orEmpty(String s) { return s == null ? "" : s; }

    private static String show(Object o) { return o == null ? "null" : o.toString().replace("\n", "\\n"); }

    /**
     * The named vector files of dir, parsed, by name; a file that does not load is a failure (outside
     * any unit) and is absent from the map.
     */
    protected final Map<String, Map<String, Object>> load(Path dir, String... files) {
        Map<String, Map<String, Object>> v = new LinkedHashMap<>();
        for (String f : files) {
            try { v.put(f, Json.obj(Json.parse(Files.readString(dir.resolve(f), StandardCharsets.UTF_8)))); }
            catch (Exception e) { failOutside(f + ": cannot load: " + e); }
        }
        return v;
    }

    /** The keys of rsa-oaep.json among loaded files, or null when it did not load. */
    protected static List<Object> rsaKeys(Map<String, Map<String, Object>> loaded) {
        return loaded.containsKey("rsa-oaep.json") ? Json.arr(loaded.get("rsa-oaep.json").get("keys")) : null;
    }

    /** The test runner's vector check: every case of the files in dir, then the summary line "vectors: ...". */
    public int checkAll(Path dir) {
        checkFiles(dir);
        return summary("vectors: ");
    }

    /**
     * Every case of the vector files the library covers, read from dir, one unit each, counted in this
     * tally (no summary line). Returns the files as loaded, for a caller that checks more of them.
     */
    public final Map<String, Map<String, Object>> checkFiles(Path dir) {
        Map<String, Map<String, Object>> v = load(dir, "canonical-query.json", "sign.json", "rsa-oaep.json", "seal-request.json",
            "response.json", "reject.json", "x25519.json", "sm.json");
        if (v.containsKey("canonical-query.json")) canonicalQuery(v.get("canonical-query.json"));
        if (v.containsKey("sign.json")) sign(v.get("sign.json"));
        List<Object> rsaKeys = rsaKeys(v);
        if (rsaKeys != null) rsaOaep(rsaKeys);
        if (v.containsKey("seal-request.json")) sealRequest(v.get("seal-request.json"), rsaKeys);
        if (v.containsKey("response.json")) response(v.get("response.json"));
        if (v.containsKey("response.json")) signedRejections(v.get("response.json"));
        if (v.containsKey("reject.json")) reject(v.get("reject.json"), rsaKeys);
        if (v.containsKey("x25519.json")) x25519(v.get("x25519.json"), rsaKeys);
        if (v.containsKey("sm.json")) sm(v.get("sm.json"), rsaKeys);
        return v;
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
        cases("sign", Json.arr(file.get("cases")), c -> {
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
        cases("seal-request", Json.arr(file.get("cases")), c -> {
            Map<String, Object> key = rsaKey(rsaKeys, file);
            PrivateKey priv = Crypto.privateKeyFromPkcs8Pem(Json.str(key, "privateKeyPem"));
            Map<String, Object> in = Json.obj(c.get("input"));
            Map<String, Object> ex = Json.obj(c.get("expected"));
            byte[] secret = B64u.d(Json.str(in, "secret"));
            byte[] sessionKey = B64u.d(Json.str(in, "sessionKey"));
            byte[] wrapped = B64u.d(Json.str(in, "wrappedKey"));
            eq("input.serverKeyId names rsa-oaep key", Json.str(key, "serverKeyId"), Json.str(in, "serverKeyId"));
            eqBytes("unwrap(input.wrappedKey) = input.sessionKey", sessionKey, Crypto.rsaOaepDecrypt(priv, wrapped));
            Protocol.SealedRequest r = checkSealed(Protocol.Suite.SHA256, in, ex, wrapped, sessionKey);

            // Round trip through the independent verifier (section 9) and the sealed response (6.3/6.4).
            Verifier ver = rejectServer(B64u.encode(secret), Json.str(in, "keyId"), key);
            WxsealRequest req = toRequest(r.method, r.target, r.headers, r.body);
            Result res = verify(ver, req, Long.parseLong(Json.str(in, "timestamp")));
            check("own verifier accepts the rebuilt request: " + res, res.accepted());
            if (res.accepted()) {
                checkOpened(res, Protocol.Suite.SHA256, sessionKey, in);
                WxsealResponse sr = res.ok.respond(201, "text/plain", Crypto.utf8("created"));
                Protocol.Payload back = Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"),
                    sr.status(), sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
                eq("response round trip body", "created", new String(back.body, StandardCharsets.UTF_8));
                eq("response round trip content type", "text/plain", back.contentType);
                try {
                    Protocol.openResponse(sessionKey, Json.str(in, "keyId"), Json.str(in, "nonce"), 200,
                        sr.headers().get("Content-Type"), sr.headers().get("Wxseal-Response-Nonce"), sr.body());
                    check("a response with a changed status must not open", false);
                } catch (Protocol.ResponseInvalidException expected) { /* good */ }
            }
        });
    }

    // ---------------------------------------------------------------- RFC 9180 appendix A.1.1

    /**
     * The HPKE underneath the X25519 suite, against the published values of RFC 9180 appendix A.1.1
     * (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode): SPEC 6.5 asks an
     * implementation to check its HPKE there before the wxseal vectors. Units only: the caller prints
     * the {@link #summary}.
     */
    public final void hpkeSelftest() {
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

    /**
     * A verifier holding the server key of file (the X25519 key of x25519.json or the SM2 key of sm.json,
     * from its PKCS#8 PEM) and, when loaded, the RSA key of rsa-oaep.json: either type, SPEC 2.
     */
    private static Verifier serverWithRsa(Map<String, Object> file, String keyId, byte[] secret, List<Object> rsaKeys) {
        Verifier.Builder v = Verifier.builder().credential(keyId, secret);
        Map<String, Object> k = Json.obj(file.get("serverKey"));
        v.serverKeyPem(Json.str(k, "serverKeyId"), Json.str(k, "privateKeyPem"));
        if (rsaKeys != null) {
            Map<String, Object> rk = Json.obj(rsaKeys.get(0));
            v.serverKeyPem(Json.str(rk, "serverKeyId"), Json.str(rk, "privateKeyPem"));
        }
        return v.build();
    }

    private void x25519(Map<String, Object> file, List<Object> rsaKeys) {
        cases("x25519.wraps", Json.arr(file.get("wraps")), w -> {
            x25519FileChecks(file);
            x25519Wrap(file, w);
        });
        cases("x25519.sealed", Json.arr(file.get("sealed")), c -> {
            x25519FileChecks(file);
            Map<String, Object> in = Json.obj(c.get("input"));
            Map<String, Object> ex = Json.obj(c.get("expected"));
            Map<String, Object> w = Json.obj(in.get("wrap"));
            eq("input.serverKeyId names the X25519 key", Json.str(Json.obj(file.get("serverKey")), "serverKeyId"), Json.str(in, "serverKeyId"));
            byte[] sessionKey = B64u.d(Json.str(w, "sessionKey"));
            // the request rebuilt from the inputs, the wrap being our own (fixed ephemeral key)
            checkSealed(Protocol.Suite.SHA256, in, ex, x25519Wrap(file, w), sessionKey);

            // the vector's own request, as sent, through the independent verifier holding both key types
            Verifier ver = serverWithRsa(file, Json.str(in, "keyId"), B64u.d(Json.str(in, "secret")), rsaKeys);
            Result res = verify(ver, asSent(in, ex, stringMap(ex.get("headers"))), Long.parseLong(Json.str(in, "timestamp")));
            check("verifier accepts the vector request: " + res, res.accepted());
            if (res.accepted()) checkOpened(res, Protocol.Suite.SHA256, sessionKey, in);
            checkUnderRsaKeyId("80 bytes under an RSA key id", file, rsaKeys, in, ex);
            // the sealed response (6.3), from K as for RSA, and its opening (6.4)
            checkSealedResponse(Protocol.Suite.SHA256, c, sessionKey, in);
        });
        List<Object> sealedCases = Json.arr(file.get("sealed"));
        cases("x25519.unwrapFailures", Json.arr(file.get("unwrapFailures")), c -> {
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
            Result res = verify(serverWithRsa(file, Json.str(in, "keyId"), secret, rsaKeys), toRequest(r.method, r.target,
                r.headers, r.body), Long.parseLong(ts));
            eq("verifier code (" + wrapped.length + " bytes)",
                wrapped.length == Hpke.WRAPPED_BYTES ? "WXSEAL_UNWRAP_FAILED" : "WXSEAL_MALFORMED_HEADER", res.code);
        });
    }

    // ---------------------------------------------------------------- sm.json (SPEC 6.6)
    //
    // Units: one per primitive case (sm3, hmacSm3, hkdfSm3, sm4Gcm), one for serverKey, one per wrap,
    // one for otherKeyWrap, one per sealed case, one for signedRejection, one per unwrapFailure and
    // one per forgedSignature.

    private static Sm2PrivateKey smServerKey(Map<String, Object> file) {
        return Sm.privateKeyFromPem(Json.str(Json.obj(file.get("serverKey")), "privateKeyPem"));
    }

    /** The rejection's Wxseal-Signature is HMAC-SM3 of the SM canonical rejection string for this request. */
    private void checkSmSignedRejection(Result res, String keyId, String nonce, byte[] secret) {
        check("the rejection is signed (SPEC 10.1)", res.rejectionSignature != null);
        if (res.rejectionSignature == null) return;
        Map<String, String> h = new LinkedHashMap<>();
        h.put("wxseal-error", res.code);
        h.put("wxseal-server-time", res.serverTime);
        h.put("wxseal-signature", res.rejectionSignature);
        check("the rejection verifies under HMAC-SM3", Protocol.trustedRejection(Protocol.Suite.SM, res.status, h, keyId, nonce, secret));
        check("the rejection does not verify under HMAC-SHA256", !Protocol.trustedRejection(res.status, h, keyId, nonce, secret));
    }

    private void sm(Map<String, Object> file, List<Object> rsaKeys) {
        Map<String, Object> labels = Json.obj(file.get("labels"));
        Map<String, Object> prim = Json.obj(file.get("primitives"));
        Map<String, Object> sk = Json.obj(file.get("serverKey"));
        cases("sm.primitives.sm3", Json.arr(prim.get("sm3")), c ->
            eq("SM3", Json.str(c, "digestHex"), Crypto.hex(Sm.sm3(Crypto.utf8(Json.str(c, "message"))))));
        cases("sm.primitives.hmacSm3", Json.arr(prim.get("hmacSm3")), c ->
            eq("HMAC-SM3", Json.str(c, "macHex"), Crypto.hex(Sm.hmacSm3(unhex(Json.str(c, "keyHex")), Crypto.utf8(Json.str(c, "message"))))));
        cases("sm.primitives.hkdfSm3", Json.arr(prim.get("hkdfSm3")), c -> {
            eq("info is the response label", Json.str(labels, "responseHkdfInfo"), Json.str(c, "info"));
            eq("HKDF-SM3", Json.str(c, "okmHex"), Crypto.hex(Sm.hkdfSm3(unhex(Json.str(c, "ikmHex")), unhex(Json.str(c, "saltHex")),
                Crypto.utf8(Json.str(c, "info")), (int) Json.num(c, "length"))));
        });
        int n = 0;
        for (Object o : Json.arr(prim.get("sm4Gcm"))) {
            Map<String, Object> c = Json.obj(o);
            unit("sm.primitives.sm4Gcm[" + n++ + "] " + Json.str(c, "source"), () -> {
                byte[] key = unhex(Json.str(c, "keyHex")), iv = unhex(Json.str(c, "ivHex")), aad = unhex(Json.str(c, "aadHex"));
                byte[] sealed = Sm.sm4GcmEncrypt(key, iv, aad, unhex(Json.str(c, "plaintextHex")));
                eq("ciphertext || tag", Json.str(c, "ciphertextHex") + Json.str(c, "tagHex"), Crypto.hex(sealed));
                eq("decrypts", Json.str(c, "plaintextHex"), Crypto.hex(Sm.sm4GcmDecrypt(key, iv, aad, sealed)));
                sealed[sealed.length - 1] ^= 1;
                try { Sm.sm4GcmDecrypt(key, iv, aad, sealed); check("a changed tag must not verify", false); }
                catch (java.security.GeneralSecurityException expected) { /* good */ }
            });
        }
        unit("sm.serverKey", () -> {
            eq("labels.request", Sm.REQUEST_LABEL, Json.str(labels, "request"));
            eq("labels.requestAad", Sm.REQUEST_AAD_LABEL, Json.str(labels, "requestAad"));
            eq("labels.responseAad", Sm.RESPONSE_AAD_LABEL, Json.str(labels, "responseAad"));
            eq("labels.responseHkdfInfo", Sm.RESPONSE_HKDF_INFO, Json.str(labels, "responseHkdfInfo"));
            eq("labels.rejection", Sm.REJECTION_LABEL, Json.str(labels, "rejection"));
            Sm2PrivateKey fromHex = new Sm2PrivateKey(unhex(Json.str(sk, "privateKeyHex")));
            eq("public point of the scalar", Json.str(sk, "publicKeyHex"), Crypto.hex(fromHex.publicKey().point()));
            eq("SPKI DER", Json.str(sk, "spkiDerHex"), Crypto.hex(fromHex.publicKey().getEncoded()));
            eq("serverKeyId = sk- + 16 hex of SHA-256(DER SPKI)", Json.str(sk, "serverKeyId"), Crypto.referenceServerKeyId(fromHex.publicKey()));
            for (String form : new String[] {"privateKeyPem", "privateKeyText"}) {
                Sm2PrivateKey k = Sm.privateKeyFromPem(Json.str(sk, form));
                eq(form + " holds the public point", Json.str(sk, "publicKeyHex"), Crypto.hex(k.publicKey().point()));
                check(form + " is read as SM2 by the generic loader", Crypto.serverPrivateKeyFromPkcs8Pem(Json.str(sk, form)) instanceof Sm2PrivateKey);
            }
            for (String form : new String[] {"publicKeyPem", "publicKeyText"}) {
                Sm2PublicKey k = Sm.publicKeyFromPem(Json.str(sk, form));
                eq(form + " holds the public point", Json.str(sk, "publicKeyHex"), Crypto.hex(k.point()));
                check(form + " is read as SM2 by the generic loader", Crypto.serverPublicKeyFromSpkiPem(Json.str(sk, form)) instanceof Sm2PublicKey);
            }
            eq("privateKeyText = the armored form", Json.str(sk, "privateKeyText"), Sm.formatPrivateKey(fromHex));
            eq("publicKeyText = the armored form", Json.str(sk, "publicKeyText"), Sm.formatPublicKey(fromHex.publicKey()));
            eq("privateKeyPem = PKCS#8 as OpenSSL writes it", Json.str(sk, "privateKeyPem").trim(), Sm.privateKeyToPem(fromHex).trim());
            eq("publicKeyPem = SPKI", Json.str(sk, "publicKeyPem").trim(), Sm.publicKeyToPem(fromHex.publicKey()).trim());
            eq("wrappedKeyBytes", (long) Sm.WRAPPED_BYTES, Json.num(sk, "wrappedKeyBytes"));
            eq("Crypto.wrappedLength", Sm.WRAPPED_BYTES, Crypto.wrappedLength(fromHex));
            try { Sm.privateKeyFromPem(Json.str(sk, "publicKeyText")); check("a public key text is not a private key", false); }
            catch (IllegalArgumentException expected) { /* good */ }
        });
        cases("sm.wraps", Json.arr(file.get("wraps")), w -> {
            byte[] k = B64u.d(Json.str(w, "sessionKey"));
            byte[] wrapped = B64u.d(Json.str(w, "wrapped"));
            eq("session key length", Sm.SESSION_KEY_BYTES, k.length);
            eq("wrapped length", Sm.WRAPPED_BYTES, wrapped.length);
            eq("header length", 151, Json.str(w, "wrapped").length());
            eqBytes("SM2-Decrypt (PKCS#8 key) = sessionKey", k, Crypto.unwrapSessionKey(smServerKey(file), wrapped));
            eqBytes("SM2-Decrypt (armored key) = sessionKey", k, Sm.unwrap(Sm.privateKeyFromPem(Json.str(sk, "privateKeyText")), wrapped));
            // the sender side: a fresh wrap (randomised) of the same K to the public key opens to K
            byte[] fresh = Crypto.wrapSessionKey(Sm.publicKeyFromPem(Json.str(sk, "publicKeyPem")), k);
            eq("fresh wrap length", Sm.WRAPPED_BYTES, fresh.length);
            eq("fresh wrap: C1 uncompressed", 4, (int) fresh[0]);
            check("a fresh wrap differs from the fixed one", !Arrays.equals(fresh, wrapped));
            eqBytes("unwrap(fresh wrap) = sessionKey", k, Sm.unwrap(smServerKey(file), fresh));
        });
        unit("sm.otherKeyWrap", () -> {
            Map<String, Object> w = Json.obj(file.get("otherKeyWrap"));
            byte[] wrapped = B64u.d(Json.str(w, "wrapped"));
            eq("wrapped length", Sm.WRAPPED_BYTES, wrapped.length);
            try {
                byte[] got = Sm.unwrap(smServerKey(file), wrapped);
                check("a wrap for another SM2 key must not unwrap, but gave " + B64u.encode(got), false);
            } catch (java.security.GeneralSecurityException expected) { /* good */ }
        });
        List<Object> sealedCases = Json.arr(file.get("sealed"));
        cases("sm.sealed", sealedCases, c -> {
            Map<String, Object> in = Json.obj(c.get("input"));
            Map<String, Object> ex = Json.obj(c.get("expected"));
            eq("input.serverKeyId names the SM2 key", Json.str(sk, "serverKeyId"), Json.str(in, "serverKeyId"));
            byte[] secret = B64u.d(Json.str(in, "secret"));
            byte[] sessionKey = B64u.d(Json.str(in, "sessionKey"));
            byte[] wrapped = B64u.d(Json.str(in, "wrapped"));
            String keyId = Json.str(in, "keyId"), nonce = Json.str(in, "nonce"), ts = Json.str(in, "timestamp");
            eqBytes("the fixed wrap decrypts to the session key", sessionKey, Sm.unwrap(smServerKey(file), wrapped));
            checkSealed(Protocol.Suite.SM, in, ex, wrapped, sessionKey);
            eqBytes("SM4-GCM decrypt of the vector body", B64u.d(Json.str(ex, "plaintext")),
                Sm.sm4GcmDecrypt(sessionKey, B64u.d(Json.str(in, "iv")), Crypto.utf8(Json.str(ex, "requestAad")), B64u.d(Json.str(ex, "sealedBody"))));

            // the vector's own request, as sent, through the verifier (one SM2 decryption)
            Map<String, String> eh = stringMap(ex.get("headers"));
            Verifier ver = serverWithRsa(file, keyId, secret, rsaKeys);
            WxsealRequest req = asSent(in, ex, eh);
            Result res = verify(ver, req, Long.parseLong(ts));
            check("verifier accepts the vector request: " + res, res.accepted());
            eq("unwraps after the request", 1L, ver.unwrapCount());
            if (res.accepted()) {
                eq("suite of the verified request", Protocol.Suite.SM, res.ok.suite());
                checkOpened(res, Protocol.Suite.SM, sessionKey, in);
            }
            // its replay: refused before SM2, the rejection signed under HMAC-SM3 (10.1, 6.6)
            Result replay = verify(ver, req, Long.parseLong(ts));
            eq("replay", "WXSEAL_REPLAYED_NONCE", replay.code);
            eq("no SM2 decryption for the replay", 1L, ver.unwrapCount());
            checkSmSignedRejection(replay, keyId, nonce, secret);
            checkUnderRsaKeyId("113 bytes under an RSA key id", file, rsaKeys, in, ex);
            // an 80-byte (X25519-length) wrapped key naming the SM2 key: refused at step 4, before the HMAC
            Map<String, String> short80 = new LinkedHashMap<>(eh);
            short80.put("wxseal-wrapped-key", B64u.encode(new byte[80]));
            Verifier v80 = serverWithRsa(file, keyId, secret, rsaKeys);
            Result r80 = verify(v80, asSent(in, ex, short80), Long.parseLong(ts));
            eq("80 bytes under the SM2 key id", "WXSEAL_MALFORMED_HEADER", r80.code);
            eq("no SM2 decryption for it", 0L, v80.unwrapCount());

            // the sealed response (6.3 in the SM suite) and its opening (6.4); its keys (SM4: 16 bytes) and AAD
            Protocol.SealedResponse resp = checkSealedResponse(Protocol.Suite.SM, c, sessionKey, in);
            Map<String, Object> re = Json.obj(Json.obj(c.get("response")).get("expected"));
            eq("responseKeyHex", Json.str(re, "responseKeyHex"), Crypto.hex(Crypto.slice(resp.okm, 0, 16)));
            eq("responseIvHex", Json.str(re, "responseIvHex"), Crypto.hex(Crypto.slice(resp.okm, 16, 28)));
            eq("responseAad", Json.str(re, "responseAad"), resp.aad);
            Map<String, String> rh = stringMap(re.get("headers"));
            try {
                Protocol.openResponse(Protocol.Suite.SHA256, Crypto.concat(sessionKey, sessionKey), keyId, nonce, (int) Json.num(re, "wireStatus"),
                    rh.get("content-type"), rh.get("wxseal-response-nonce"), B64u.d(Json.str(re, "sealedBody")));
                check("the SM response must not open under the other suites' derivation", false);
            } catch (Protocol.ResponseInvalidException expected) { /* good */ }
        });
        unit("sm.signedRejection", () -> {
            Map<String, Object> r = Json.obj(file.get("signedRejection"));
            int status = (int) Json.num(r, "status");
            String canonical = Protocol.canonicalRejection(Protocol.Suite.SM, Json.str(r, "keyId"), Json.str(r, "requestNonce"), status,
                Json.str(r, "code"), Json.str(r, "serverTime"));
            eq("canonical", Json.str(r, "canonical"), canonical);
            byte[] secret = B64u.d(Json.str(Json.obj(Json.obj(sealedCases.get(0)).get("input")), "secret"));
            eq("signature = HMAC-SM3", Json.str(r, "signature"), B64u.encode(Protocol.sign(Protocol.Suite.SM, secret, canonical)));
            Map<String, String> h = new LinkedHashMap<>();
            h.put("wxseal-error", Json.str(r, "code"));
            h.put("wxseal-server-time", Json.str(r, "serverTime"));
            h.put("wxseal-signature", Json.str(r, "signature"));
            check("verifies under HMAC-SM3", Protocol.trustedRejection(Protocol.Suite.SM, status, h, Json.str(r, "keyId"), Json.str(r, "requestNonce"), secret));
            check("does not verify under HMAC-SHA256", !Protocol.trustedRejection(status, h, Json.str(r, "keyId"), Json.str(r, "requestNonce"), secret));
        });
        cases("sm.unwrapFailures", Json.arr(file.get("unwrapFailures")), c -> {
            byte[] wrapped = B64u.d(Json.str(c, "wrapped"));
            try {
                byte[] got = Crypto.unwrapSessionKey(smServerKey(file), wrapped);
                check("must not unwrap, but gave " + B64u.encode(got), false);
            } catch (java.security.GeneralSecurityException expected) { /* good */ }
            // through the verifier: a request signed with this wrapped key passes the HMAC and fails at step 7
            Map<String, Object> in = Json.obj(Json.obj(sealedCases.get(0)).get("input"));
            byte[] secret = B64u.d(Json.str(in, "secret"));
            String ts = Json.str(in, "timestamp"), nonce = freshNonce();
            Protocol.SealedRequest r = Protocol.sealRequest(Protocol.Suite.SM, Json.str(in, "method"), Json.str(in, "target"),
                Json.str(in, "keyId"), secret, Json.str(in, "serverKeyId"), null, wrapped, Crypto.random(16), Crypto.random(12), ts,
                nonce, Json.str(in, "contentType"), null, null, B64u.d(Json.str(in, "body")));
            Verifier ver = serverWithRsa(file, Json.str(in, "keyId"), secret, rsaKeys);
            Result res = verify(ver, toRequest(r.method, r.target, r.headers, r.body), Long.parseLong(ts));
            eq("verifier code (" + wrapped.length + " bytes)",
                wrapped.length == Sm.WRAPPED_BYTES ? "WXSEAL_UNWRAP_FAILED" : "WXSEAL_MALFORMED_HEADER", res.code);
            if (wrapped.length == Sm.WRAPPED_BYTES) {
                eq("one SM2 decryption tried", 1L, ver.unwrapCount());
                checkSmSignedRejection(res, Json.str(in, "keyId"), nonce, secret);
            }
        });
        cases("sm.forgedSignatures", Json.arr(file.get("forgedSignatures")), c -> {
            Map<String, Object> sc = Json.obj(sealedCases.get((int) Json.num(c, "case")));
            Map<String, Object> in = Json.obj(sc.get("input"));
            Map<String, Object> ex = Json.obj(sc.get("expected"));
            byte[] secret = B64u.d(Json.str(in, "secret"));
            Map<String, String> h = stringMap(ex.get("headers"));
            h.put("wxseal-signature", Json.str(c, "signature"));
            Verifier ver = serverWithRsa(file, Json.str(in, "keyId"), secret, rsaKeys);
            Result res = verify(ver, toRequest(Json.str(in, "method"), Json.str(in, "target"), h, B64u.d(Json.str(ex, "sealedBody"))),
                Long.parseLong(Json.str(in, "timestamp")));
            eq("verifier code", "WXSEAL_BAD_SIGNATURE", res.code);
            eq("unsigned rejection", null, res.rejectionSignature);
            eq("no SM2 decryption for a forged request", 0L, ver.unwrapCount());
            // the other key's wrap in place of the signed one: the HMAC fails first too
            Map<String, String> h2 = stringMap(ex.get("headers"));
            h2.put("wxseal-wrapped-key", Json.str(Json.obj(file.get("otherKeyWrap")), "wrapped"));
            Result res2 = verify(ver, toRequest(Json.str(in, "method"), Json.str(in, "target"), h2, B64u.d(Json.str(ex, "sealedBody"))),
                Long.parseLong(Json.str(in, "timestamp")));
            eq("another wrapped key: verifier code", "WXSEAL_BAD_SIGNATURE", res2.code);
            eq("still no SM2 decryption", 0L, ver.unwrapCount());
        });
    }

    // ---------------------------------------------------------------- response.json

    private void response(Map<String, Object> file) {
        cases("response.sealed", Json.arr(file.get("sealed")), c -> {
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
        cases("response.signed", Json.arr(file.get("signed")), c -> {
            Map<String, Object> in = Json.obj(c.get("input"));
            Map<String, Object> ex = Json.obj(c.get("expected"));
            String canonical = Protocol.canonicalResponse(Json.str(in, "keyId"), Json.str(in, "requestNonce"),
                (int) Json.num(in, "status"), Json.str(in, "contentType"), B64u.d(Json.str(in, "body")));
            eq("canonical", Json.str(ex, "canonical"), canonical);
            eq("signature", Json.str(ex, "signature"), B64u.encode(Protocol.sign(B64u.d(Json.str(in, "secret")), canonical)));
        });
        // mustNotOpen: each sealed response, opened per 6.4 with the given session key, key id, request
        // nonce, status and response nonce, must fail (WXSEAL_RESPONSE_INVALID).
        List<Object> sealedCases = Json.arr(file.get("sealed"));
        cases("response.mustNotOpen", Json.arr(file.get("mustNotOpen")), c -> {
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

    // ---------------------------------------------------------------- response.json: SPEC 10.1

    private void signedRejections(Map<String, Object> file) {
        cases("response.signedRejections", Json.arr(file.get("signedRejections")), c -> {
            Map<String, Object> rq = Json.obj(c.get("request"));
            Map<String, Object> rs = Json.obj(c.get("response"));
            Map<String, Object> ex = Json.obj(c.get("expected"));
            Map<String, String> h = stringMap(rs.get("headers"));
            int status = (int) Json.num(rs, "status");
            byte[] secret = B64u.d(Json.str(rq, "secret"));
            String code = h.get("wxseal-error");
            eq("status of " + code, (long) WxsealException.statusOf(code), (long) status);
            String canonical = Protocol.canonicalRejection(Json.str(rq, "keyId"), Json.str(rq, "nonce"), status, code, h.get("wxseal-server-time"));
            eq("canonical", Json.str(ex, "canonical"), canonical);
            eq("signature", Json.str(ex, "signature"), B64u.encode(Protocol.sign(secret, canonical)));
            eq("wxseal-signature header", Json.str(ex, "signature"), h.get("wxseal-signature"));
            eq("body error.code", code, Json.str(Json.obj(Json.obj(Json.parse(utf8(B64u.d(Json.str(rs, "body"))))).get("error")), "code"));
            check("a client trusts it for its request", Protocol.trustedRejection(status, h, Json.str(rq, "keyId"), Json.str(rq, "nonce"), secret));
        });
        cases("response.rejectionMustNotVerify", Json.arr(file.get("rejectionMustNotVerify")), c -> {
            Map<String, Object> rq = Json.obj(c.get("request"));
            Map<String, Object> rs = Json.obj(c.get("response"));
            check("a client must not trust it", !Protocol.trustedRejection((int) Json.num(rs, "status"), stringMap(rs.get("headers")),
                Json.str(rq, "keyId"), Json.str(rq, "nonce"), B64u.d(Json.str(rq, "secret"))));
        });
    }

    // ---------------------------------------------------------------- reject.json

    /** The server state reject.json describes: one key id with one secret; one server key; W = 60; 1 MiB. */
    private static Verifier rejectServer(String secretB64u, String keyId, Map<String, Object> rsaKey) {
        return rejectServerBuilder(secretB64u, keyId, rsaKey).build();
    }

    private static Verifier.Builder rejectServerBuilder(String secretB64u, String keyId, Map<String, Object> rsaKey) {
        return Verifier.builder()
            .credential(keyId, B64u.d(secretB64u))
            .serverKeyPem(Json.str(rsaKey, "serverKeyId"), Json.str(rsaKey, "privateKeyPem"))
            .windowSeconds(60)
            .maxBodyBytes(1024 * 1024)
            .nonceStore(new dev.wxseal.MemoryNonceStore(1_000_000)); // fresh store per case
    }

    private static WxsealRequest request(Map<String, Object> r) {
        WxsealRequest req = new WxsealRequest(Json.str(r, "method"), Json.str(r, "target"));
        for (Map.Entry<String, Object> h : Json.obj(r.get("headers")).entrySet()) {
            // a JSON array would be a header sent several times
            if (h.getValue() instanceof List) for (Object v : Json.arr(h.getValue())) req.header(h.getKey(), (String) v);
            else req.header(h.getKey(), (String) h.getValue());
        }
        req.body(B64u.d(Json.str(r, "body")));
        return req;
    }

    private void reject(Map<String, Object> file, List<Object> rsaKeys) {
        cases("reject", Json.arr(file.get("cases")), c -> {
            Verifier.Builder vb = rejectServerBuilder(Json.str(file, "secret"), Json.str(file, "keyId"), rsaKey(rsaKeys, file));
            if (c.containsKey("maxBodyBytes")) vb.maxBodyBytes(Json.num(c, "maxBodyBytes"));
            if (c.containsKey("allowedModes")) {
                List<String> modes = new ArrayList<>();
                for (Object m : Json.arr(c.get("allowedModes"))) modes.add((String) m);
                vb.allowedModes(modes.toArray(new String[0]));
            }
            Verifier v = vb.build();
            WxsealRequest req = request(Json.obj(c.get("request")));
            long now = Json.num(c, "now");
            String expected = Json.str(c, "expectedCode");
            if (c.containsKey("precededBy")) {
                Result first = verify(v, request(Json.obj(c.get("precededBy"))), now);
                check("precededBy request must be accepted, got " + first, first.accepted());
            }
            Result res = verify(v, req, now);
            if (Boolean.TRUE.equals(c.get("sendTwice"))) {
                check("first send must be accepted, got " + res, res.accepted());
                res = verify(v, req, now);
            }
            eq("verifier result", expected == null ? "accepted" : expected, res.accepted() ? "accepted" : res.code);
            if (!res.accepted() && expected != null && expected.equals(res.code))
                eq("status of " + res.code, (long) WxsealException.statusOf(expected), (long) res.status);
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
                        req.first("wxseal-key-id"), req.first("wxseal-nonce"), B64u.d(Json.str(file, "secret"))));
                }
            }
            if (verbose) System.out.println("     -> " + res);
            if (!res.accepted() && expected != null && !expected.equals(res.code))
                caseFailures.add("  detail: " + res.detail);
        });
    }

    protected static String utf8(byte[] b) { return new String(b, StandardCharsets.UTF_8); }

    protected static String freshNonce() { return B64u.encode(Crypto.random(16)); }

    /** The headers of a vector ("name": "value", all strings). */
    protected static Map<String, String> stringMap(Object o) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.obj(o).entrySet()) out.put(e.getKey(), (String) e.getValue());
        return out;
    }

    static WxsealRequest toRequest(String method, String target, Map<String, String> headers, byte[] body) {
        return new WxsealRequest(method, target).headers(headers).body(body);
    }

    /**
     * A verifier's answer to one request, as the checks read it: the accepted request (with its key id,
     * nonce and payload) or the rejection (code, status, detail, server time, signature). The interop
     * harness's verifier answers with it too (with the device key version of SPEC 15.2 added).
     */
    public static class Result {
        public VerifiedRequest ok;
        public String code, detail, serverTime, rejectionSignature, keyId, nonce;
        public int status;
        public Protocol.Payload payload;
        public final boolean accepted() { return ok != null; }
        @Override public String toString() { return accepted() ? "accepted" : code + " (" + detail + ")"; }

        /** Asks v about req at now, and holds its answer. */
        public final void answer(Verifier v, WxsealRequest req, long now) {
            try {
                ok = v.verify(req, now);
                keyId = ok.keyId();
                nonce = ok.nonce();
                payload = new Protocol.Payload();
                payload.body = ok.body();
                payload.contentType = ok.contentType();
                payload.identity = ok.identityPresent() ? new LinkedHashMap<>(ok.identity()) : null;
            } catch (WxsealException e) {
                code = e.code();
                status = e.status();
                detail = e.getMessage();
                serverTime = e.serverTime();
                rejectionSignature = e.rejectionSignature();
            }
        }
    }

    static Result verify(Verifier v, WxsealRequest req, long now) {
        Result r = new Result();
        r.answer(v, req, now);
        if (!r.accepted() && r.serverTime == null) throw new AssertionError("a verifier rejection must carry Wxseal-Server-Time");
        return r;
    }
}
