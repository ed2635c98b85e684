package dev.wxseal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** An in-memory {@link CredentialStore}; safe to change while verifying (rotation, revocation). */
public final class MemoryCredentialStore implements CredentialStore {
    private final Map<String, Credential> byKeyId = new ConcurrentHashMap<>();

    /** Set the secrets of a key id (replacing any), not revoked. */
    public MemoryCredentialStore put(String keyId, Secret... secrets) {
        byKeyId.put(checkKeyId(keyId), new Credential(List.of(secrets), false));
        return this;
    }

    /** Set a key id with raw secrets without validity bounds. */
    public MemoryCredentialStore put(String keyId, byte[]... secrets) {
        List<Secret> l = new ArrayList<>();
        for (byte[] s : secrets) l.add(new Secret(s));
        byKeyId.put(checkKeyId(keyId), new Credential(l, false));
        return this;
    }

    public MemoryCredentialStore revoke(String keyId) {
        Credential c = byKeyId.get(keyId);
        byKeyId.put(checkKeyId(keyId), new Credential(c == null ? List.of() : c.secrets(), true));
        return this;
    }

    public MemoryCredentialStore remove(String keyId) { byKeyId.remove(keyId); return this; }

    @Override
    public Credential lookup(String keyId) { return byKeyId.get(keyId); }

    private static String checkKeyId(String keyId) {
        if (!Verifier.isKeyId(keyId)) throw new IllegalArgumentException("not a key id (SPEC 2): " + keyId);
        return keyId;
    }
}
