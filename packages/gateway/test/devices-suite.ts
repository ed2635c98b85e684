// The gateway's device behaviour suite (SPEC.md section 15), run against each database by
// devices-sqlite/postgres/mariadb.test.ts: three in-process gateways share one database and the
// real Redis at 127.0.0.1:6379 (unique prefix per run); a device activates through the endpoint,
// signs requests with its delivered key, rotates, is revoked. The suites FAIL (never skip) when
// a service is unreachable.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  DEVICE_ACTIVATION_PATH,
  DEVICE_ROTATION_PATH,
  buildActivationRequest,
  buildRequest,
  deviceRequestSpec,
  openActivationResponse,
  openDeviceKey,
  type HeaderGetter,
} from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { MasterKeyRing } from '@wxseal/devices';
import { createClient, isWxsealError, type WxsealClient } from '@wxseal/client';
import { loadGatewayConfig, startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, plainRequest, startUpstream, type Upstream } from '../../../tests/support/gateway.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Fails with a clear message (never skips) when the shared Redis is not there. */
export async function requireRedis(): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    assert.equal(await r.ping(), 'PONG');
  } catch (err) {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (${(err as Error).message}). Start it with \`npm run services\`; the gateway device tests fail rather than skip.`);
  } finally {
    r.disconnect();
  }
}

export interface SuiteDatabase {
  /** Creates what the run needs (fails clearly when the server is down) and returns its URL. */
  open(): Promise<string>;
  cleanup(): Promise<void>;
}

const headerOf =
  (headers: Record<string, string | string[] | undefined>): HeaderGetter =>
  (name) =>
    headers[name.toLowerCase()];

