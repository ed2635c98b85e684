package dev.wxseal;

import java.io.IOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.util.Base64;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.gm.GMNamedCurves;
import org.bouncycastle.asn1.gm.GMObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.digests.SM3Digest;
import org.bouncycastle.crypto.engines.SM2Engine;
import org.bouncycastle.crypto.engines.SM4Engine;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.macs.HMac;
import org.bouncycastle.crypto.modes.GCMBlockCipher;
import org.bouncycastle.crypto.modes.GCMModeCipher;
import org.bouncycastle.crypto.params.AEADParameters;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.params.HKDFParameters;
import org.bouncycastle.crypto.params.KeyParameter;
import org.bouncycastle.crypto.params.ParametersWithRandom;
import org.bouncycastle.math.ec.ECPoint;

/**
 * The primitives of the SM suite (SPEC.md 6.6, suite {@code sm2-sm4-gcm}) from Bouncy Castle's
 * lightweight API (bcprov, Debian package libbcprov-java): SM3 (GB/T 32905), HMAC-SM3, HKDF-SM3
 * (RFC 5869 over SM3), SM4-GCM (RFC 8998: 12-byte IV, 16-byte tag appended), SM2 public-key
 * encryption (GB/T 32918.4, wire form C1 || C3 || C2 with C1 uncompressed: 113 bytes for a 16-byte
 * key), and the SM2 key files of 6.6 (PKCS#8 / SEC1 / SPKI with the curve OID 1.2.156.10197.1.301,
 * and the armored hex forms {@code WXSEAL SM2 PRIVATE KEY} / {@code WXSEAL SM2 PUBLIC KEY}).
 *
 * <p>Only this class refers to Bouncy Castle: the RSA and X25519 suites never load it, so the
 * library runs without bcprov on the class path as long as no SM2 key is used.
 */
public final class Sm {
    private Sm() {}

    /** The suite identifier of SPEC 6.6 (configuration and logs only, never on the wire). */
    public static final String SUITE = "sm2-sm4-gcm";
    /** First line of the canonical request string (5.2) in the SM suite. */
    public static final String REQUEST_LABEL = "WXSEAL1-HMAC-SM3";
    /** First line of the request AAD (6.2 step 4) in the SM suite. */
    public static final String REQUEST_AAD_LABEL = "WXSEAL1-SM-REQUEST";
    /** First line of the response AAD (6.3 step 3) in the SM suite. */
    public static final String RESPONSE_AAD_LABEL = "WXSEAL1-SM-RESPONSE";
    /** The HKDF-SM3 info of the response key (19 ASCII bytes). */
    public static final String RESPONSE_HKDF_INFO = "WXSEAL1-SM response";
    /** First line of the canonical rejection string (10.1) in the SM suite. */
    public static final String REJECTION_LABEL = "WXSEAL1-HMAC-SM3-REJECTION";
    /** The session key K is an SM4 key: 16 bytes. */
    public static final int SESSION_KEY_BYTES = 16;
    /** C1 (65) || C3 (32) || C2 (16). */
    public static final int WRAPPED_BYTES = 113;
    /** HKDF-SM3 output: response key (16) || response IV (12). */
    public static final int RESPONSE_OKM_BYTES = 28;

    /** DER of the SPKI of an SM2 public key, up to the point: SPEC 6.6. */
    static final byte[] SPKI_PREFIX = hex("3059301306072a8648ce3d020106082a811ccf5501822d034200");

    private static final X9ECParameters CURVE = GMNamedCurves.getByOID(GMObjectIdentifiers.sm2p256v1);
    private static final ECDomainParameters DOMAIN = new ECDomainParameters(CURVE.getCurve(), CURVE.getG(), CURVE.getN(), CURVE.getH());

    // ---------------------------------------------------------------- SM3, HMAC-SM3, HKDF-SM3

    public static byte[] sm3(byte[] data) {
        SM3Digest d = new SM3Digest();
        d.update(data, 0, data.length);
        byte[] out = new byte[32];
        d.doFinal(out, 0);
        return out;
    }

    public static byte[] hmacSm3(byte[] key, byte[] data) {
        HMac m = new HMac(new SM3Digest());
        m.init(new KeyParameter(key));
        m.update(data, 0, data.length);
        byte[] out = new byte[32];
        m.doFinal(out, 0);
        return out;
    }

    /** HKDF (RFC 5869) with SM3: extract with the salt, expand to length bytes. */
    public static byte[] hkdfSm3(byte[] ikm, byte[] salt, byte[] info, int length) {
        HKDFBytesGenerator g = new HKDFBytesGenerator(new SM3Digest());
        g.init(new HKDFParameters(ikm, salt, info));
        byte[] out = new byte[length];
        g.generateBytes(out, 0, length);
        return out;
    }

