// Device changes reach every gateway of a fleet within 1 s, whoever made them (issue 13): three
// gateway processes on PostgreSQL, then on MariaDB, with a Redis nonce store and NO `devices.redis`
// (no pub/sub: each instance's change feed, which reads the registry's audit log, is the only path).
// A device imported or revoked with the real `wxseal device import|revoke` (no gateway involved),
// revoked through instance 1's admin API, or activated on instance 1 (SPEC §15) is accepted or
// refused on all three within 1 s; the delays are printed. Once more on PostgreSQL with devices.redis
// (the shared L2), which the CLI does not touch either. FAILS, never skips, without the services.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { DEVICE_ACTIVATION_PATH, buildActivationRequest, openActivationResponse } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { createClient, isWxsealError } from '@wxseal/client';
import { DeviceRepository, MasterKeyRing, migrateDeviceDatabase, openDeviceDatabase } from '@wxseal/devices';
import { baseConfig, makeKeys, plainRequest, startUpstream, tempDir, type TestKeys, type Upstream } from '../support/gateway.js';
import { REDIS_URL, login, requireRedis } from '../support/gateway-admin.js';
import { WXSEAL_CLI, root } from '../support/gateway-process.js';
import { runProcess } from '../support/processes.js';
import { startFleet, type Fleet } from '../support/fleet.js';

const BOUND_MS = 1_000;

interface Backend {
  name: string;
  /** An empty schema / database; its URL and how to drop it. */
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'PostgreSQL',
    async create() {
      const schema = `wxseal_fleetdev_${randomBytes(4).toString('hex')}`;
      return {
        url: `postgres://postgres@127.0.0.1:5432/test?schema=${schema}`,
        async drop() {
          const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', connectionTimeoutMillis: 3000 });
          await c.connect();
          try {
            await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await c.end();
          }
        },
      };
    },
  },
  {
    name: 'MariaDB',
    async create() {
      const db = `wxseal_fleetdev_${randomBytes(4).toString('hex')}`;
      const admin = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306', connectTimeout: 3000 });
      try {
        await admin.query(`CREATE DATABASE \`${db}\``);
      } finally {
        await admin.end();
      }
      return {
        url: `mysql://root@127.0.0.1:3306/${db}`,
        async drop() {
          const c = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306', connectTimeout: 3000 });
          try {
            await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
          } finally {
            await c.end();
          }
        },
      };
    },
  },
];

/** 'ok' or the wxseal error code a device request signed with `key` as `serial` gets from `url`. */
async function outcome(keys: TestKeys, url: string, serial: string, key: Uint8Array): Promise<string> {
  const client = createClient({ baseUrl: url, keyId: serial, secret: key, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'signed', retry: { maxAttempts: 1 }, timeoutMs: 5_000 });
  try {
    const res = await client.get('/api/ping');
    return res.status === 200 ? 'ok' : `status ${res.status}`;
  } catch (err) {
    if (isWxsealError(err)) return err.code;
    throw err;
  } finally {
    client.close();
  }
}

