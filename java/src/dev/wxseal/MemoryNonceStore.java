package dev.wxseal;

import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * An in-process {@link NonceStore}: bounded (at most {@code capacity} live records; a full store
 * answers {@link Claim#FULL} rather than forget a nonce still inside its window) and expiring
 * (records are dropped once their expiry has passed). A process restart loses it: a fleet of
 * servers shares a {@link RedisNonceStore} instead.
 */
public final class MemoryNonceStore implements NonceStore {
    private static final class Entry {
        final String key;
        final long expiresAt;
        Entry(String key, long expiresAt) { this.key = key; this.expiresAt = expiresAt; }
    }

    private final int capacity;
    private final Map<String, Long> seen = new HashMap<>();
    private final PriorityQueue<Entry> byExpiry = new PriorityQueue<>((a, b) -> Long.compare(a.expiresAt, b.expiresAt));

    public MemoryNonceStore() { this(1_000_000); }

    public MemoryNonceStore(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("capacity must be at least 1");
        this.capacity = capacity;
    }

    @Override
    public synchronized Claim claim(String keyId, String nonce, long timestamp, long expiresAt, long now) {
        // drop what expired (strictly before now: a record is kept until expiresAt inclusive)
        while (!byExpiry.isEmpty() && byExpiry.peek().expiresAt < now) {
            Entry e = byExpiry.poll();
            Long cur = seen.get(e.key);
            if (cur != null && cur == e.expiresAt) seen.remove(e.key);
        }
        String k = keyId + "\n" + nonce;
        if (seen.containsKey(k)) return Claim.REPLAYED;
        if (seen.size() >= capacity) return Claim.FULL;
        seen.put(k, expiresAt);
        byExpiry.add(new Entry(k, expiresAt));
        return Claim.CLAIMED;
    }

    /** The number of live records. */
    public synchronized int size() { return seen.size(); }
}