    // ---------------------------------------------------------------- SM4-GCM

    private static GCMModeCipher gcm(boolean encrypt, byte[] key, byte[] iv, byte[] aad) {
        if (key.length != 16) throw new IllegalArgumentException("an SM4 key is 16 bytes");
        if (iv.length != 12) throw new IllegalArgumentException("the IV is 12 bytes");
        GCMModeCipher c = GCMBlockCipher.newInstance(new SM4Engine());
        c.init(encrypt, new AEADParameters(new KeyParameter(key), 128, iv, aad));
        return c;
    }

    /** SM4-GCM (RFC 8998): returns ciphertext || 16-byte tag. */
    public static byte[] sm4GcmEncrypt(byte[] key, byte[] iv, byte[] aad, byte[] plaintext) {
        GCMModeCipher c = gcm(true, key, iv, aad);
        byte[] out = new byte[c.getOutputSize(plaintext.length)];
        int n = c.processBytes(plaintext, 0, plaintext.length, out, 0);
        try { c.doFinal(out, n); }
        catch (InvalidCipherTextException e) { throw new IllegalStateException(e); }
        return out;
    }

    /** SM4-GCM decrypt of ciphertext || tag; throws GeneralSecurityException when the tag does not verify. */
    public static byte[] sm4GcmDecrypt(byte[] key, byte[] iv, byte[] aad, byte[] sealed) throws GeneralSecurityException {
        if (key.length != 16) throw new GeneralSecurityException("an SM4 key is 16 bytes");
        if (iv.length != 12) throw new GeneralSecurityException("the IV is 12 bytes");
        if (sealed.length < 16) throw new GeneralSecurityException("shorter than the tag");
        GCMModeCipher c = gcm(false, key, iv, aad);
        byte[] out = new byte[c.getOutputSize(sealed.length)];
        int n = c.processBytes(sealed, 0, sealed.length, out, 0);
        try { c.doFinal(out, n); }
        catch (InvalidCipherTextException e) { throw new GeneralSecurityException("SM4-GCM tag mismatch"); }
        return out;
    }

    // ---------------------------------------------------------------- SM2 encryption (GB/T 32918.4)

    /** SM2-Encrypt(pk, plaintext) with a fresh ephemeral scalar, output C1 (04 || x || y) || C3 || C2. */
    public static byte[] sm2Encrypt(Sm2PublicKey pk, byte[] plaintext) {
        SM2Engine e = new SM2Engine(new SM3Digest(), SM2Engine.Mode.C1C3C2);
        e.init(true, new ParametersWithRandom(new ECPublicKeyParameters(point(pk.point()), DOMAIN), Crypto.RNG));
        try { return e.processBlock(plaintext, 0, plaintext.length); }
        catch (InvalidCipherTextException ex) { throw new IllegalStateException(ex); }
    }

    /**
     * SM2-Decrypt of C1 || C3 || C2 (C1 uncompressed). Any failure (C1 not an uncompressed point of the
     * curve, C3 mismatch, malformed input) is a GeneralSecurityException.
     */
    public static byte[] sm2Decrypt(Sm2PrivateKey sk, byte[] ciphertext) throws GeneralSecurityException {
        if (ciphertext.length < 65 + 32 + 1 || ciphertext[0] != 0x04) throw new GeneralSecurityException("C1 is not an uncompressed point");
        SM2Engine e = new SM2Engine(new SM3Digest(), SM2Engine.Mode.C1C3C2);
        e.init(false, new ECPrivateKeyParameters(new BigInteger(1, sk.scalar()), DOMAIN));
        try { return e.processBlock(ciphertext, 0, ciphertext.length); }
        catch (InvalidCipherTextException | RuntimeException ex) { throw new GeneralSecurityException("SM2 decryption failed"); }
    }

    /** The SM suite's wrap (SPEC 6.6): SM2 encryption of the 16-byte session key, 113 bytes. */
    public static byte[] wrap(Sm2PublicKey pk, byte[] sessionKey) {
        if (sessionKey.length != SESSION_KEY_BYTES) throw new IllegalArgumentException("the SM suite's session key is 16 bytes");
        return sm2Encrypt(pk, sessionKey);
    }

    /** The SM suite's unwrap: exactly 113 bytes in, exactly 16 bytes out, or GeneralSecurityException. */
    public static byte[] unwrap(Sm2PrivateKey sk, byte[] wrapped) throws GeneralSecurityException {
        if (wrapped.length != WRAPPED_BYTES) throw new GeneralSecurityException("an SM2-wrapped key is 113 bytes");
        byte[] k = sm2Decrypt(sk, wrapped);
        if (k.length != SESSION_KEY_BYTES) throw new GeneralSecurityException("the session key is not 16 bytes");
        return k;
    }

