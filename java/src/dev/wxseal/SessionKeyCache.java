package dev.wxseal;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The optional server-side cache of unwrapped session keys of SPEC 14: bounded in size and idle
 * time, indexed by SHA-256(UTF-8(key id || LF || server key id || LF) || wrapped key bytes). The
 * verifier consults it only at step 7 (after the HMAC and the nonce: forged or replayed requests can
 * neither read nor fill it) and adds an entry only after the request decrypted at step 8.
 */
final class SessionKeyCache {
    private static final class Entry {
        final byte[] key;
        long lastUsedMs;
        Entry(byte[] key, long now) { this.key = key; this.lastUsedMs = now; }
    }

    private final int maxEntries;
    private final long idleMs;
    private final LinkedHashMap<String, Entry> lru = new LinkedHashMap<>(16, 0.75f, true);

    SessionKeyCache(int maxEntries, long idleSeconds) {
        if (maxEntries < 1 || idleSeconds < 1) throw new IllegalArgumentException("cache size and idle time must be positive");
        this.maxEntries = maxEntries;
        this.idleMs = idleSeconds * 1000;
    }

    static String index(String keyId, String serverKeyId, byte[] wrapped) {
        return Crypto.hex(Crypto.sha256(Crypto.concat(Crypto.utf8(keyId + "\n" + serverKeyId + "\n"), wrapped)));
    }

    synchronized byte[] get(String index) {
        long now = System.currentTimeMillis();
        Entry e = lru.get(index);
        if (e == null) return null;
        if (now - e.lastUsedMs > idleMs) { lru.remove(index); return null; }
        e.lastUsedMs = now;
        return e.key;
    }

    synchronized void put(String index, byte[] key) {
        long now = System.currentTimeMillis();
        lru.put(index, new Entry(key, now));
        for (Iterator<Map.Entry<String, Entry>> it = lru.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Entry> e = it.next();
            if (lru.size() > maxEntries || now - e.getValue().lastUsedMs > idleMs) it.remove();
            else break; // access order: the rest are younger
        }
    }

    synchronized int size() { return lru.size(); }
}
