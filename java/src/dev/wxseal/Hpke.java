package dev.wxseal;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.XECPrivateKey;
import java.security.interfaces.XECPublicKey;
import java.security.spec.NamedParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.security.spec.XECPrivateKeySpec;
import java.security.spec.XECPublicKeySpec;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * HPKE (RFC 9180) base mode for DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, with AES-128-GCM or
 * AES-256-GCM, single-shot (sequence number 0), from the JDK only: X25519 is the JDK's "XDH"
 * KeyAgreement, HKDF is written out over HmacSHA256. SPEC.md 6.5 uses it with AES-256-GCM to wrap
 * the 32-byte session key: wrapped = enc || ct, 80 bytes.
 */
public final class Hpke {
    private Hpke() {}

    public static final int KEM_X25519_HKDF_SHA256 = 0x0020;
    public static final int KDF_HKDF_SHA256 = 0x0001;
    public static final int AEAD_AES_128_GCM = 0x0001;
    public static final int AEAD_AES_256_GCM = 0x0002;
    public static final int MODE_BASE = 0x00;

    /** SPEC 6.5: the HPKE info of the session-key wrap (21 ASCII bytes). */
    public static final String WXSEAL_INFO = "wxseal-v1 session key";
    /** SPEC 6.5: enc (32) || AES-256-GCM(K) (32) || tag (16). */
    public static final int WRAPPED_BYTES = 80;

    private static final int NSECRET = 32, NH = 32, NPK = 32, NSK = 32, NN = 12, NT = 16;
    private static final byte[] HPKE_V1 = Crypto.utf8("HPKE-v1");
    private static final byte[] KEM_SUITE = Crypto.concat(Crypto.utf8("KEM"), i2osp(KEM_X25519_HKDF_SHA256, 2));
    /** 2^255 - 19 */
    private static final BigInteger P = BigInteger.ONE.shiftLeft(255).subtract(BigInteger.valueOf(19));

    // ---------------------------------------------------------------- encodings

    static byte[] i2osp(int value, int length) {
        byte[] out = new byte[length];
        for (int i = length - 1; i >= 0; i--) { out[i] = (byte) value; value >>>= 8; }
        return out;
    }

    private static byte[] reversed(byte[] b) {
        byte[] r = new byte[b.length];
        for (int i = 0; i < b.length; i++) r[i] = b[b.length - 1 - i];
        return r;
    }

    /** RFC 7748 decodeUCoordinate: little-endian, the top bit of the last byte masked, read modulo p. */
    static BigInteger decodeU(byte[] u) {
        if (u.length != NPK) throw new IllegalArgumentException("an X25519 public key is 32 bytes, not " + u.length);
        byte[] le = u.clone();
        le[31] &= 0x7f;
        return new BigInteger(1, reversed(le)).mod(P);
    }

    /** RFC 7748 encodeUCoordinate: 32 bytes, little-endian. */
    static byte[] encodeU(BigInteger u) {
        byte[] be = u.mod(P).toByteArray(); // big-endian, maybe with a leading 0 byte, maybe shorter than 32
        byte[] out = new byte[32];
        for (int i = 0; i < 32 && i < be.length; i++) out[i] = be[be.length - 1 - i];
        return out;
    }

    // ---------------------------------------------------------------- X25519 keys (RFC 7748)

