package dev.wxseal;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link NonceStore} in Redis, over a minimal RESP2 client on a plain {@link Socket} (no
 * dependency). One connection, used under a lock; connect and read timeouts bound every call, and
 * any failure (refused, timed out, a Redis error reply) is {@link NonceStore.UnavailableException}:
 * the verifier answers {@code WXSEAL_NONCE_STORE_UNAVAILABLE} and never accepts a request unchecked.
 *
 * <p>The claim is {@code SET <prefix>{e}:<key id>:<nonce> 1 EX <ttl> NX}, run inside a short Lua
 * script that first checks an epoch key {@code <prefix>{e}:epoch} ({@code <random id>:<start ms>}),
 * so that a loss of the records (SPEC 8.1: a restart without persistence, a flush, a failover) is
 * detected: a missing epoch is re-created with start = now, a reconnect starts a new epoch, and an
 * epoch this instance did not expect is adopted; requests signed at or before the newest epoch
 * start (plus {@code marginSeconds}) are then refused with {@code WXSEAL_NONCE_STORE_RESET}.
 * Simplification against the reference store: one epoch key for the whole prefix instead of 16
 * buckets (all keys share one hash slot through the {@code {e}} tag, so it also runs on a Cluster,
 * on one shard). The key layout is this library's own; it is not shared with the Node reference store.
 */
public final class RedisNonceStore implements NonceStore, AutoCloseable {

    private static final String SCRIPT =
        "local e = redis.call('GET', KEYS[1])\n"
        + "if not e then redis.call('SET', KEYS[1], ARGV[3]) return {'EPOCH', ARGV[3]} end\n"
        + "if e ~= ARGV[1] then return {'EPOCH', e} end\n"
        + "if redis.call('SET', KEYS[2], '1', 'EX', ARGV[2], 'NX') then return {'OK', e} end\n"
        + "return {'DUP', e}\n";

    private final String host;
    private final int port;
    private final String prefix;
    private final int connectTimeoutMs, readTimeoutMs;
    private final long marginSeconds;
    private final String password; // null: no AUTH

    private Socket socket;
    private InputStream in;
    private OutputStream out;
    private boolean everConnected;
    private String expectedEpoch = "";
    private long lossMs = Long.MIN_VALUE; // newest epoch start known (Unix ms)

    /** 127.0.0.1:6379-style store with the default prefix {@code wxseal:nonce:} and 1 s timeouts. */
    public RedisNonceStore(String host, int port) { this(host, port, "wxseal:nonce:", 1000, 1000, 0, null); }

    public RedisNonceStore(String host, int port, String prefix, int connectTimeoutMs, int readTimeoutMs,
                           long marginSeconds, String password) {
        if (prefix == null || prefix.indexOf('{') >= 0 || prefix.indexOf('}') >= 0)
            throw new IllegalArgumentException("prefix must not contain braces");
        this.host = host;
        this.port = port;
        this.prefix = prefix;
        this.connectTimeoutMs = connectTimeoutMs;
        this.readTimeoutMs = readTimeoutMs;
        this.marginSeconds = marginSeconds;
        this.password = password;
    }

    public String prefix() { return prefix; }

    String epochKey() { return prefix + "{e}:epoch"; }

    String nonceKey(String keyId, String nonce) { return prefix + "{e}:" + keyId + ":" + nonce; }