/** Polls every URL until the device gets `expected` there; the delay per instance since `t0` (ms). */
function delaysUntil(keys: TestKeys, urls: readonly string[], t0: number, serial: string, key: Uint8Array, expected: string): Promise<number[]> {
  return Promise.all(
    urls.map(async (url, i) => {
      let last = '';
      for (;;) {
        last = await outcome(keys, url, serial, key);
        if (last === expected) return performance.now() - t0;
        // A guard against a hang; the bound itself is asserted by the caller.
        if (performance.now() - t0 > 10_000) assert.fail(`instance ${url} (#${i + 1}): still ${last} for ${serial}, expected ${expected}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }),
  );
}

/** Prints the delays (instances numbered from `first`) and asserts the bound. */
function report(t: TestContext, what: string, delays: number[], first = 1): void {
  t.diagnostic(`${what}: ${delays.map((d, i) => `instance ${i + first} ${d.toFixed(0)} ms`).join(', ')}`);
  for (const d of delays) assert.ok(d < BOUND_MS, `${what}: ${d.toFixed(0)} ms (bound ${BOUND_MS} ms)`);
}

// The two databases without devices.redis, and PostgreSQL once more WITH it (L2 shared in Redis):
// a CLI change, which publishes nothing, must then also clear the shared value.
const runs = [...backends.map((backend) => ({ backend, redisCache: false })), { backend: backends[0]!, redisCache: true }];

for (const { backend, redisCache } of runs) {
  describe(`device changes on a fleet of three gateways on ${backend.name} (${redisCache ? 'with' : 'no'} devices.redis)`, () => {
    const keys = makeKeys('bff-fleet-dev');
    const token = randomBytes(32).toString('base64url');
    const ring = `m1:${MasterKeyRing.generateKey()}`;
    const productId = `lamp-${randomBytes(3).toString('hex')}`;
    const prefix = `wxseal-test:fleetdev:${randomBytes(4).toString('hex')}:`;
    let dir: string;
    let upstream: Upstream | undefined;
    let database: { url: string; drop(): Promise<void> } | undefined;
    let fleet: Fleet | undefined;
    let productSecret: Buffer;
    let warm: { serial: string; key: Buffer };
    /** Serials imported by the CLI, with their keys. */
    const imported = new Map<string, Buffer>();

    /** `wxseal device …` against the fleet's database, as an operator would run it (no gateway). */
    const cli = async (...args: string[]) => {
      const r = await runProcess(process.execPath, [...WXSEAL_CLI, 'device', ...args, '--db', database!.url, '--master-key-file', join(dir, 'master-keys.txt'), '--actor', 'ops:e2e'], {
        cwd: root,
        env: { ...process.env, WXSEAL_DEVICE_MASTER_KEYS: '', WXSEAL_DEVICE_MASTER_KEY_FILE: '' },
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `wxseal device ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r;
    };

    before(async () => {
      await requireRedis();
      dir = tempDir();
      upstream = await startUpstream();
      database = await backend.create();
      writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'master-keys.txt'), `${ring}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'cache-key.txt'), `${b64uEncode(randomBytes(32))}\n`, { mode: 0o600 });
      // The product, made before the fleet starts (its secret is what activations are signed with).
      const db = openDeviceDatabase(database.url);
      try {
        await migrateDeviceDatabase(db);
        const repo = new DeviceRepository({ db, masterKeys: MasterKeyRing.parse(ring) });
        productSecret = await repo.createProduct(productId, { actor: 'e2e' });
        const serial = `WARM-${randomBytes(3).toString('hex')}`;
        warm = { serial, key: (await repo.activate(serial, productId, { actor: 'e2e' })).key };
      } finally {
        await db.destroy();
      }
      fleet = await startFleet({
        dir,
        config: (i) =>
          baseConfig(keys, upstream!.url, {
            nonceStore: { type: 'redis', url: REDIS_URL, prefix: `${prefix}nonce:` },
            admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: `state-${i + 1}` },
            devices: {
              database: { url: database!.url },
              masterKeys: { file: 'master-keys.txt' },
              bloom: { expectedSerials: 10_000, falsePositiveRate: 1e-6 },
              activation: { enabled: true },
              changeFeed: { pollIntervalMs: 250, maxStalenessMs: 5_000 },
              ...(redisCache ? { redis: { url: REDIS_URL, prefix: `${prefix}devkey:`, cacheKeyFile: 'cache-key.txt' } } : {}),
            },
          }),
      });
      // One accepted device request per instance first: the delays below measure propagation, not
      // the first forward to the upstream or the first key load of a freshly started process.
      for (const url of fleet.urls) assert.equal(await outcome(keys, url, warm.serial, warm.key), 'ok');
    });

    after(async () => {
      await fleet?.stop();
      await upstream?.close();
      await database?.drop();
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
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
      }
    });

    test('devices imported with `wxseal device import` alone are accepted on all three within 1 s', async (t) => {
      const { urls } = fleet!;
      const rows = Array.from({ length: 50 }, (_, i) => [`FD-${randomBytes(3).toString('hex')}-${i}`, randomBytes(32)] as const);
      for (const [serial, key] of rows) imported.set(serial, key);
      const [first, firstKey] = rows[0]!;
      for (const url of urls) assert.equal(await outcome(keys, url, first, firstKey), 'WXSEAL_UNKNOWN_KEY_ID', 'unknown before the import');
      const csv = join(dir, `import-${randomBytes(3).toString('hex')}.csv`);
      writeFileSync(csv, `serial,key\n${rows.map(([s, k]) => `${s},${b64uEncode(k)}`).join('\n')}\n`);

      await cli('import', csv, '--product', productId, '--reason', 'factory batch');
      const t0 = performance.now(); // the import has committed: the CLI has exited
      const [last, lastKey] = rows[rows.length - 1]!;
      report(t, 'CLI import → accepted (first row)', await delaysUntil(keys, urls, t0, first, firstKey, 'ok'));
      for (const url of urls) assert.equal(await outcome(keys, url, last, lastKey), 'ok', 'the last row too');
    });

    test('a device revoked with `wxseal device revoke` is refused on all three within 1 s', async (t) => {
      const { urls } = fleet!;
      const [serial, key] = [...imported][1]!;
      // Every instance holds it in L1 now: only an applied change can make them refuse it.
      for (const url of urls) assert.equal(await outcome(keys, url, serial, key), 'ok');
      await cli('revoke', serial, '--reason', 'stolen');
      const t0 = performance.now();
      report(t, 'CLI revoke → refused', await delaysUntil(keys, urls, t0, serial, key, 'WXSEAL_KEY_REVOKED'));
    });

    test("a device revoked through instance 1's admin API is refused on instances 2 and 3 within 1 s", async (t) => {
      const { urls, adminUrls } = fleet!;
      const [serial, key] = [...imported][2]!;
      for (const url of urls) assert.equal(await outcome(keys, url, serial, key), 'ok');
      const admin = await login(adminUrls[0]!, { token });
      const r = await admin.post(`/devices/${serial}/revoke`, { reason: 'fleet e2e' });
      assert.equal(r.status, 200, r.text);
      const t0 = performance.now();
      report(t, 'admin API revoke on 1 → refused on 2 and 3', await delaysUntil(keys, urls.slice(1), t0, serial, key, 'WXSEAL_KEY_REVOKED'), 2);
      assert.equal(await outcome(keys, urls[0]!, serial, key), 'WXSEAL_KEY_REVOKED');
    });

    test('a device activated on instance 1 (SPEC §15) is accepted on instances 2 and 3 within 1 s', async (t) => {
      const { urls } = fleet!;
      const serial = `ACT-${randomBytes(4).toString('hex')}`;
      // Instances 2 and 3 have looked it up (and found nothing) before.
      for (const url of urls.slice(1)) assert.equal(await outcome(keys, url, serial, randomBytes(32)), 'WXSEAL_UNKNOWN_KEY_ID');
      const built = buildActivationRequest({ productId, serial, productSecret, timestamp: Math.floor(Date.now() / 1000) });
      const res = await plainRequest(urls[0]!, DEVICE_ACTIVATION_PATH, { method: 'POST', headers: built.headers, body: built.body });
      assert.equal(res.status, 200, res.body);
      const t0 = performance.now();
      const opened = openActivationResponse(built.context, { status: res.status, header: (name) => res.headers[name.toLowerCase()], body: res.raw });
      assert.ok(opened.ok);
      report(t, 'activation on 1 → accepted on 2 and 3', await delaysUntil(keys, urls.slice(1), t0, serial, opened.deviceKey, 'ok'), 2);
    });
  });
}
