package dev.wxseal;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.interfaces.RSAKey;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;

/**
 * The primitives of SPEC.md section 1, from the JDK only, and the wrap of the session key by the
 * type of the server key (RSA-OAEP-256, X25519 HPKE, or SM2 through {@link Sm}, which alone needs
 * Bouncy Castle).
 */
public final class Crypto {
    private Crypto() {}

    public static final SecureRandom RNG = new SecureRandom();

    /** RSA-OAEP with SHA-256 as the hash AND as the MGF1 hash, empty label (the JDK default MGF1 is SHA-1). */
    private static final OAEPParameterSpec OAEP = new OAEPParameterSpec(
        "SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);

    public static byte[] utf8(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    public static byte[] random(int n) { byte[] b = new byte[n]; RNG.nextBytes(b); return b; }

    // Provider lookups cost more than hashing a small request: one instance per thread, reused.
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try { return MessageDigest.getInstance("SHA-256"); }
        catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    });
    private static final ThreadLocal<Mac> HMAC = ThreadLocal.withInitial(() -> {
        try { return Mac.getInstance("HmacSHA256"); }
        catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    });

    public static byte[] sha256(byte[] data) {
        MessageDigest md = SHA256.get();
        md.reset();
        return md.digest(data);
    }

    public static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) s.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
        return s.toString();
    }

    public static byte[] hmacSha256(byte[] key, byte[] data) {
        try {
            Mac mac = HMAC.get();
            // An empty key is legal in HMAC but SecretKeySpec refuses it; secrets are 32-64 bytes here.
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    }

    /** HKDF-SHA256 (RFC 5869): extract then expand. */
    public static byte[] hkdfSha256(byte[] ikm, byte[] salt, byte[] info, int length) {
        if (length > 255 * 32) throw new IllegalArgumentException("HKDF length too large");
        byte[] s = salt.length == 0 ? new byte[32] : salt;
        byte[] prk = hmacSha256(s, ikm);
        byte[] out = new byte[length];
        byte[] t = new byte[0];
        int done = 0;
        for (int counter = 1; done < length; counter++) {
            byte[] in = new byte[t.length + info.length + 1];
            System.arraycopy(t, 0, in, 0, t.length);
            System.arraycopy(info, 0, in, t.length, info.length);
            in[in.length - 1] = (byte) counter;
            t = hmacSha256(prk, in);
            int n = Math.min(t.length, length - done);
            System.arraycopy(t, 0, out, done, n);
            done += n;
        }
        return out;
    }

    /** AES-256-GCM, 96-bit IV, 128-bit tag appended: returns ciphertext || tag. */
    public static byte[] aesGcmEncrypt(byte[] key, byte[] iv, byte[] aad, byte[] plaintext) {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            return c.doFinal(plaintext);
        } catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    }

    /** AES-256-GCM decrypt of ciphertext || tag; throws GeneralSecurityException on a bad tag. */
    public static byte[] aesGcmDecrypt(byte[] key, byte[] iv, byte[] aad, byte[] sealed) throws GeneralSecurityException {
        if (key.length != 32) throw new GeneralSecurityException("AES-256 key must be 32 bytes");
        if (iv.length != 12) throw new GeneralSecurityException("IV must be 12 bytes");
        if (sealed.length < 16) throw new GeneralSecurityException("shorter than the tag");
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
        c.updateAAD(aad);
        return c.doFinal(sealed);
    }

    public static byte[] rsaOaepEncrypt(PublicKey pub, byte[] plaintext) {
        try {
            Cipher c = Cipher.getInstance("RSA/ECB/OAEPPadding");
            c.init(Cipher.ENCRYPT_MODE, pub, OAEP, RNG);
            return c.doFinal(plaintext);
        } catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    }

    public static byte[] rsaOaepDecrypt(PrivateKey priv, byte[] ciphertext) throws GeneralSecurityException {
        Cipher c = Cipher.getInstance("RSA/ECB/OAEPPadding");
        c.init(Cipher.DECRYPT_MODE, priv, OAEP);
        return c.doFinal(ciphertext);
    }

    /** Modulus length in bytes. */
    public static int modulusBytes(java.security.Key k) {
        return (((RSAKey) k).getModulus().bitLength() + 7) / 8;
    }

    public static byte[] pemDer(String pem, String label) {
        String begin = "-----BEGIN " + label + "-----", end = "-----END " + label + "-----";
        int a = pem.indexOf(begin), b = pem.indexOf(end);
        if (a < 0 || b < a) throw new IllegalArgumentException("no " + label + " PEM block");
        String body = pem.substring(a + begin.length(), b).replaceAll("\\s+", "");
        return Base64.getDecoder().decode(body);
    }

    public static PrivateKey privateKeyFromPkcs8Pem(String pem) {
        try { return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(pemDer(pem, "PRIVATE KEY"))); }
        catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    public static PublicKey publicKeyFromSpkiPem(String pem) {
        try { return KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(pemDer(pem, "PUBLIC KEY"))); }
        catch (GeneralSecurityException e) { throw new IllegalArgumentException(e); }
    }

    /**
     * A server private key of any type (SPEC 2): RSA, X25519 (6.5) or SM2 (6.6), by the PKCS#8
     * algorithm; an SM2 key may also be SEC1 ({@code EC PRIVATE KEY}) or the armored
     * {@code WXSEAL SM2 PRIVATE KEY} hex form. SM2 needs Bouncy Castle on the class path.
     */
    public static PrivateKey serverPrivateKeyFromPkcs8Pem(String pem) {
        if (isSm2Text(pem, "PRIVATE")) return sm2OrExplain(() -> Sm.privateKeyFromPem(pem));
        try { return privateKeyFromPkcs8Pem(pem); }
        catch (IllegalArgumentException notRsa) {
            try { return Hpke.privateKeyFromPkcs8Pem(pem); }
            catch (IllegalArgumentException notX25519) {
                try { return Sm.privateKeyFromPem(pem); }
                catch (IllegalArgumentException | NoClassDefFoundError notSm2) {
                    throw new IllegalArgumentException("not an RSA, X25519 or SM2 private key (PKCS#8 PEM)"
                        + (notSm2 instanceof NoClassDefFoundError ? "; SM2 keys need Bouncy Castle (libbcprov-java) on the class path" : ""),
                        notX25519);
                }
            }
        }
    }

    /**
     * A server public key of any type (SPEC 2): RSA, X25519 (6.5) or SM2 (6.6), by the SPKI
     * algorithm; an SM2 key may also be the armored {@code WXSEAL SM2 PUBLIC KEY} hex form.
     */
    public static PublicKey serverPublicKeyFromSpkiPem(String pem) {
        if (isSm2Text(pem, "PUBLIC")) return sm2OrExplain(() -> Sm.publicKeyFromPem(pem));
        try { return publicKeyFromSpkiPem(pem); }
        catch (IllegalArgumentException notRsa) {
            try { return Hpke.publicKeyFromSpkiPem(pem); }
            catch (IllegalArgumentException notX25519) {
                try { return Sm.publicKeyFromPem(pem); }
                catch (IllegalArgumentException | NoClassDefFoundError notSm2) {
                    throw new IllegalArgumentException("not an RSA, X25519 or SM2 public key (SPKI PEM)"
                        + (notSm2 instanceof NoClassDefFoundError ? "; SM2 keys need Bouncy Castle (libbcprov-java) on the class path" : ""),
                        notX25519);
                }
            }
        }
    }

    /** The SM2-only forms: the armored hex of SPEC 6.6, and (private) SEC1 EC PRIVATE KEY. */
    private static boolean isSm2Text(String pem, String which) {
        return pem.contains("-----BEGIN WXSEAL SM2 " + which + " KEY-----")
            || (which.equals("PRIVATE") && pem.contains("-----BEGIN EC PRIVATE KEY-----"));
    }

    private interface KeyReader<K> { K read(); }

    /** Runs an SM2 key reader; a missing Bouncy Castle is reported as such (SM2 keys need bcprov). */
    private static <K> K sm2OrExplain(KeyReader<K> r) {
        try { return r.read(); }
        catch (NoClassDefFoundError e) {
            throw new IllegalStateException("SM2 keys need Bouncy Castle (bcprov) on the class path "
                + "(Debian: apt-get install libbcprov-java, /usr/share/java/bcprov.jar)", e);
        }
    }

    /**
     * Step 2 of SPEC 6.2, by the type of the server key: RSA-OAEP-256, or the HPKE wrap of 6.5
     * (a fresh ephemeral key each time).
     */
    public static byte[] wrapSessionKey(PublicKey serverKey, byte[] sessionKey) {
        if (serverKey instanceof Sm2PublicKey) return Sm.wrap((Sm2PublicKey) serverKey, sessionKey);
        if (!Hpke.isX25519(serverKey)) return rsaOaepEncrypt(serverKey, sessionKey);
        try { return Hpke.wrap(serverKey, sessionKey); }
        catch (GeneralSecurityException e) { throw new IllegalStateException(e); }
    }

    /** Step 7 of SPEC 9, by the type of the server key; the exact wrapped length is wrappedLength. */
    public static byte[] unwrapSessionKey(PrivateKey serverKey, byte[] wrapped) throws GeneralSecurityException {
        if (serverKey instanceof Sm2PrivateKey) return Sm.unwrap((Sm2PrivateKey) serverKey, wrapped);
        return Hpke.isX25519(serverKey) ? Hpke.unwrap(serverKey, wrapped) : rsaOaepDecrypt(serverKey, wrapped);
    }

    /** The exact decoded length of a wrapped key for this server key: 80 (X25519), 113 (SM2) or the modulus length. */
    public static int wrappedLength(java.security.Key serverKey) {
        if (serverKey instanceof Sm2PrivateKey || serverKey instanceof Sm2PublicKey) return Sm.WRAPPED_BYTES;
        return Hpke.isX25519(serverKey) ? Hpke.WRAPPED_BYTES : modulusBytes(serverKey);
    }

    /** The reference naming of SPEC.md section 2: "sk-" + first 16 hex digits of SHA-256(DER SPKI). */
    public static String referenceServerKeyId(PublicKey pub) {
        return "sk-" + hex(sha256(pub.getEncoded())).substring(0, 16);
    }

    public static boolean constantTimeEquals(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    public static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) { System.arraycopy(p, 0, out, o, p.length); o += p.length; }
        return out;
    }

    public static byte[] slice(byte[] b, int from, int to) { return Arrays.copyOfRange(b, from, to); }
}
