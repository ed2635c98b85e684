package dev.wxseal.interop;

import dev.wxseal.B64u;
import dev.wxseal.Crypto;
import dev.wxseal.Json;
import dev.wxseal.Protocol;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The server's side of SPEC.md section 15: products and their secrets, serial states (15.8), the
 * activation verifier (15.5, in order, stopping at the first failure), the key delivery (15.6) and
 * the rotation handler (15.7). It plugs into {@link Verifier} as its device store (15.2), and shares
 * its nonce store: activations claim ("activate/" + product id, nonce).
 */
public final class DeviceServer implements Verifier.DeviceKeys {

    public enum State { REGISTERED, PENDING, ACTIVE, REVOKED }

    public static final class Product {
        /** At most 4 valid product secrets (15.1). Validity periods are not in SPEC 15; reuse section 11's. */
        public final List<Verifier.Secret> secrets = new ArrayList<>();
        public boolean disabled;
    }

    public static final class Key {
        public final long version;
        public final byte[] key;
        public final long issuedAt;
        public boolean verified;     // a request signed with it passed section 9
        public Long validUntil;      // end of the grace period (15.7); null = no end
        Key(long version, byte[] key, long issuedAt) { this.version = version; this.key = key; this.issuedAt = issuedAt; }
    }

    public static final class Serial {
        public final String productId;
        public State state = State.REGISTERED;
        /** The highest version ever issued to this serial, across re-arming (15.1). */
        public long highestVersion;
        public long deliveredAt;     // start of the pending window
        public final TreeMap<Long, Key> keys = new TreeMap<>();
        Serial(String productId) { this.productId = productId; }
    }

    public final Map<String, Product> products = new HashMap<>();
    public final Map<String, Serial> serials = new HashMap<>();
    /** Client credentials of the same server: a serial never equals one of their key ids (15.1, 15.8). */
    public Map<String, Verifier.Credential> clientCredentials = new HashMap<>();
    /** 15.8 Registration: when true an unregistered serial is WXSEAL_UNKNOWN_KEY_ID at step 7. */
    public boolean requireRegistration;
    public long windowSeconds = 60;                    // section 8, the same W
    public long pendingWindowSeconds = 3600;           // 15.8
    public long graceSeconds = 7 * 24 * 3600;          // 15.7
    public Verifier.NonceStore nonces = new Verifier.NonceStore(1_000_000);
    /** Simulates a key store that cannot be reached (reads and writes fail). */
    public boolean keyStoreDown;
    /** Simulates a key store that can be read but cannot record a new key (15.5 step 8). */
    public boolean keyStoreWritesFail;
    /** CSPRNG sources; the vector check injects the vectors' values. */
    public Supplier<byte[]> newDeviceKey = () -> Crypto.random(32);
    public Supplier<byte[]> newServerNonce = () -> Crypto.random(32);

    // ------------------------------------------------------------------ operator acts (15.8)

    public Product product(String productId, byte[]... secrets) {
        Product p = new Product();
        for (byte[] s : secrets) p.secrets.add(new Verifier.Secret(s, null, null));
        products.put(productId, p);
        return p;
    }

    public Serial register(String productId, String serial) {
        Serial s = new Serial(productId);
        serials.put(serial, s);
        return s;
    }

    /** Active or revoked -> registered; every key stops being valid at once. */
    public void rearm(String serial) {
        Serial s = serials.get(serial);
        if (s == null || (s.state != State.ACTIVE && s.state != State.REVOKED))
            throw new IllegalStateException("only an active or revoked serial is re-armed");
        s.state = State.REGISTERED;
        s.keys.clear();
    }

    public void revoke(String serial) {
        Serial s = serials.get(serial);
        if (s == null) throw new IllegalStateException("no serial " + serial);
        s.state = State.REVOKED;
        s.keys.clear();
    }

    /** Store state as left by an earlier activation that a request already verified (vector set-up). */
    public Serial restoreActive(String productId, String serial, long version, byte[] key) {
        Serial s = register(productId, serial);
        s.state = State.ACTIVE;
        s.highestVersion = version;
        Key k = new Key(version, key, 0);
        k.verified = true;
        s.keys.put(version, k);
        return s;
    }

    /** The state now: a pending serial whose window ended becomes active; ended grace periods drop keys. */
    public State stateOf(String serial, long now) {
        Serial s = serials.get(serial);
        if (s == null) return null;
        settle(s, now);
        return s.state;
    }

    private void settle(Serial s, long now) {
        if (s.state == State.PENDING && now > s.deliveredAt + pendingWindowSeconds) s.state = State.ACTIVE;
        if (s.state == State.ACTIVE) s.keys.values().removeIf(k -> k.validUntil != null && now > k.validUntil);
    }

    // ------------------------------------------------------------------ 15.2: the verifier's device store

