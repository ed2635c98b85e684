import type { ServerPublicKey } from '@wxseal/protocol';
import { generateSessionKey, generateSmSessionKey, wrapSessionKey, wrapSmSessionKey } from '@wxseal/protocol/primitives';

export interface SessionKeyReuseOptions {
  /** Longest time one wrapped session key is used, in ms (default 300 000, at most 3 600 000). */
  maxAgeMs?: number;
  /** Most requests sealed under one session key (default 10 000, at most 2^20). */
  maxMessages?: number;
}

/** Hard caps: 2^20 random 96-bit IVs under one key keep the collision chance below 2^-57. */
export const SESSION_KEY_REUSE_LIMITS = { maxAgeMs: 3_600_000, maxMessages: 1_048_576 } as const;

interface Current {
  serverKeyId: string;
  sessionKey: Buffer;
  wrappedKey: Buffer;
  createdAtMs: number;
  uses: number;
}

/**
 * Opt-in reuse of one wrapped session key across requests (SPEC.md section 14), in the spirit of
 * the AWS Encryption SDK's data-key caching: the wrap (client) and unwrap (server), RSA or X25519, are paid
 * once per key instead of once per request. Every request still gets a fresh IV, nonce and
 * signature; responses still get a fresh key from HKDF with a fresh response nonce.
 */
export class SessionKeyReuse {
  #current: Current | undefined;

  constructor(readonly maxAgeMs: number, readonly maxMessages: number) {}

  /** The key and wrapped key for the next request, renewing them when a bound is reached. */
  next(serverKey: ServerPublicKey, nowMs: number): { sessionKey: Buffer; wrappedKey: Buffer } {
    let c = this.#current;
    if (!c || c.serverKeyId !== serverKey.id || c.uses >= this.maxMessages || nowMs - c.createdAtMs >= this.maxAgeMs || nowMs < c.createdAtMs) {
      // The SM suite (SPEC.md 6.6) has a 16-byte K wrapped with SM2; the others a 32-byte K.
      const sm2 = serverKey.sm2;
      const sessionKey = sm2 ? generateSmSessionKey() : generateSessionKey();
      const wrappedKey = sm2 ? wrapSmSessionKey(sm2.primitives, sm2.publicKeyHex, sessionKey) : wrapSessionKey(serverKey.publicKey, sessionKey);
      c = { serverKeyId: serverKey.id, sessionKey, wrappedKey, createdAtMs: nowMs, uses: 0 };
      this.#current = c;
    }
    c.uses++;
    return { sessionKey: c.sessionKey, wrappedKey: c.wrappedKey };
  }

  /** Forget the key, e.g. when the server could not unwrap it or no longer knows its server key. */
  drop(): void {
    this.#current = undefined;
  }
}