    // ---------------------------------------------------------------- keys

    private static ECPoint point(byte[] encoded) {
        ECPoint p = CURVE.getCurve().decodePoint(encoded).normalize();
        if (p.isInfinity() || !p.isValid()) throw new IllegalArgumentException("not a point of sm2p256v1");
        return p;
    }

    /** Validates a 65-byte uncompressed point (04 || x || y) of the curve sm2p256v1. */
    static void checkPoint(byte[] encoded) {
        if (encoded.length != 65 || encoded[0] != 0x04) throw new IllegalArgumentException("an SM2 public key is 65 bytes 04 || x || y");
        point(encoded);
    }

    /** The public point (65 bytes, uncompressed) of a scalar; the scalar must be in [1, n - 2]. */
    static byte[] publicPointOf(byte[] scalar) {
        BigInteger d = new BigInteger(1, scalar);
        if (d.signum() <= 0 || d.compareTo(CURVE.getN().subtract(BigInteger.ONE)) >= 0)
            throw new IllegalArgumentException("the SM2 private scalar is out of range");
        return CURVE.getG().multiply(d).normalize().getEncoded(false);
    }

    /** A new random SM2 key pair (for tests and tools). */
    public static Sm2PrivateKey generate() {
        while (true) {
            byte[] d = Crypto.random(32);
            BigInteger v = new BigInteger(1, d);
            if (v.signum() > 0 && v.compareTo(CURVE.getN().subtract(BigInteger.ONE)) < 0) return new Sm2PrivateKey(d);
        }
    }

    private static boolean isSm2Algorithm(AlgorithmIdentifier a) {
        if (!X9ObjectIdentifiers.id_ecPublicKey.equals(a.getAlgorithm())) return false;
        ASN1Encodable p = a.getParameters();
        return p instanceof ASN1ObjectIdentifier && GMObjectIdentifiers.sm2p256v1.equals(p);
    }

    /** PKCS#8 DER (id-ecPublicKey, curve sm2p256v1) of a private key, with its public key, as OpenSSL writes it. */
    static byte[] pkcs8Der(Sm2PrivateKey k) {
        try {
            ECPrivateKey inner = new ECPrivateKey(256, new BigInteger(1, k.scalar()), new DERBitString(k.publicKey().point()), null);
            return new PrivateKeyInfo(new AlgorithmIdentifier(X9ObjectIdentifiers.id_ecPublicKey, GMObjectIdentifiers.sm2p256v1), inner)
                .getEncoded("DER");
        } catch (IOException e) { throw new IllegalStateException(e); }
    }

