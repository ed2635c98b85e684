package dev.wxseal;

/** base64url without padding, with the strict decoding rules of SPEC.md section 1. */
public final class B64u {
    private static final char[] ALPHABET =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".toCharArray();
    private static final int[] REV = new int[128];
    static {
        java.util.Arrays.fill(REV, -1);
        for (int k = 0; k < ALPHABET.length; k++) REV[ALPHABET[k]] = k;
    }

    private B64u() {}

    public static final class MalformedException extends Exception {
        private static final long serialVersionUID = 1L;
        MalformedException(String m) { super(m); }
    }

    public static boolean isAlphabet(String s) {
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            if (c >= 128 || REV[c] < 0) return false;
        }
        return true;
    }

    public static String encode(byte[] b) {
        StringBuilder o = new StringBuilder((b.length * 4 + 2) / 3);
        int k = 0;
        for (; k + 3 <= b.length; k += 3) {
            int n = ((b[k] & 0xff) << 16) | ((b[k + 1] & 0xff) << 8) | (b[k + 2] & 0xff);
            o.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63])
             .append(ALPHABET[(n >>> 6) & 63]).append(ALPHABET[n & 63]);
        }
        int rest = b.length - k;
        if (rest == 1) {
            int n = (b[k] & 0xff) << 16;
            o.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63]);
        } else if (rest == 2) {
            int n = ((b[k] & 0xff) << 16) | ((b[k + 1] & 0xff) << 8);
            o.append(ALPHABET[n >>> 18]).append(ALPHABET[(n >>> 12) & 63]).append(ALPHABET[(n >>> 6) & 63]);
        }
        return o.toString();
    }

    /** Strict decode: no padding, alphabet only, length not 1 mod 4, canonical (unused bits zero). */
    public static byte[] decode(String s) throws MalformedException {
        if (!isAlphabet(s)) throw new MalformedException("character outside the b64u alphabet");
        if (s.length() % 4 == 1) throw new MalformedException("length is 1 modulo 4");
        int full = s.length() / 4, rest = s.length() % 4;
        byte[] out = new byte[full * 3 + (rest == 0 ? 0 : rest - 1)];
        int o = 0, k = 0;
        for (int g = 0; g < full; g++, k += 4) {
            int n = (REV[s.charAt(k)] << 18) | (REV[s.charAt(k + 1)] << 12) | (REV[s.charAt(k + 2)] << 6) | REV[s.charAt(k + 3)];
            out[o++] = (byte) (n >>> 16); out[o++] = (byte) (n >>> 8); out[o++] = (byte) n;
        }
        if (rest == 2) {
            int n = (REV[s.charAt(k)] << 18) | (REV[s.charAt(k + 1)] << 12);
            out[o++] = (byte) (n >>> 16);
        } else if (rest == 3) {
            int n = (REV[s.charAt(k)] << 18) | (REV[s.charAt(k + 1)] << 12) | (REV[s.charAt(k + 2)] << 6);
            out[o++] = (byte) (n >>> 16); out[o++] = (byte) (n >>> 8);
        }
        if (!encode(out).equals(s)) throw new MalformedException("non-canonical encoding (unused bits set)");
        return out;
    }

    /** Decode a value the caller knows to be well formed (vector inputs). */
    public static byte[] d(String s) {
        try { return decode(s); } catch (MalformedException e) { throw new IllegalArgumentException("bad b64u in vector: " + s, e); }
    }
}