    @Override
    public synchronized Claim claim(String keyId, String nonce, long timestamp, long expiresAt, long now)
            throws UnavailableException {
        try {
            ensureConnected();
            if (refusedByLoss(timestamp)) return Claim.RESET;
            long ttl = Math.max(1, expiresAt - now + 1);
            for (int attempt = 0; attempt < 3; attempt++) {
                String fresh = newEpoch();
                Object r = command("EVAL", SCRIPT, "2", epochKey(), nonceKey(keyId, nonce), expectedEpoch,
                    Long.toString(ttl), fresh);
                if (!(r instanceof List) || ((List<?>) r).size() != 2)
                    throw new IOException("unexpected script reply " + r);
                String tag = (String) ((List<?>) r).get(0), epoch = (String) ((List<?>) r).get(1);
                if (tag.equals("OK")) return Claim.CLAIMED;
                if (tag.equals("DUP")) return Claim.REPLAYED;
                adopt(epoch); // a loss (missing epoch re-created) or another instance's new epoch
                if (refusedByLoss(timestamp)) return Claim.RESET;
            }
            throw new IOException("the epoch keeps changing");
        } catch (IOException | RuntimeException e) {
            closeQuietly();
            throw new UnavailableException("redis " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    private boolean refusedByLoss(long timestamp) {
        return lossMs != Long.MIN_VALUE && timestamp <= Math.floorDiv(lossMs, 1000) + marginSeconds;
    }

    private void adopt(String epoch) {
        expectedEpoch = epoch;
        int colon = epoch.lastIndexOf(':');
        long start;
        try { start = Long.parseLong(epoch.substring(colon + 1)); }
        catch (RuntimeException e) { start = System.currentTimeMillis(); } // unreadable: assume a loss now
        if (start > lossMs) lossMs = start;
    }

    private static String newEpoch() {
        return B64u.encode(Crypto.random(9)) + ":" + System.currentTimeMillis();
    }

    private void ensureConnected() throws IOException {
        if (socket != null) return;
        Socket s = new Socket();
        try {
            s.connect(new InetSocketAddress(host, port), connectTimeoutMs);
            s.setSoTimeout(readTimeoutMs);
            s.setTcpNoDelay(true);
            socket = s;
            in = new BufferedInputStream(s.getInputStream());
            out = s.getOutputStream();
            if (password != null) command("AUTH", password);
            if (!everConnected) {
                // first connection: take the current epoch (or start one if the store is empty)
                command("SET", epochKey(), newEpoch(), "NX");
                Object e = command("GET", epochKey());
                if (!(e instanceof String)) throw new IOException("no epoch");
                adopt((String) e);
                everConnected = true;
            } else {
                // a reconnect may be a failover to a replica that missed writes: start a new epoch (8.1)
                String e = newEpoch();
                command("SET", epochKey(), e);
                adopt(e);
            }
        } catch (IOException | RuntimeException e) {
            socket = null;
            try { s.close(); } catch (IOException ignored) { /* closing */ }
            throw e;
        }
    }

    private void closeQuietly() {
        if (socket != null) {
            try { socket.close(); } catch (IOException ignored) { /* closing */ }
        }
        socket = null;
        in = null;
        out = null;
    }

    @Override
    public synchronized void close() { closeQuietly(); }

    // ---------------------------------------------------------------- RESP2

    /** Send one command and read its reply: String (simple or bulk), Long, List, or null. */
    synchronized Object command(String... args) throws IOException {
        if (socket == null) ensureConnected();
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(('*' + Integer.toString(args.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (String a : args) {
            byte[] v = a.getBytes(StandardCharsets.UTF_8);
            b.write(('$' + Integer.toString(v.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            b.write(v);
            b.write('\r');
            b.write('\n');
        }
        out.write(b.toByteArray());
        out.flush();
        return readReply();
    }

    private Object readReply() throws IOException {
        int type = in.read();
        if (type < 0) throw new EOFException("connection closed");
        String line = readLine();
        switch (type) {
            case '+': return line;
            case '-': throw new IOException("redis error: " + line);
            case ':': return Long.parseLong(line);
            case '$': {
                int n = Integer.parseInt(line);
                if (n < 0) return null;
                byte[] v = in.readNBytes(n);
                if (v.length != n) throw new EOFException("short bulk string");
                if (in.read() != '\r' || in.read() != '\n') throw new IOException("bad bulk string end");
                return new String(v, StandardCharsets.UTF_8);
            }
            case '*': {
                int n = Integer.parseInt(line);
                if (n < 0) return null;
                List<Object> l = new ArrayList<>(n);
                for (int k = 0; k < n; k++) l.add(readReply());
                return l;
            }
            default: throw new IOException("unknown RESP type " + (char) type);
        }
    }

    private String readLine() throws IOException {
        StringBuilder s = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) throw new EOFException("connection closed");
            if (c == '\r') {
                if (in.read() != '\n') throw new IOException("bad line end");
                return s.toString();
            }
            if (s.length() > 1 << 20) throw new IOException("line too long");
            s.append((char) c);
        }
    }
}