    /**
     * An SM2 private key from any of the forms of SPEC 6.6: PKCS#8 PEM ({@code PRIVATE KEY}, algorithm
     * id-ecPublicKey with the curve OID 1.2.156.10197.1.301, as {@code openssl genpkey -algorithm SM2}
     * writes it), SEC1 PEM ({@code EC PRIVATE KEY}, curve sm2p256v1 when it names one), or the
     * armored 64-hex-digit scalar between {@code -----BEGIN WXSEAL SM2 PRIVATE KEY-----} and its END line.
     *
     * @throws IllegalArgumentException when the text holds no SM2 private key
     */
    public static Sm2PrivateKey privateKeyFromPem(String pem) {
        if (pem.contains("-----BEGIN WXSEAL SM2 PRIVATE KEY-----")) {
            String h = armored(pem, "WXSEAL SM2 PRIVATE KEY");
            if (!h.matches("[0-9a-fA-F]{64}")) throw new IllegalArgumentException("WXSEAL SM2 PRIVATE KEY: not 64 hex digits");
            return new Sm2PrivateKey(hex(h));
        }
        try {
            ECPrivateKey ec;
            if (pem.contains("-----BEGIN EC PRIVATE KEY-----")) {
                ec = ECPrivateKey.getInstance(ASN1Primitive.fromByteArray(Crypto.pemDer(pem, "EC PRIVATE KEY")));
                ASN1Encodable params = ec.getParametersObject();
                if (params != null && !GMObjectIdentifiers.sm2p256v1.equals(params))
                    throw new IllegalArgumentException("EC PRIVATE KEY: not on the curve sm2p256v1");
            } else {
                PrivateKeyInfo info = PrivateKeyInfo.getInstance(ASN1Primitive.fromByteArray(Crypto.pemDer(pem, "PRIVATE KEY")));
                if (!isSm2Algorithm(info.getPrivateKeyAlgorithm()))
                    throw new IllegalArgumentException("PRIVATE KEY: not an SM2 key (id-ecPublicKey with the curve 1.2.156.10197.1.301)");
                ec = ECPrivateKey.getInstance(info.parsePrivateKey());
            }
            byte[] d = unsigned32(ec.getKey());
            Sm2PrivateKey k = new Sm2PrivateKey(d);
            if (ec.getPublicKey() != null && !java.util.Arrays.equals(ec.getPublicKey().getOctets(), k.publicKey().point())
                && !java.util.Arrays.equals(point(ec.getPublicKey().getOctets()).getEncoded(false), k.publicKey().point()))
                throw new IllegalArgumentException("the public key in the file does not match the private scalar");
            return k;
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException) throw (IllegalArgumentException) e;
            throw new IllegalArgumentException("not an SM2 private key: " + e.getMessage(), e);
        }
    }

    /**
     * An SM2 public key from SPKI PEM ({@code PUBLIC KEY}, id-ecPublicKey with the curve OID
     * 1.2.156.10197.1.301) or the armored 130-hex-digit point between
     * {@code -----BEGIN WXSEAL SM2 PUBLIC KEY-----} and its END line.
     *
     * @throws IllegalArgumentException when the text holds no SM2 public key
     */
    public static Sm2PublicKey publicKeyFromPem(String pem) {
        if (pem.contains("-----BEGIN WXSEAL SM2 PUBLIC KEY-----")) {
            String h = armored(pem, "WXSEAL SM2 PUBLIC KEY");
            if (!h.matches("[0-9a-fA-F]{130}")) throw new IllegalArgumentException("WXSEAL SM2 PUBLIC KEY: not 130 hex digits");
            return new Sm2PublicKey(hex(h));
        }
        try {
            SubjectPublicKeyInfo info = SubjectPublicKeyInfo.getInstance(ASN1Primitive.fromByteArray(Crypto.pemDer(pem, "PUBLIC KEY")));
            if (!isSm2Algorithm(info.getAlgorithm()))
                throw new IllegalArgumentException("PUBLIC KEY: not an SM2 key (id-ecPublicKey with the curve 1.2.156.10197.1.301)");
            return new Sm2PublicKey(point(info.getPublicKeyData().getOctets()).getEncoded(false));
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException) throw (IllegalArgumentException) e;
            throw new IllegalArgumentException("not an SM2 public key: " + e.getMessage(), e);
        }
    }

    /** The armored hex form of SPEC 6.6 for a private key (64 hex digits). */
    public static String formatPrivateKey(Sm2PrivateKey k) {
        return "-----BEGIN WXSEAL SM2 PRIVATE KEY-----\n" + Crypto.hex(k.scalar()) + "\n-----END WXSEAL SM2 PRIVATE KEY-----\n";
    }

    /** The armored hex form of SPEC 6.6 for a public key (130 hex digits). */
    public static String formatPublicKey(Sm2PublicKey k) {
        return "-----BEGIN WXSEAL SM2 PUBLIC KEY-----\n" + Crypto.hex(k.point()) + "\n-----END WXSEAL SM2 PUBLIC KEY-----\n";
    }

    /** SPKI PEM of a public key (what {@code openssl pkey -pubout} writes for an SM2 key). */
    public static String publicKeyToPem(Sm2PublicKey k) {
        return pem("PUBLIC KEY", k.getEncoded());
    }

    /** PKCS#8 PEM of a private key (what {@code openssl genpkey -algorithm SM2} writes). */
    public static String privateKeyToPem(Sm2PrivateKey k) {
        return pem("PRIVATE KEY", k.getEncoded());
    }

    private static String pem(String label, byte[] der) {
        String b = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der);
        return "-----BEGIN " + label + "-----\n" + b + "\n-----END " + label + "-----\n";
    }

    private static String armored(String pem, String label) {
        String begin = "-----BEGIN " + label + "-----", end = "-----END " + label + "-----";
        int a = pem.indexOf(begin), b = pem.indexOf(end);
        if (a < 0 || b < a) throw new IllegalArgumentException("no " + label + " block");
        return pem.substring(a + begin.length(), b).replaceAll("\\s+", "");
    }

    private static byte[] unsigned32(BigInteger v) {
        byte[] be = v.toByteArray();
        if (be.length > 33 || (be.length == 33 && be[0] != 0)) throw new IllegalArgumentException("the SM2 private scalar is longer than 32 bytes");
        byte[] out = new byte[32];
        int n = Math.min(be.length, 32);
        System.arraycopy(be, be.length - n, out, 32 - n, n);
        return out;
    }

    static byte[] hex(String h) {
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++)
            out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return out;
    }
}
