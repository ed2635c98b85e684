/**
 * Feature detection for scenario (f), by behaviour, never by crashing: the session-key cache is
 * "available" when the client really reuses a wrapped key when asked (`sessionKeyReuse`) and the
 * verifier really holds a cache when given `sessionKeyCache`.
 */
import { MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier, type VerifierOptions } from '@wxseal/server';
import type { BenchKeys } from './keys.js';
import { captureClientRequests, distinctHeaderValues } from './loadgen/pool.js';

/** The client options of scenario (f): the client's defaults, spelled out. */
export const SESSION_KEY_REUSE_OPTIONS = { sessionKeyReuse: { maxAgeMs: 300_000, maxMessages: 10_000 } } as const;

export interface FeatureCheck {
  available: boolean;
  /** Why not, or what was seen. */
  detail: string;
}

export async function detectSessionKeyCache(keys: BenchKeys): Promise<FeatureCheck> {
  // Server: does the verifier keep a cache when asked to?
  try {
    const options: VerifierOptions & Record<string, unknown> = {
      keys: new StaticKeyResolver([{ keyId: keys.keyId, secrets: [{ secret: keys.secret }] }]),
      serverKeys: new ServerKeyRing([{ id: keys.serverKeyId, privateKey: keys.privateKeyPem }]),
      nonceStore: new MemoryNonceStore(),
      sessionKeyCache: { maxEntries: 10_000, ttlSeconds: 300 },
    };
    const verifier = createVerifier(options) as unknown as { sessionKeyCache?: unknown };
    if (verifier.sessionKeyCache === undefined || verifier.sessionKeyCache === null) {
      return { available: false, detail: 'the verifier has no `sessionKeyCache` option yet' };
    }
  } catch (err) {
    return { available: false, detail: `the verifier refuses the \`sessionKeyCache\` option (${(err as Error).message})` };
  }
  // Client: do requests share a wrapped key when `sessionKeyReuse` is on?
  try {
    const sample = await captureClientRequests({ keys, count: 4, extraClientOptions: SESSION_KEY_REUSE_OPTIONS, concurrency: 1 });
    const distinct = distinctHeaderValues(sample, 'wxseal-wrapped-key');
    if (distinct !== 1) return { available: false, detail: `the client has no \`sessionKeyReuse\` option yet (4 requests carried ${distinct} different wrapped keys)` };
  } catch (err) {
    return { available: false, detail: `the client refuses the \`sessionKeyReuse\` option (${(err as Error).message})` };
  }
  return { available: true, detail: 'client `sessionKeyReuse` and verifier `sessionKeyCache` both present' };
}