    @Override
    public SortedMap<Long, byte[]> validKeys(String keyId, long now) throws Verifier.StoreUnavailable {
        if (keyStoreDown) throw new Verifier.StoreUnavailable("device store");
        Serial s = serials.get(keyId);
        if (s == null) return null;
        settle(s, now);
        TreeMap<Long, byte[]> out = new TreeMap<>();
        if (s.state == State.PENDING || s.state == State.ACTIVE)
            for (Key k : s.keys.values()) out.put(k.version, k.key);
        return out; // registered and revoked: none (WXSEAL_KEY_REVOKED)
    }

    @Override
    public void verified(String keyId, long version, long now) {
        Serial s = serials.get(keyId);
        if (s == null) return;
        if (s.state == State.PENDING) s.state = State.ACTIVE;
        Key k = s.keys.get(version);
        if (k != null) k.verified = true;
        // SPEC: the server MAY end the grace of the older key early here; this one does not.
    }

    // ------------------------------------------------------------------ answers

    /** An HTTP answer: a rejection (section 10), a delivery (15.6), or a handler response (15.7). */
    public static final class Answer {
        public int status;
        public final Map<String, String> headers = new LinkedHashMap<>();
        public byte[] body = new byte[0];
        public String code;            // rejection code; null otherwise
        public int secretIndex = -1;   // activation: index of the product secret that matched
        public Device.Delivery delivery;
        public boolean accepted() { return code == null; }
        @Override public String toString() { return code != null ? code : "HTTP " + status; }
    }

    /** Section 10 rejection: status, Wxseal-Error, Wxseal-Server-Time, JSON body; never signed (15.5). */
    public static Answer rejection(String code, String message, long now) {
        Answer a = new Answer();
        a.code = code;
        a.status = Verifier.statusOf(code);
        a.headers.put("wxseal-error", code);
        a.headers.put("wxseal-server-time", Long.toString(now));
        a.headers.put("content-type", "application/json");
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("code", code);
        err.put("message", message);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", err);
        a.body = Crypto.utf8(Json.stringify(m));
        return a;
    }

    private static final class Fail extends Exception {
        private static final long serialVersionUID = 1L;
        final String code;
        Fail(String code, String m) { super(m, null, false, false); this.code = code; }
    }

    // ------------------------------------------------------------------ 15.5 activation

    /**
     * POST on the activation path. contentLength is the Content-Length header value, or null. Wxseal-*
     * headers and Content-Type are not looked at (15.3).
     */
    public Answer activate(byte[] body, String contentLength, long now) {
        try {
            return activateOrFail(body, contentLength, now);
        } catch (Fail f) {
            return rejection(f.code, f.getMessage(), now);
        }
    }

    private Answer activateOrFail(byte[] body, String contentLength, long now) throws Fail {
        // step 1: body size
        if (contentLength != null && Verifier.isDigits(contentLength.trim(), 1, 19)
            && Long.parseLong(contentLength.trim()) > Device.ACTIVATION_MAX_BYTES)
            throw new Fail("WXSEAL_BODY_TOO_LARGE", "Content-Length over 1024");
        if (body.length > Device.ACTIVATION_MAX_BYTES) throw new Fail("WXSEAL_BODY_TOO_LARGE", "body over 1024 bytes");
        // step 2: body syntax (15.3)
        Device.ActivationRequest a;
        try { a = Device.parseActivation(body); }
        catch (Protocol.MalformedException e) { throw new Fail("WXSEAL_MALFORMED_PAYLOAD", e.getMessage()); }
        // step 3: timestamp window (section 8)
        long t = Long.parseLong(a.timestamp);
        if (t < now - windowSeconds) throw new Fail("WXSEAL_TIMESTAMP_EXPIRED", "timestamp too old");
        if (t > now + windowSeconds) throw new Fail("WXSEAL_TIMESTAMP_FUTURE", "timestamp too far ahead");
        // step 4: product lookup
        if (keyStoreDown) throw new Fail("WXSEAL_KEY_STORE_UNAVAILABLE", "product store");
        Product p = products.get(a.productId);
        if (p == null) throw new Fail("WXSEAL_UNKNOWN_KEY_ID", "no such product");
        List<byte[]> valid = new ArrayList<>();
        List<Integer> index = new ArrayList<>();
        if (!p.disabled)
            for (int k = 0; k < p.secrets.size(); k++)
                if (p.secrets.get(k).validAt(now)) { valid.add(p.secrets.get(k).bytes); index.add(k); }
        if (valid.isEmpty()) throw new Fail("WXSEAL_KEY_REVOKED", "product disabled or without a valid secret");
        // step 5: HMAC with every valid product secret, constant time, no early exit
        byte[] matched = null;
        int matchedIndex = -1;
        for (int k = 0; k < valid.size(); k++) {
            boolean eq = Crypto.constantTimeEquals(Device.activationSignature(valid.get(k), a.canonical), a.signatureBytes);
            if (eq && matched == null) { matched = valid.get(k); matchedIndex = index.get(k); }
        }
        if (matched == null) throw new Fail("WXSEAL_BAD_SIGNATURE", "no product secret matches");
        // step 6: nonce check-and-set of ("activate/" + product id, nonce), kept until t + W
        String nerr = nonces.checkAndSet("activate/" + a.productId, a.nonce, t + windowSeconds, now);
        if (nerr != null) throw new Fail(nerr, "nonce");
        // step 7: serial state (15.8)
        if (clientCredentials.containsKey(a.serial)) throw new Fail("WXSEAL_UNKNOWN_KEY_ID", "the serial is a client key id");
        Serial s = serials.get(a.serial);
        if (s == null && requireRegistration) throw new Fail("WXSEAL_UNKNOWN_KEY_ID", "serial not registered");
        if (s != null && !s.productId.equals(a.productId)) throw new Fail("WXSEAL_UNKNOWN_KEY_ID", "serial of another product");
        if (s != null) {
            settle(s, now);
            if (s.state == State.ACTIVE || s.state == State.REVOKED) throw new Fail("WXSEAL_KEY_REVOKED", "serial " + s.state);
        }
        // step 8: generate the key and its version, record them as pending, then answer
        long highest = s == null ? 0 : s.highestVersion;
        if (keyStoreWritesFail) throw new Fail("WXSEAL_KEY_STORE_UNAVAILABLE", "the new key could not be recorded");
        // SPEC 15 names no code for a serial whose versions are used up (2^31 - 1); this is an assumption
        if (highest >= Device.MAX_KEY_VERSION) throw new Fail("WXSEAL_KEY_STORE_UNAVAILABLE", "no key version left");
        long version = highest + 1;
        byte[] key = newDeviceKey.get();
        if (s == null) { s = new Serial(a.productId); serials.put(a.serial, s); }   // "the first activation creates it"
        s.highestVersion = version;
        s.keys.clear();                       // a pending key is replaced, never kept (15.8)
        s.keys.put(version, new Key(version, key, now));
        s.state = State.PENDING;
        s.deliveredAt = now;
        Answer ans = new Answer();
        ans.secretIndex = matchedIndex;
        ans.status = 200;
        ans.delivery = Device.seal("activate", matched, a.productId, a.serial, a.nonce, Long.toString(version), key, newServerNonce.get());
        ans.headers.putAll(ans.delivery.headers);
        ans.body = Crypto.utf8(ans.delivery.body);
        return ans;
    }

