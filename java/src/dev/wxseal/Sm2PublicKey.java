package dev.wxseal;

import java.security.PublicKey;

/**
 * An SM2 public key (curve sm2p256v1, SPEC.md 6.6): the point 04 || x || y. Its encoding is the SPKI
 * DER of 6.6 (id-ecPublicKey with the curve OID 1.2.156.10197.1.301), so
 * {@link Crypto#referenceServerKeyId} names it as it names the other types. Read one with
 * {@link Sm#publicKeyFromPem} (or {@link Crypto#serverPublicKeyFromSpkiPem}); a client given one
 * uses the SM suite.
 */
public final class Sm2PublicKey implements PublicKey {
    private static final long serialVersionUID = 1L;
    private final byte[] point;

    /** From the 65-byte uncompressed point; throws IllegalArgumentException when it is not a point of the curve. */
    public Sm2PublicKey(byte[] point) {
        Sm.checkPoint(point);
        this.point = point.clone();
    }

    /** The 65-byte uncompressed point 04 || x || y. */
    public byte[] point() { return point.clone(); }

    @Override public String getAlgorithm() { return "SM2"; }
    @Override public String getFormat() { return "X.509"; }
    /** DER of the SubjectPublicKeyInfo (SPEC 6.6). */
    @Override public byte[] getEncoded() { return Crypto.concat(Sm.SPKI_PREFIX, point); }
}
