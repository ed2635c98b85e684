package dev.wxseal.examples;

import dev.wxseal.B64u;
import dev.wxseal.Client;
import dev.wxseal.Crypto;
import dev.wxseal.MemoryNonceStore;
import dev.wxseal.Sm;
import dev.wxseal.Sm2PrivateKey;
import dev.wxseal.VerifiedRequest;
import dev.wxseal.Verifier;
import dev.wxseal.WxsealException;
import dev.wxseal.WxsealRequest;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * In-process, single-thread throughput per CPU-second (so: per core, measured with the thread's CPU time) of the verifier:
 * forged rejections/s (valid syntax, wrong signature: one HMAC, no unwrap) and valid sealed
 * requests/s (verify + unwrap + decrypt + sealed response) for RSA-OAEP-2048 and X25519, and,
 * when Bouncy Castle is on the class path, the SM suite of SPEC 6.6 with an SM2 key: valid sealed
 * SM requests/s (HMAC-SM3 + SM2 decryption + SM4-GCM + sealed SM response) and forged SM rejections/s
 * (one SM3 body hash and one HMAC-SM3, no SM2). Without bcprov the SM lines say so and the JSON has
 * no SM members. Requests are built beforehand; building them is not measured. The last line
 * repeats the rates as one JSON object after "WXSEAL-BENCH-JSON " for machines (packages/bench,
 * part native): forgedPerSec, validRsaPerSec, validX25519PerSec, and validSmPerSec, forgedSmPerSec.
 *
 *   java -cp build/wxseal.jar:build/examples.jar[:/usr/share/java/bcprov.jar] dev.wxseal.examples.Benchmark [seconds per measurement, default 3]
 */
public final class Benchmark {
    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        byte[] secret = Crypto.random(32);
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        KeyPair rsa = g.generateKeyPair();
        KeyPair x = KeyPairGenerator.getInstance("X25519").generateKeyPair();
        String rsaId = Crypto.referenceServerKeyId(rsa.getPublic()), xId = Crypto.referenceServerKeyId(x.getPublic());
        Verifier v = Verifier.builder().credential("bench", secret).serverKey(rsaId, rsa.getPrivate()).serverKey(xId, x.getPrivate())
            .nonceStore(new MemoryNonceStore(10_000_000)).build();
        byte[] body = Crypto.utf8("{\"order\":\"A-1\",\"amount\":100,\"note\":\"a typical small JSON body of about one hundred bytes\"}");
        Map<String, String> identity = Map.of("openid", "o-bench", "appid", "wx-bench");

        // forged: a genuine request with a random signature
        Client cr = client(secret, rsaId, rsa);
        Client.Prepared p = cr.prepare("POST", "/api/orders", "application/json", body, identity);
        Map<String, String> h = new LinkedHashMap<>(p.headers);
        h.put("wxseal-signature", B64u.encode(Crypto.random(32)));
        WxsealRequest forged = new WxsealRequest(p.method, p.target).headers(h).body(p.body);
        long unwrapsBefore = v.unwrapCount();
        double forgedRate = rate(seconds, () -> {
            try { v.verify(forged); throw new IllegalStateException("accepted"); }
            catch (WxsealException e) { if (!e.code().equals(WxsealException.BAD_SIGNATURE)) throw new IllegalStateException(e); }
        });
        if (v.unwrapCount() != unwrapsBefore) throw new IllegalStateException("a forged request was unwrapped");
        System.out.printf("forged rejections/s (1 core):          %,.0f%n", forgedRate);

        double[] valid = new double[2];
        for (boolean useX : new boolean[] {false, true}) {
            Client c = useX ? client(secret, xId, x) : client(secret, rsaId, rsa);
            // estimate the rate, then build enough distinct requests for the measurement
            List<WxsealRequest> warm = build(c, body, identity, 300);
            Runnable w = iterator(v, warm);
            long t0 = CPU.getCurrentThreadCpuTime();
            for (int i = 0; i < warm.size(); i++) w.run();
            double est = warm.size() / ((CPU.getCurrentThreadCpuTime() - t0) / 1e9);
            int n = (int) Math.min(300_000, est * seconds * 4 + 2000);
            List<WxsealRequest> reqs = build(c, body, identity, n);
            double r = rate(seconds, iterator(v, reqs));
            valid[useX ? 1 : 0] = r;
            System.out.printf("valid sealed requests/s, %-8s (1 core): %,.0f  (verify + unwrap + decrypt + sealed response)%n",
                useX ? "X25519" : "RSA-2048", r);
        }

        // the SM suite (SPEC 6.6), when Bouncy Castle is on the class path
        String smJson = "";
        if (bouncyCastlePresent()) {
            Sm2PrivateKey sm = Sm.generate();
            String smId = Crypto.referenceServerKeyId(sm.publicKey());
            Verifier vs = Verifier.builder().credential("bench", secret).serverKey(smId, sm)
                .nonceStore(new MemoryNonceStore(10_000_000)).build();
            Client cs = Client.builder().baseUrl("http://127.0.0.1:1").credential("bench", secret).serverKey(smId, sm.publicKey()).build();
            Client.Prepared ps = cs.prepare("POST", "/api/orders", "application/json", body, identity);
            Map<String, String> hs = new LinkedHashMap<>(ps.headers);
            hs.put("wxseal-signature", B64u.encode(Crypto.random(32)));
            WxsealRequest forgedSm = new WxsealRequest(ps.method, ps.target).headers(hs).body(ps.body);
            double forgedSmRate = rate(seconds, () -> {
                try { vs.verify(forgedSm); throw new IllegalStateException("accepted"); }
                catch (WxsealException e) { if (!e.code().equals(WxsealException.BAD_SIGNATURE)) throw new IllegalStateException(e); }
            });
            if (vs.unwrapCount() != 0) throw new IllegalStateException("a forged SM request reached SM2");
            System.out.printf("forged rejections/s, SM2 (1 core):     %,.0f%n", forgedSmRate);
            List<WxsealRequest> warm = build(cs, body, identity, 300);
            Runnable w = iterator(vs, warm);
            long t0 = CPU.getCurrentThreadCpuTime();
            for (int i = 0; i < warm.size(); i++) w.run();
            double est = warm.size() / ((CPU.getCurrentThreadCpuTime() - t0) / 1e9);
            int n = (int) Math.min(300_000, est * seconds * 4 + 2000);
            double validSm = rate(seconds, iterator(vs, build(cs, body, identity, n)));
            System.out.printf("valid sealed requests/s, %-8s (1 core): %,.0f  (verify + unwrap + decrypt + sealed response)%n", "SM2", validSm);
            smJson = String.format(java.util.Locale.ROOT, ",\"validSmPerSec\":%.1f,\"forgedSmPerSec\":%.1f", validSm, forgedSmRate);
        } else {
            System.out.println("SM2: not measured (Bouncy Castle is not on the class path: add /usr/share/java/bcprov.jar, package libbcprov-java)");
        }
        System.out.printf(java.util.Locale.ROOT, "WXSEAL-BENCH-JSON {\"seconds\":%s,\"forgedPerSec\":%.1f,\"validRsaPerSec\":%.1f,\"validX25519PerSec\":%.1f%s}%n",
            Double.toString(seconds), forgedRate, valid[0], valid[1], smJson);
    }

    private static boolean bouncyCastlePresent() {
        try {
            Class.forName("org.bouncycastle.crypto.engines.SM2Engine", false, Benchmark.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static Client client(byte[] secret, String id, KeyPair kp) {
        return Client.builder().baseUrl("http://127.0.0.1:1").credential("bench", secret).serverKey(id, kp.getPublic()).build();
    }

    private static List<WxsealRequest> build(Client c, byte[] body, Map<String, String> identity, int n) {
        List<WxsealRequest> l = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Client.Prepared p = c.prepare("POST", "/api/orders", "application/json", body, identity);
            l.add(new WxsealRequest(p.method, p.target).headers(p.headers).body(p.body));
        }
        return l;
    }

    private static Runnable iterator(Verifier v, List<WxsealRequest> reqs) {
        int[] next = {0};
        return () -> {
            if (next[0] >= reqs.size()) throw new Exhausted();
            try {
                VerifiedRequest ok = v.verify(reqs.get(next[0]++));
                ok.respond(200, "application/json", Crypto.utf8("{\"ok\":true}"));
            } catch (WxsealException e) { throw new IllegalStateException(e); }
        };
    }

    /** The prepared requests ran out: the measurement ends there. */
    private static final class Exhausted extends RuntimeException {
        private static final long serialVersionUID = 1L;
        Exhausted() { super(null, null, false, false); }
    }

    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    /**
     * Operations per CPU-second of this thread (so: per core, whatever else the machine runs),
     * over about `seconds` of CPU time after a short warm-up.
     */
    private static double rate(double seconds, Runnable op) {
        long warmEnd = CPU.getCurrentThreadCpuTime() + (long) (seconds * 0.2e9);
        while (CPU.getCurrentThreadCpuTime() < warmEnd) op.run();
        long n = 0, start = CPU.getCurrentThreadCpuTime(), end = start + (long) (seconds * 1e9);
        long now;
        try {
            do {
                for (int i = 0; i < 16; i++) { op.run(); n++; }
                now = CPU.getCurrentThreadCpuTime();
            } while (now < end);
        } catch (Exhausted e) {
            now = CPU.getCurrentThreadCpuTime();
            if (n < 1000) throw new IllegalStateException("too few prepared requests for a measurement");
        }
        return n / ((now - start) / 1e9);
    }
}