    // ------------------------------------------------------------------ 15.7 rotation handler

    /**
     * The handler of POST on the rotation path, for a request the verifier accepted. Returns the
     * handler's answer (status, content type, body, Cache-Control); {@link #respond} then signs or
     * seals it like any response. Returns null when the request is not for this route.
     */
    public Answer rotate(Verifier.Result res, Verifier.Request req, long now) {
        if (!res.accepted()) throw new IllegalArgumentException("rotation needs a verified request");
        if (!"POST".equals(req.method) || !Device.ROTATION_PATH.equals(Protocol.pathOf(req.target))) return null;
        Answer a = new Answer();
        a.headers.put("content-type", "application/json");
        Serial s = serials.get(res.keyId);
        if (s == null || res.deviceKeyVersion == null) {
            a.status = 403; // an authenticated response, not a verifier rejection
            a.body = Crypto.utf8("{\"error\":\"not a device serial\"}");
            return a;
        }
        if (keyStoreDown || keyStoreWritesFail || s.highestVersion >= Device.MAX_KEY_VERSION) {
            a.status = 503; // SPEC 15.7 does not say what the handler answers when it cannot record the key
            a.body = Crypto.utf8("{\"error\":\"the new key could not be recorded\"}");
            return a;
        }
        long k = res.deviceKeyVersion, n = s.highestVersion + 1;
        byte[] key = newDeviceKey.get();
        Key current = s.keys.get(k);
        current.validUntil = now + graceSeconds;     // the grace of k counts from this answer
        s.keys.clear();                              // "the serial's valid keys become exactly k and n"
        s.keys.put(k, current);
        s.keys.put(n, new Key(n, key, now));
        s.highestVersion = n;
        a.status = 200;
        a.delivery = Device.seal("rotate", current.key, s.productId, res.keyId, res.nonce, Long.toString(n), key, newServerNonce.get());
        a.headers.put("cache-control", "no-store");
        a.body = Crypto.utf8(a.delivery.body);
        return a;
    }

    /**
     * Sign (section 12) or seal (6.3) a handler answer to a verified request, as any response: the
     * library's {@link dev.wxseal.VerifiedRequest#respond}, with the handler's other headers kept.
     */
    public static Answer respond(Verifier.Result res, Answer handler) {
        Answer out = new Answer();
        out.delivery = handler.delivery;
        String ct = handler.headers.get("content-type");
        dev.wxseal.WxsealResponse w = res.ok.respond(handler.status, ct, handler.body);
        out.status = w.status();
        for (Map.Entry<String, String> h : handler.headers.entrySet())
            if (!h.getKey().equals("content-type")) out.headers.put(h.getKey(), h.getValue());
        for (Map.Entry<String, String> h : w.headers().entrySet())
            out.headers.put(h.getKey().toLowerCase(java.util.Locale.ROOT), h.getValue());
        out.body = w.body();
        return out;
    }
}