/** Polls until `check` holds; fails past `limitMs`; returns the time it took. */
async function within(limitMs: number, check: () => Promise<boolean>, what: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function defineDeviceSuite(name: string, database: SuiteDatabase): void {
  describe(`gateway devices on ${name}`, () => {
    const keys = makeKeys(`bff-dev-${randomBytes(3).toString('hex')}`);
    const prefix = `wxseal-test:gw-devkey:${randomUUID()}:`;
    const productId = `lamp-${randomBytes(3).toString('hex')}`;
    const serial = `SN-${randomBytes(4).toString('hex')}`;
    const GRACE = 60;
    let offsetMs = 0;
    // One clock for the gateways and the device: advancing it walks past a grace period at once.
    const now = (): number => Date.now() + offsetMs;
    const gws: RunningGateway[] = [];
    const clients: WxsealClient[] = [];
    let upstream: Upstream;
    let productSecret: Buffer;
    let deviceKey: Buffer;
    let rotatedKey: Buffer;
    let redis: Redis | undefined;

    const device = (key: Buffer, gw: RunningGateway, mode: 'signed' | 'sealed' = 'signed', id = serial): WxsealClient => {
      const c = createClient({
        baseUrl: gw.url,
        keyId: id,
        secret: key,
        serverKeyId: keys.serverKeyId,
        serverPublicKey: keys.publicKeyPem,
        mode,
        now,
        retry: { maxAttempts: 1 },
        timeoutMs: 5000,
      });
      clients.push(c);
      return c;
    };
    /** The wxseal code a request by `key` gets from `gw`, or 'ok'. */
    const outcome = async (key: Buffer, gw: RunningGateway, id = serial): Promise<string> => {
      try {
        const res = await device(key, gw, 'signed', id).get('/api/ping');
        return res.status === 200 ? 'ok' : `status ${res.status}`;
      } catch (err) {
        if (isWxsealError(err)) return err.code;
        throw err;
      }
    };
    const activate = async (secret: Buffer, nonce?: string) => {
      const built = buildActivationRequest({ productId, serial, productSecret: secret, timestamp: Math.floor(now() / 1000), ...(nonce ? { nonce } : {}) });
      const res = await plainRequest(gws[0]!.url, DEVICE_ACTIVATION_PATH, { method: 'POST', headers: built.headers, body: built.body });
      return { built, res, opened: () => openActivationResponse(built.context, { status: res.status, header: headerOf(res.headers), body: res.raw }) };
    };

    before(async () => {
      await requireRedis();
      const url = await database.open();
      upstream = await startUpstream();
      const env = { GW_TEST_MASTER_KEYS: `m1:${MasterKeyRing.generateKey()}`, GW_TEST_CACHE_KEY: b64uEncode(randomBytes(32)) };
      const input = baseConfig(keys, upstream.url, {
        devices: {
          database: { url },
          masterKeys: { env: 'GW_TEST_MASTER_KEYS' },
          redis: { url: REDIS_URL, prefix, cacheKeyEnv: 'GW_TEST_CACHE_KEY' },
          bloom: { expectedSerials: 10_000, falsePositiveRate: 1e-6, rebuildIntervalMs: 0 },
          activation: { enabled: true },
          rotation: { enabled: true },
          rotationGraceSeconds: GRACE,
        },
      });
      const config = loadGatewayConfig(input, { env });
      // One after the other: the first migrates, the others find the schema in place.
      for (let i = 0; i < 3; i++) gws.push(await startGateway(config, { logger: captureLogger().logger, now }));
      productSecret = await gws[0]!.devices!.repository.createProduct(productId, { actor: 'test' });
    });

    after(async () => {
      for (const c of clients) c.close();
      await Promise.all(gws.map((g) => g.close()));
      await upstream?.close();
      redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      try {
        let cursor = '0';
        do {
          const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (found.length > 0) await redis.del(...found);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
        await database.cleanup();
      }
    });

    test('a device activates with the product secret and opens its sealed key; the activation is audited', async () => {
      const wrong = await activate(randomBytes(32));
      assert.equal(wrong.res.status, 401);
      assert.equal(wrong.res.headers['wxseal-error'], 'WXSEAL_BAD_SIGNATURE');

      const { res, opened, built } = await activate(productSecret);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const result = opened();
      assert.ok(result.ok);
      assert.equal(result.keyVersion, 1);
      deviceKey = result.deviceKey;

      // The same body again is a replay; a fresh attempt finds the serial active.
      const replay = await plainRequest(gws[0]!.url, DEVICE_ACTIVATION_PATH, { method: 'POST', headers: built.headers, body: built.body });
      assert.equal(replay.headers['wxseal-error'], 'WXSEAL_REPLAYED_NONCE');
      assert.equal((await activate(productSecret)).res.headers['wxseal-error'], 'WXSEAL_KEY_REVOKED');

      const audit = await gws[0]!.devices!.repository.audit(serial);
      assert.deepEqual(audit.map((a) => [a.action, a.actor]), [['activate', 'gateway']]);
      assert.match(String(audit[0]!.source), /127\.0\.0\.1/);
    });

    test('requests signed (and sealed) with the device key are forwarded by every instance', async () => {
      const before = upstream.seen.length;
      for (const gw of gws) {
        const signed = await device(deviceKey, gw, 'signed').post('/api/reading', { json: { t: 21.5 } });
        assert.equal(signed.status, 200);
        const sealed = await device(deviceKey, gw, 'sealed').post('/api/reading', { json: { t: 22 } });
        assert.equal(sealed.status, 200);
      }
      assert.equal(upstream.seen.length, before + 6);
      assert.equal(upstream.seen.at(-1)!.headers['x-wxseal-key-id'], serial);
      assert.equal(JSON.parse(upstream.seen.at(-1)!.body.toString('utf8')).t, 22);
    });

    test('rotation through the endpoint: the new key works, the old one only inside the grace period', async () => {
      const built = buildRequest(deviceRequestSpec(serial, deviceKey, { mode: 'signed', method: 'POST', target: DEVICE_ROTATION_PATH, timestamp: Math.floor(now() / 1000) }));
      const res = await plainRequest(gws[1]!.url, DEVICE_ROTATION_PATH, { method: 'POST', headers: built.headers, body: built.body });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const opened = openDeviceKey({ purpose: 'rotate', wrappingSecret: deviceKey, productId, serial, requestNonce: built.context.nonce }, res.raw);
      assert.equal(opened.keyVersion, 2);
      rotatedKey = opened.deviceKey;
      for (const gw of gws) {
        assert.equal(await outcome(rotatedKey, gw), 'ok');
        assert.equal(await outcome(deviceKey, gw), 'ok'); // inside the grace period
      }
      const actions = (await gws[0]!.devices!.repository.audit(serial)).map((a) => a.action);
      assert.deepEqual(actions, ['activate', 'rotate']);

      offsetMs += (GRACE + 2) * 1000; // past the grace period (and past every L1 TTL)
      for (const gw of gws) {
        assert.equal(await outcome(rotatedKey, gw), 'ok');
        assert.equal(await outcome(deviceKey, gw), 'WXSEAL_BAD_SIGNATURE');
      }
    });

    test('a static client key id is a rotation 403 and never reaches the device lookup', async () => {
      const stats = gws[2]!.devices!.stats();
      const client = createClient({ baseUrl: gws[2]!.url, keyId: keys.keyId, secret: keys.secret, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, now, retry: { maxAttempts: 1 } });
      clients.push(client);
      assert.equal((await client.get('/api/x')).status, 200);
      assert.equal((await client.post(DEVICE_ROTATION_PATH)).status, 403);
      assert.equal(gws[2]!.devices!.stats().resolver.lookups, stats.resolver.lookups);
    });

    test('an unknown serial is WXSEAL_UNKNOWN_KEY_ID without a Redis command or an SQL query', async () => {
      const gw = gws[1]!;
      // The counters cover the whole connection: a late write of an earlier test (a cache fill on
      // a loaded machine) can land inside the window. A lookup that used Redis or SQL would move
      // them on every attempt; background traffic cannot on all five.
      const attempts: string[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const before = gw.devices!.stats();
        assert.equal(await outcome(randomBytes(32), gw, `SN-unknown-${randomBytes(4).toString('hex')}`), 'WXSEAL_UNKNOWN_KEY_ID');
        const afterStats = gw.devices!.stats();
        assert.equal(afterStats.resolver.bloomReject, before.resolver.bloomReject + 1);
        assert.equal(afterStats.resolver.l3Load, before.resolver.l3Load);
        const redis = afterStats.redisCommands - before.redisCommands;
        const sql = afterStats.sqlQueries - before.sqlQueries;
        if (redis === 0 && sql === 0) return;
        attempts.push(`${redis} Redis commands, ${sql} SQL queries`);
      }
      assert.fail(`every attempt saw Redis or SQL traffic: ${attempts.join('; ')}`);
    });

    test('1,000 concurrent lookups of an expired entry cause exactly one database load', async () => {
      const resolver = gws[2]!.devices!.resolver;
      const expire = async (): Promise<void> => {
        await resolver.invalidate(serial); // drops the Redis entry and L1 everywhere
        resolver.flushL1();
      };
      // What one load costs in SQL, measured the same way.
      await expire();
      let before = gws[2]!.devices!.stats();
      assert.equal((await resolver.resolve(serial))?.keyId, serial);
      const oneLoad = gws[2]!.devices!.stats().sqlQueries - before.sqlQueries;
      assert.ok(oneLoad > 0, 'a cold lookup reads the database');

      await expire();
      before = gws[2]!.devices!.stats();
      const results = await Promise.all(Array.from({ length: 1000 }, () => resolver.resolve(serial)));
      const after = gws[2]!.devices!.stats();
      assert.ok(results.every((r) => r?.keyId === serial));
      assert.equal(after.resolver.l3Load - before.resolver.l3Load, 1, 'database loads');
      assert.equal(after.sqlQueries - before.sqlQueries, oneLoad, 'SQL queries: those of one load');
    });

    test('a revocation through one instance is enforced by all three within 1 s', async () => {
      for (const gw of gws) assert.equal(await outcome(rotatedKey, gw), 'ok'); // every L1 holds the key
      const started = performance.now();
      await gws[0]!.devices!.repository.revoke(serial, { actor: 'test', reason: 'stolen' });
      const pending = new Set(gws);
      await within(
        1000 - (performance.now() - started),
        async () => {
          for (const gw of [...pending]) if ((await outcome(rotatedKey, gw)) === 'WXSEAL_KEY_REVOKED') pending.delete(gw);
          return pending.size === 0;
        },
        'revocation on every instance',
      );
      assert.ok(performance.now() - started <= 1000);
      assert.equal((await activate(productSecret)).res.headers['wxseal-error'], 'WXSEAL_KEY_REVOKED');
    });
  });
}