    public static PrivateKey privateKeyFromRaw(byte[] sk) {
        if (sk.length != NSK) throw new IllegalArgumentException("an X25519 private key is 32 bytes, not " + sk.length);
        try { return KeyFactory.getInstance("XDH").generatePrivate(new XECPrivateKeySpec(NamedParameterSpec.X25519, sk.clone())); }
        catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    public static PublicKey publicKeyFromRaw(byte[] pk) {
        try { return KeyFactory.getInstance("XDH").generatePublic(new XECPublicKeySpec(NamedParameterSpec.X25519, decodeU(pk))); }
        catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    public static byte[] rawPrivateKey(PrivateKey k) {
        return ((XECPrivateKey) k).getScalar().orElseThrow(() -> new IllegalArgumentException("the X25519 scalar is not extractable"));
    }

    public static byte[] rawPublicKey(PublicKey k) { return encodeU(((XECPublicKey) k).getU()); }

    public static boolean isX25519(java.security.Key k) {
        if (!(k instanceof XECPrivateKey) && !(k instanceof XECPublicKey)) return false;
        java.security.spec.AlgorithmParameterSpec p = k instanceof XECPrivateKey ? ((XECPrivateKey) k).getParams() : ((XECPublicKey) k).getParams();
        return p instanceof NamedParameterSpec && ((NamedParameterSpec) p).getName().equalsIgnoreCase("X25519");
    }

    public static PrivateKey privateKeyFromPkcs8Pem(String pem) {
        try {
            PrivateKey k = KeyFactory.getInstance("XDH").generatePrivate(new PKCS8EncodedKeySpec(Crypto.pemDer(pem, "PRIVATE KEY")));
            if (!isX25519(k)) throw new IllegalArgumentException("not an X25519 key");
            return k;
        } catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    public static PublicKey publicKeyFromSpkiPem(String pem) {
        try {
            PublicKey k = KeyFactory.getInstance("XDH").generatePublic(new X509EncodedKeySpec(Crypto.pemDer(pem, "PUBLIC KEY")));
            if (!isX25519(k)) throw new IllegalArgumentException("not an X25519 key");
            return k;
        } catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    /**
     * X25519(scalar, u) of RFC 7748 section 5. Throws when the result is all zero (a low-order u:
     * RFC 9180 7.1.4 requires the check; the JDK also refuses it).
     */
    public static byte[] x25519(byte[] scalar, byte[] u) throws GeneralSecurityException {
        KeyAgreement ka = KeyAgreement.getInstance("XDH");
        ka.init(privateKeyFromRaw(scalar));
        ka.doPhase(publicKeyFromRaw(u), true);
        byte[] out = ka.generateSecret();
        int acc = 0;
        for (byte b : out) acc |= b;
        if (out.length != 32 || acc == 0) throw new GeneralSecurityException("X25519 output is all zero");
        return out;
    }

    /** The public key of a raw private key: X25519(sk, 9). */
    public static byte[] publicOf(byte[] sk) throws GeneralSecurityException {
        byte[] nine = new byte[32];
        nine[0] = 9;
        return x25519(sk, nine);
    }

    // ---------------------------------------------------------------- HKDF and the labeled functions (RFC 9180 4)

    static byte[] extract(byte[] salt, byte[] ikm) {
        // HMAC pads its key with zeros, so an empty salt is the same as NH zero bytes (RFC 5869 2.2)
        return Crypto.hmacSha256(salt.length == 0 ? new byte[NH] : salt, ikm);
    }

    static byte[] expand(byte[] prk, byte[] info, int length) {
        if (length > 255 * NH) throw new IllegalArgumentException("HKDF-Expand length too large");
        byte[] out = new byte[length];
        byte[] t = new byte[0];
        for (int done = 0, i = 1; done < length; i++) {
            t = Crypto.hmacSha256(prk, Crypto.concat(t, info, new byte[] {(byte) i}));
            int n = Math.min(t.length, length - done);
            System.arraycopy(t, 0, out, done, n);
            done += n;
        }
        return out;
    }

    static byte[] labeledExtract(byte[] suiteId, byte[] salt, String label, byte[] ikm) {
        return extract(salt, Crypto.concat(HPKE_V1, suiteId, Crypto.utf8(label), ikm));
    }

    static byte[] labeledExpand(byte[] suiteId, byte[] prk, String label, byte[] info, int length) {
        return expand(prk, Crypto.concat(i2osp(length, 2), HPKE_V1, suiteId, Crypto.utf8(label), info), length);
    }

    // ---------------------------------------------------------------- DHKEM(X25519, HKDF-SHA256) (RFC 9180 4.1, 7.1.3)

    /** DeriveKeyPair(ikm) for X25519: the raw private key (the public key is publicOf of it). */
    public static byte[] derivePrivateKey(byte[] ikm) {
        byte[] dkpPrk = labeledExtract(KEM_SUITE, new byte[0], "dkp_prk", ikm);
        return labeledExpand(KEM_SUITE, dkpPrk, "sk", new byte[0], NSK);
    }

    private static byte[] extractAndExpand(byte[] dh, byte[] kemContext) {
        byte[] eaePrk = labeledExtract(KEM_SUITE, new byte[0], "eae_prk", dh);
        return labeledExpand(KEM_SUITE, eaePrk, "shared_secret", kemContext, NSECRET);
    }

    public static final class Encapsulation {
        public final byte[] sharedSecret, enc;
        Encapsulation(byte[] sharedSecret, byte[] enc) { this.sharedSecret = sharedSecret; this.enc = enc; }
    }

    /** Encap(pkR) with a given ephemeral private key skE (a sender draws a new one each time). */
    public static Encapsulation encap(byte[] pkR, byte[] skE) throws GeneralSecurityException {
        byte[] dh = x25519(skE, pkR);
        byte[] enc = publicOf(skE);
        return new Encapsulation(extractAndExpand(dh, Crypto.concat(enc, pkR)), enc);
    }

    public static byte[] decap(byte[] enc, byte[] skR) throws GeneralSecurityException {
        return decap(enc, skR, publicOf(skR));
    }

    /** Decap with the receiver's public key already known (saves one X25519 operation per unwrap). */
    public static byte[] decap(byte[] enc, byte[] skR, byte[] pkRm) throws GeneralSecurityException {
        byte[] dh = x25519(skR, enc);
        return extractAndExpand(dh, Crypto.concat(enc, pkRm));
    }

    // ---------------------------------------------------------------- key schedule, base mode (RFC 9180 5.1)

    public static final class Context {
        public final int aeadId;
        public final byte[] keyScheduleContext, secret, key, baseNonce, exporterSecret;
        Context(int aeadId, byte[] ksc, byte[] secret, byte[] key, byte[] baseNonce, byte[] exporterSecret) {
            this.aeadId = aeadId; this.keyScheduleContext = ksc; this.secret = secret; this.key = key;
            this.baseNonce = baseNonce; this.exporterSecret = exporterSecret;
        }

        /** The nonce of sequence number seq: base_nonce XOR I2OSP(seq, Nn). */
        public byte[] nonce(long seq) {
            byte[] n = baseNonce.clone();
            for (int i = NN - 1; i >= 0 && seq != 0; i--) { n[i] ^= (byte) seq; seq >>>= 8; }
            return n;
        }

        public byte[] seal(long seq, byte[] aad, byte[] pt) throws GeneralSecurityException {
            return aead(Cipher.ENCRYPT_MODE, key, nonce(seq), aad, pt);
        }

        public byte[] open(long seq, byte[] aad, byte[] ct) throws GeneralSecurityException {
            if (ct.length < NT) throw new GeneralSecurityException("shorter than the tag");
            return aead(Cipher.DECRYPT_MODE, key, nonce(seq), aad, ct);
        }

        public byte[] export(byte[] exporterContext, int length) {
            return labeledExpand(suiteId(aeadId), exporterSecret, "sec", exporterContext, length);
        }
    }

    static byte[] suiteId(int aeadId) {
        return Crypto.concat(Crypto.utf8("HPKE"), i2osp(KEM_X25519_HKDF_SHA256, 2), i2osp(KDF_HKDF_SHA256, 2), i2osp(aeadId, 2));
    }

    private static int nk(int aeadId) {
        if (aeadId == AEAD_AES_128_GCM) return 16;
        if (aeadId == AEAD_AES_256_GCM) return 32;
        throw new IllegalArgumentException("unsupported AEAD id " + aeadId);
    }

    public static Context keySchedule(int aeadId, byte[] sharedSecret, byte[] info) {
        byte[] suite = suiteId(aeadId);
        byte[] pskIdHash = labeledExtract(suite, new byte[0], "psk_id_hash", new byte[0]);
        byte[] infoHash = labeledExtract(suite, new byte[0], "info_hash", info);
        byte[] ksc = Crypto.concat(new byte[] {(byte) MODE_BASE}, pskIdHash, infoHash);
        byte[] secret = labeledExtract(suite, sharedSecret, "secret", new byte[0]); // psk = default_psk (empty)
        byte[] key = labeledExpand(suite, secret, "key", ksc, nk(aeadId));
        byte[] baseNonce = labeledExpand(suite, secret, "base_nonce", ksc, NN);
        byte[] exporterSecret = labeledExpand(suite, secret, "exp", ksc, NH);
        return new Context(aeadId, ksc, secret, key, baseNonce, exporterSecret);
    }

    private static byte[] aead(int mode, byte[] key, byte[] nonce, byte[] aad, byte[] in) throws GeneralSecurityException {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(mode, new SecretKeySpec(key, "AES"), new GCMParameterSpec(NT * 8, nonce));
        c.updateAAD(aad);
        return c.doFinal(in);
    }

    // ---------------------------------------------------------------- single-shot base mode (RFC 9180 6.1)

    public static final class Sealed {
        public final byte[] enc, ct;
        public final Encapsulation encapsulation;
        public final Context context;
        Sealed(Encapsulation e, Context c, byte[] ct) { this.encapsulation = e; this.context = c; this.enc = e.enc; this.ct = ct; }
    }

    /** SealBase(pkR, info, aad, pt) with a fixed ephemeral private key skE. */
    public static Sealed sealBase(int aeadId, byte[] pkR, byte[] skE, byte[] info, byte[] aad, byte[] pt) throws GeneralSecurityException {
        Encapsulation e = encap(pkR, skE);
        Context c = keySchedule(aeadId, e.sharedSecret, info);
        return new Sealed(e, c, c.seal(0, aad, pt));
    }

    /** OpenBase(enc, skR, info, aad, ct). */
    public static byte[] openBase(int aeadId, byte[] enc, byte[] skR, byte[] info, byte[] aad, byte[] ct) throws GeneralSecurityException {
        return keySchedule(aeadId, decap(enc, skR), info).open(0, aad, ct);
    }

    // ---------------------------------------------------------------- the wxseal wrap (SPEC 6.5)

    /** wrapped = enc || ct for session key k, with a fixed ephemeral private key (vectors) or a fresh one (null). */
    public static byte[] wrap(byte[] pkR, byte[] k, byte[] ephemeralSk) throws GeneralSecurityException {
        byte[] skE = ephemeralSk != null ? ephemeralSk : derivePrivateKey(Crypto.random(32));
        Sealed s = sealBase(AEAD_AES_256_GCM, pkR, skE, Crypto.utf8(WXSEAL_INFO), new byte[0], k);
        return Crypto.concat(s.enc, s.ct);
    }

    public static byte[] wrap(PublicKey pkR, byte[] k) throws GeneralSecurityException {
        return wrap(rawPublicKey(pkR), k, null);
    }

    /** The unwrap of SPEC 6.5: any failure (length, all-zero DH, tag, plaintext length) throws. */
    public static byte[] unwrap(byte[] skR, byte[] wrapped) throws GeneralSecurityException {
        return unwrap(skR, publicOf(skR), wrapped);
    }

    /** The unwrap of SPEC 6.5 with the receiver's public key already known. */
    public static byte[] unwrap(byte[] skR, byte[] pkRm, byte[] wrapped) throws GeneralSecurityException {
        if (wrapped.length != WRAPPED_BYTES) throw new GeneralSecurityException("wrapped key is " + wrapped.length + " bytes, not 80");
        byte[] k;
        try {
            byte[] enc = Crypto.slice(wrapped, 0, NPK);
            k = keySchedule(AEAD_AES_256_GCM, decap(enc, skR, pkRm), Crypto.utf8(WXSEAL_INFO))
                .open(0, new byte[0], Crypto.slice(wrapped, NPK, wrapped.length));
        } catch (RuntimeException e) { // whatever the JDK throws on a bad point is a failed unwrap too
            throw new GeneralSecurityException("HPKE open failed: " + e, e);
        }
        if (k.length != 32) throw new GeneralSecurityException("session key is " + k.length + " bytes, not 32");
        return k;
    }

    public static byte[] unwrap(PrivateKey skR, byte[] wrapped) throws GeneralSecurityException {
        return unwrap(rawPrivateKey(skR), wrapped);
    }
}
