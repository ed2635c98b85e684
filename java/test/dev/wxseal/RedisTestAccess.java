package dev.wxseal;

import java.io.IOException;

/** Test access to the RESP client and key names of {@link RedisNonceStore} (same package). */
public final class RedisTestAccess {
    private RedisTestAccess() {}

    public static Object command(RedisNonceStore s, String... args) throws IOException { return s.command(args); }

    public static String epochKey(RedisNonceStore s) { return s.epochKey(); }

    public static String nonceKey(RedisNonceStore s, String keyId, String nonce) { return s.nonceKey(keyId, nonce); }
}
