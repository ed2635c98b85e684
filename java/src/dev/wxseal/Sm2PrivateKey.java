package dev.wxseal;

import java.security.PrivateKey;

/**
 * An SM2 private key (curve sm2p256v1, SPEC.md 6.6): the 32-byte scalar and its public point. Read
 * one with {@link Sm#privateKeyFromPem} (PKCS#8, SEC1 or the armored hex form; also through
 * {@link Crypto#serverPrivateKeyFromPkcs8Pem}); a verifier holding one under a server key id
 * answers requests naming that id with the SM suite.
 */
public final class Sm2PrivateKey implements PrivateKey {
    private static final long serialVersionUID = 1L;
    private final byte[] scalar;
    private final Sm2PublicKey publicKey;

    /** From the 32-byte big-endian scalar, which must be in [1, n - 2]. */
    public Sm2PrivateKey(byte[] scalar) {
        if (scalar.length != 32) throw new IllegalArgumentException("an SM2 private key is 32 bytes");
        this.scalar = scalar.clone();
        this.publicKey = new Sm2PublicKey(Sm.publicPointOf(this.scalar));
    }

    byte[] scalar() { return scalar; }

    /** The matching public key. */
    public Sm2PublicKey publicKey() { return publicKey; }

    @Override public String getAlgorithm() { return "SM2"; }
    @Override public String getFormat() { return "PKCS#8"; }
    /** PKCS#8 DER as OpenSSL writes it (id-ecPublicKey, curve sm2p256v1, with the public key). */
    @Override public byte[] getEncoded() { return Sm.pkcs8Der(this); }
}
