package dev.wxseal.test;

import dev.wxseal.Crypto;
import dev.wxseal.Sm;
import dev.wxseal.Sm2PrivateKey;
import dev.wxseal.Sm2PublicKey;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;

/**
 * The SM primitives of the library (dev.wxseal.Sm) on files, for the cross-checks against the
 * OpenSSL CLI in tests/e2e/java-library.test.ts. OpenSSL's SM2 ciphertext is the ASN.1 DER
 * SM2Cipher of GB/T 35276 (SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 });
 * wxseal's wire form is the raw C1 (04 || x || y) || C3 || C2 (SPEC 6.6): this tool converts both ways.
 *
 *   SmTool sm2-decrypt-der  KEY.pem CIPHER.der       -> {"raw":"<hex C1C3C2>","plaintext":"<hex>","publicKeyPem":"..."}
 *   SmTool sm2-encrypt-der  PUB.pem PLAINHEX OUT.der  -> writes OUT.der (DER SM2Cipher of a fresh wrap)
 *   SmTool sm3              FILE                      -> hex(SM3(file))
 *   SmTool hmac-sm3         KEYHEX FILE               -> hex(HMAC-SM3(key, file))
 *   SmTool hkdf-sm3         IKMHEX SALTHEX INFO LEN   -> hex(HKDF-SM3)
 *   SmTool server-key-id    PUB.pem                   -> sk-... (SPEC 2 naming)
 */
public final class SmTool {
    private SmTool() {}

    public static void main(String[] a) throws Exception {
        switch (a.length > 0 ? a[0] : "") {
            case "sm2-decrypt-der": {
                Sm2PrivateKey k = Sm.privateKeyFromPem(Files.readString(Path.of(a[1]), StandardCharsets.UTF_8));
                byte[] raw = derToRaw(Files.readAllBytes(Path.of(a[2])));
                byte[] pt = Sm.sm2Decrypt(k, raw);
                System.out.println("{\"raw\":\"" + Crypto.hex(raw) + "\",\"plaintext\":\"" + Crypto.hex(pt) + "\",\"publicKeyHex\":\""
                    + Crypto.hex(k.publicKey().point()) + "\"}");
                break;
            }
            case "sm2-encrypt-der": {
                Sm2PublicKey pk = Sm.publicKeyFromPem(Files.readString(Path.of(a[1]), StandardCharsets.UTF_8));
                byte[] raw = Sm.sm2Encrypt(pk, hex(a[2]));
                Files.write(Path.of(a[3]), rawToDer(raw));
                System.out.println(Crypto.hex(raw));
                break;
            }
            case "sm3":
                System.out.println(Crypto.hex(Sm.sm3(Files.readAllBytes(Path.of(a[1])))));
                break;
            case "hmac-sm3":
                System.out.println(Crypto.hex(Sm.hmacSm3(hex(a[1]), Files.readAllBytes(Path.of(a[2])))));
                break;
            case "hkdf-sm3":
                System.out.println(Crypto.hex(Sm.hkdfSm3(hex(a[1]), hex(a[2]), Crypto.utf8(a[3]), Integer.parseInt(a[4]))));
                break;
            case "server-key-id":
                System.out.println(Crypto.referenceServerKeyId(Crypto.serverPublicKeyFromSpkiPem(Files.readString(Path.of(a[1]), StandardCharsets.UTF_8))));
                break;
            default:
                System.err.println("usage: SmTool sm2-decrypt-der|sm2-encrypt-der|sm3|hmac-sm3|hkdf-sm3|server-key-id ...");
                System.exit(2);
        }
    }

    /** DER SM2Cipher (x, y, C3, C2) -> 04 || x || y || C3 || C2. */
    static byte[] derToRaw(byte[] der) {
        ASN1Sequence s = ASN1Sequence.getInstance(fromDer(der));
        if (s.size() != 4) throw new IllegalArgumentException("SM2Cipher has 4 members");
        byte[] x = fixed32(ASN1Integer.getInstance(s.getObjectAt(0)).getPositiveValue());
        byte[] y = fixed32(ASN1Integer.getInstance(s.getObjectAt(1)).getPositiveValue());
        byte[] c3 = ASN1OctetString.getInstance(s.getObjectAt(2)).getOctets();
        byte[] c2 = ASN1OctetString.getInstance(s.getObjectAt(3)).getOctets();
        return Crypto.concat(new byte[] {4}, x, y, c3, c2);
    }

    private static ASN1Primitive fromDer(byte[] der) {
        try { return ASN1Primitive.fromByteArray(der); }
        catch (java.io.IOException e) { throw new IllegalArgumentException("not DER", e); }
    }

    /** 04 || x || y || C3 (32) || C2 -> DER SM2Cipher. */
    static byte[] rawToDer(byte[] raw) throws java.io.IOException {
        if (raw[0] != 4) throw new IllegalArgumentException("C1 is not uncompressed");
        return new DERSequence(new org.bouncycastle.asn1.ASN1Encodable[] {
            new ASN1Integer(new BigInteger(1, Arrays.copyOfRange(raw, 1, 33))),
            new ASN1Integer(new BigInteger(1, Arrays.copyOfRange(raw, 33, 65))),
            new DEROctetString(Arrays.copyOfRange(raw, 65, 97)),
            new DEROctetString(Arrays.copyOfRange(raw, 97, raw.length)),
        }).getEncoded("DER");
    }

    private static byte[] fixed32(BigInteger v) {
        byte[] b = v.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(b.length, 32);
        System.arraycopy(b, b.length - n, out, 32 - n, n);
        if (b.length > 33 || (b.length == 33 && b[0] != 0)) throw new IllegalArgumentException("coordinate longer than 32 bytes");
        return out;
    }

    private static byte[] hex(String h) {
        byte[] out = new byte[h.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return out;
    }
}
