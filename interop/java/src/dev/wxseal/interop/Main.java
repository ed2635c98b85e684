package dev.wxseal.interop;

import dev.wxseal.B64u;
import dev.wxseal.Crypto;
import dev.wxseal.Json;
import dev.wxseal.Protocol;
import dev.wxseal.test.VectorTests;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The interop harness of wxseal v1 on the Java library's core: the device client and server of SPEC 15,
 * a sealed exchange as JSON files, and a client over HTTP. Its vector check is the library's
 * (VectorTests, compiled with the harness from java/test) plus the device files, which only the
 * harness implements.
 *
 *   java dev.wxseal.interop.Main check [vectorDir]      (default: spec/vectors)
 *   java dev.wxseal.interop.Main hpke-selftest | device-selftest
 *   java dev.wxseal.interop.Main verify-request | seal-request | open-response ...   (see exchange)
 *   java dev.wxseal.interop.Main call baseUrl method path keyId secretB64u serverKeyId serverPublicKeyPemFile jsonBody
 */
public final class Main extends VectorTests {

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
            m.hpkeSelftest(); // the library's RFC 9180 A.1.1 check (VectorTests)
            System.exit(m.summary(""));
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

    /**
     * check: every case of the shared vector files through the library's checker (VectorTests, the
     * one the Java test runner runs), then the device files of SPEC 15, which only this harness
     * implements, in the same tally. The last line is "N passed, M failed".
     */
    @Override
    public int checkAll(Path dir) {
        Map<String, Map<String, Object>> shared = checkFiles(dir);
        Map<String, Map<String, Object>> v = load(dir, "device-activation.json", "device-request.json");
        if (v.containsKey("device-activation.json")) deviceActivation(v.get("device-activation.json"));
        if (v.containsKey("device-request.json"))
            deviceRequest(v.get("device-request.json"), v.get("device-activation.json"), rsaKeys(shared));
        return summary("");
    }

    // ================================================================== SPEC 15: devices

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

        cases("device-activation.delivery", deliveries, c -> {
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

        Map<String, Object> verify = Json.obj(file.get("verify"));
        cases("device-activation.verify", Json.arr(verify.get("cases")), c -> {
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

        cases("device-activation.mustNotOpen", Json.arr(file.get("mustNotOpen")), c -> {
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

    // ---------------------------------------------------------------- device-request.json

    private void deviceRequest(Map<String, Object> file, Map<String, Object> activationFile, List<Object> rsaKeys) {
        Map<String, Object> rot = Json.obj(file.get("rotation"));
        cases("device-request.cases", Json.arr(file.get("cases")), c -> {
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
        return summary("");
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
                    out.put("mode", res.ok.mode());
                    out.put("body", B64u.encode(res.payload.body));
                    out.put("contentType", res.payload.contentType);
                    out.put("identity", res.payload.identity);
                    if (res.ok.sealed()) {
                        Map<String, Object> echo = new LinkedHashMap<>();
                        echo.put("echo", new String(res.payload.body, StandardCharsets.UTF_8));
                        dev.wxseal.WxsealResponse sr = res.ok.respond(201, "application/json", Crypto.utf8(Json.stringify(echo)));
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
