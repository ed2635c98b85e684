// MemoryNonceStore: atomic check-and-set, bounded, refuses when full of live nonces, evicts expired
// ones — all on an injected clock, no real waiting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isWxsealError } from '@wxseal/protocol';
import { MemoryNonceStore } from '@wxseal/server';
import { generateServerKey, makeFixture } from './helpers.js';

const rec = (nonce: string, expiresAt: number, now: number, keyId = 'k') => ({ keyId, nonce, expiresAt, now, timestamp: now });

describe('MemoryNonceStore', () => {
  test('a pair is accepted once; the same nonce under another key id is another pair', async () => {
    const store = new MemoryNonceStore();
    assert.equal(await store.checkAndSet(rec('n1', 160, 100)), true);
    assert.equal(await store.checkAndSet(rec('n1', 160, 100)), false);
    assert.equal(await store.checkAndSet(rec('n1', 160, 100, 'other')), true);
  });

  test('concurrent check-and-set of one pair lets exactly one through', async () => {
    const store = new MemoryNonceStore();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.checkAndSet(rec('same', 160, 100))));
    assert.equal(results.filter((r) => r).length, 1);
  });

  test('a nonce is remembered through second t + W inclusive, forgotten after', async () => {
    const store = new MemoryNonceStore();
    await store.checkAndSet(rec('n', 160, 100));
    assert.equal(await store.checkAndSet(rec('n', 160, 160)), false, 'still inside the window at t + W');
    assert.equal(await store.checkAndSet(rec('n', 221, 161)), true, 'expired entries are gone after t + W');
  });

  test('full of live nonces: refuses with WXSEAL_NONCE_STORE_FULL, accepts again once they expire', async () => {
    const store = new MemoryNonceStore({ maxEntries: 3 });
    for (const n of ['a', 'b', 'c']) assert.equal(await store.checkAndSet(rec(n, 160, 100)), true);
    await assert.rejects(store.checkAndSet(rec('d', 160, 100)), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_FULL'));
    // A replay of a remembered nonce is still recognised as such while full.
    assert.equal(await store.checkAndSet(rec('a', 160, 150)), false);
    await assert.rejects(store.checkAndSet(rec('d', 210, 150)), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_FULL'));
    assert.equal(store.size, 3, 'nothing live was forgotten');
    assert.equal(await store.checkAndSet(rec('d', 221, 161)), true, 'room again after expiry');
    assert.equal(store.size, 1, 'all three expired entries were evicted');
  });

  test('eviction follows expiry order, whatever the insertion order', async () => {
    const store = new MemoryNonceStore({ maxEntries: 3 });
    await store.checkAndSet(rec('late', 300, 100));
    await store.checkAndSet(rec('early', 120, 100));
    await store.checkAndSet(rec('mid', 200, 100));
    assert.equal(await store.checkAndSet(rec('x', 400, 121)), true, 'only "early" expired, and it made room');
    await assert.rejects(store.checkAndSet(rec('y', 400, 121)), (e) => isWxsealError(e, 'WXSEAL_NONCE_STORE_FULL'));
    assert.equal(await store.checkAndSet(rec('late', 300, 250)), false, '"late" is still remembered');
    assert.equal(await store.checkAndSet(rec('mid', 300, 201)), true, '"mid" expired at 200');
  });

  test('behaves like a naive model over random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ nonce: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), ttl: fc.integer({ min: 0, max: 20 }), advance: fc.integer({ min: 0, max: 8 }) }), {
          maxLength: 80,
        }),
        async (ops) => {
          const max = 4;
          const store = new MemoryNonceStore({ maxEntries: max });
          const model = new Map<string, number>();
          let now = 1000;
          for (const op of ops) {
            now += op.advance;
            for (const [k, exp] of model) if (exp < now) model.delete(k);
            let expected: boolean | 'full';
            if (model.has(op.nonce)) expected = false;
            else if (model.size >= max) expected = 'full';
            else {
              expected = true;
              model.set(op.nonce, now + op.ttl);
            }
            const actual = await store.checkAndSet(rec(op.nonce, now + op.ttl, now)).catch((e: unknown) => {
              assert.ok(isWxsealError(e, 'WXSEAL_NONCE_STORE_FULL'));
              return 'full' as const;
            });
            assert.equal(actual, expected);
            assert.equal(store.size, model.size);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('through a verifier with an injected clock: 503 when full, accepted once the window passed', async () => {
    let now = 1_800_000_000;
    const store = new MemoryNonceStore({ maxEntries: 2 });
    const fx = makeFixture(generateServerKey(), { nonceStore: store, now: () => now });
    const send = async () => {
      const built = fx.build({ mode: 'signed', target: '/x', timestamp: now });
      try {
        await fx.verifier.verify({ method: 'POST', target: '/x', headers: built.headers, body: built.body });
        return 'accepted';
      } catch (err) {
        return fx.verifier.rejection(err).status + ' ' + (isWxsealError(err) ? err.code : String(err));
      }
    };
    assert.equal(await send(), 'accepted');
    assert.equal(await send(), 'accepted');
    assert.equal(await send(), '503 WXSEAL_NONCE_STORE_FULL');
    now += 60;
    assert.equal(await send(), '503 WXSEAL_NONCE_STORE_FULL', 'still inside t + W');
    now += 1;
    assert.equal(await send(), 'accepted');
  });

  test('rejects a bad bound', () => {
    assert.throws(() => new MemoryNonceStore({ maxEntries: 0 }), (e) => isWxsealError(e, 'WXSEAL_CONFIG_INVALID'));
  });
});
