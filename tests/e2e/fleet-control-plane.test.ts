// A fleet of three gateway processes sharing one control plane (PostgreSQL, then MariaDB) and one
// Redis: a secret added, a config secret retired and a server key rotated through instance 1's
// admin API each take effect on instances 2 and 3 within 1 s (the delays are printed); a session
// made on instance 1 works on instance 3; the login rate limit and the audit log are the fleet's;
// and an instance that loses its control-plane database fails closed (503
// WXSEAL_CREDENTIALS_STALE, /readyz 503) and recovers by itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { isWxsealError, type WxsealClient } from '@wxseal/client';
import { MasterKeyRing } from '@wxseal/devices';
import { baseConfig, clientFor, makeKeys, plainRequest, startUpstream, tempDir, writeYaml, type TestKeys, type Upstream } from '../support/gateway.js';
import { REDIS_URL, call, login, requireRedis } from '../support/gateway-admin.js';
import { WXSEAL_CLI, root, spawnGateway, type GatewayProcess } from '../support/gateway-process.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MARIADB_URL = 'mysql://root@127.0.0.1:3306';
const BOUND_MS = 1_000;

/** What one request through `url` with this client setup gives: 'ok' or the error code. */
async function outcome(keys: TestKeys, url: string, options: Parameters<typeof clientFor>[2] = {}): Promise<string> {
  const client: WxsealClient = clientFor(keys, url, options);
  try {
    const res = await client.get('/api/ping');
    return res.status === 200 ? 'ok' : `status ${res.status}`;
  } catch (err) {
    if (isWxsealError(err)) return err.code;
    throw err;
  } finally {
    await client.close?.();
  }
}

/** Polls every instance until `expected` holds there; the delay per instance since `t0` (ms). */
async function delaysUntil(instances: readonly GatewayProcess[], t0: number, check: (gw: GatewayProcess) => Promise<boolean>, what: string): Promise<number[]> {
  return Promise.all(
    instances.map(async (gw, i) => {
      const deadline = t0 + 10_000; // a guard against a hang; the bound is asserted by the caller
      for (;;) {
        if (await check(gw).catch(() => false)) return performance.now() - t0;
        if (performance.now() > deadline) assert.fail(`instance ${i + 2}: timed out waiting for: ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }),
  );
}

/** A TCP relay to the database that a test can cut and restore (what a network partition does). */
class Relay {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async open(port = 0): Promise<void> {
    const server = createServer((down) => {
      const up = connect(this.target.port, this.target.host);
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface Backend {
  name: string;
  /** Creates an empty database/schema; returns its URL (through `host:port` when given) and a drop function. */
  create(via?: { host: string; port: number }): Promise<{ url: string; drop(): Promise<void> }>;
  target: { host: string; port: number };
}

const backends: Backend[] = [
  {
    name: 'PostgreSQL',
    target: { host: '127.0.0.1', port: 5432 },
    async create(via) {
      const schema = `cp_e2e_${randomBytes(4).toString('hex')}`;
      const hostPort = via ? `${via.host}:${via.port}` : '127.0.0.1:5432';
      return {
        url: `postgres://postgres@${hostPort}/test?schema=${schema}`,
        async drop() {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          try {
            await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          } finally {
            await c.end();
          }
        },
      };
    },
  },
  {
    name: 'MariaDB',
    target: { host: '127.0.0.1', port: 3306 },
    async create(via) {
      const db = `cp_e2e_${randomBytes(4).toString('hex')}`;
      const admin = await mysql.createConnection(MARIADB_URL);
      try {
        await admin.query(`CREATE DATABASE ${db}`);
      } finally {
        await admin.end();
      }
      const hostPort = via ? `${via.host}:${via.port}` : '127.0.0.1:3306';
      return {
        url: `mysql://root@${hostPort}/${db}`,
        async drop() {
          const c = await mysql.createConnection(MARIADB_URL);
          try {
            await c.query(`DROP DATABASE IF EXISTS ${db}`);
          } finally {
            await c.end();
          }
        },
      };
    },
  },
];

for (const backend of backends) {
  describe(`a fleet of three gateways on ${backend.name} + Redis`, () => {
    const keys = makeKeys('bff-fleet');
    const token = randomBytes(32).toString('base64url');
    const gateways: GatewayProcess[] = [];
    let upstream: Upstream;
    let dir: string;
    let database: { url: string; drop(): Promise<void> } | undefined;
    const relay = new Relay(backend.target);

    before(async () => {
      await requireRedis();
      dir = tempDir();
      upstream = await startUpstream();
      // Instance 3 reaches the database through a relay the last test cuts.
      await relay.open();
      database = await backend.create();
      writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'master-keys.txt'), `m1:${MasterKeyRing.generateKey()}\n`, { mode: 0o600 });
      const prefix = `wxseal-test:fleet:${randomBytes(4).toString('hex')}:`;
      const config = (dbUrl: string, n: number) =>
        baseConfig(keys, upstream.url, {
          fleet: true,
          nonceStore: { type: 'redis', url: REDIS_URL, prefix: `${prefix}nonce:` },
          controlPlane: {
            database: { url: dbUrl },
            masterKeys: { file: 'master-keys.txt' },
            redis: { url: REDIS_URL, channel: `${prefix}changes` },
            maxStalenessMs: 1_500,
            instanceId: `gw-${n}`,
          },
          admin: { auth: { tokenFile: 'admin-token.txt' }, stateDir: `state-${n}`, loginRateLimit: { maxFailures: 3, windowSeconds: 60 } },
        });
      const viaRelay = database.url.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${relay.port}`);
      const files = [config(database.url, 1), config(database.url, 2), config(viaRelay, 3)].map((c, i) => writeYaml(dir, `gateway-${i + 1}.yaml`, c));
      // One at a time: three starts at once on a 2-core machine only make each slower.
      for (const file of files) gateways.push(await spawnGateway(file));
    });

    after(async () => {
      await Promise.all(gateways.map((g) => g.kill()));
      await relay.cut();
      await upstream?.close();
      await database?.drop();
    });

    test('a secret added on instance 1 is accepted by instances 2 and 3 within 1 s; a retired one is refused within 1 s', async () => {
      const [gw1, ...others] = gateways as [GatewayProcess, GatewayProcess, GatewayProcess];
      for (const gw of gateways) assert.equal(await outcome(keys, gw.url), 'ok', 'the config secret works everywhere');
      const admin = await login(gw1.adminUrl, { token });

      let t0 = performance.now();
      const added = await admin.post(`/credentials/${keys.keyId}/secrets`, { reason: 'fleet rotation' });
      assert.equal(added.status, 201, added.text);
      const fresh = { ...keys, secret: String(added.json.secret) };
      assert.equal(await outcome(fresh, gw1.url), 'ok', 'at once on the instance that made it');
      const addDelays = await delaysUntil(others, t0, async (gw) => (await outcome(fresh, gw.url)) === 'ok', 'the new secret accepted');

      t0 = performance.now();
      const retired = await admin.post(`/credentials/${keys.keyId}/secrets/s1/retire`, { reason: 'fleet rotation done' });
      assert.equal(retired.status, 200, retired.text);
      assert.equal(await outcome(keys, gw1.url), 'WXSEAL_BAD_SIGNATURE', 'refused at once on instance 1');
      const retireDelays = await delaysUntil(others, t0, async (gw) => (await outcome(keys, gw.url)) === 'WXSEAL_BAD_SIGNATURE', 'the retired secret refused');
      for (const gw of others) assert.equal(await outcome(fresh, gw.url), 'ok', 'the new secret still accepted');

      console.log(`# ${backend.name}: secret added → accepted on instances 2, 3 after ${addDelays.map((d) => d.toFixed(0)).join(', ')} ms; retired → refused after ${retireDelays.map((d) => d.toFixed(0)).join(', ')} ms`);
      for (const d of [...addDelays, ...retireDelays]) assert.ok(d < BOUND_MS, `propagation ${d.toFixed(0)} ms < ${BOUND_MS} ms`);
      keys.secret = fresh.secret; // the secret in force from now on
    });

    test('a server key rotated on instance 1 decrypts on instances 2 and 3 within 1 s', async () => {
      const [gw1, ...others] = gateways as [GatewayProcess, GatewayProcess, GatewayProcess];
      const admin = await login(gw1.adminUrl, { token });
      const t0 = performance.now();
      const rotated = await admin.post('/server-keys/rotate', { reason: 'fleet key rotation' });
      assert.equal(rotated.status, 201, rotated.text);
      const next = { ...keys, serverKeyId: String(rotated.json.kid), publicKeyPem: String(rotated.json.publicKeyPem) };
      assert.equal(await outcome(next, gw1.url, { mode: 'sealed' }), 'ok');
      const delays = await delaysUntil(others, t0, async (gw) => (await outcome(next, gw.url, { mode: 'sealed' })) === 'ok', 'sealed to the rotated key');
      console.log(`# ${backend.name}: server key rotated → decrypts on instances 2, 3 after ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
      for (const d of delays) assert.ok(d < BOUND_MS, `propagation ${d.toFixed(0)} ms < ${BOUND_MS} ms`);
      for (const gw of others) {
        const list = await (await login(gw.adminUrl, { token })).get('/server-keys');
        assert.equal(list.json.keys.find((k: { kid: string }) => k.kid === next.serverKeyId)?.status, 'active', 'the same active key in every instance\'s view');
      }
    });

    test('a secret added and retired with the CLI alone (no admin API, no running gateway of its own) takes effect on all three within 1 s', async () => {
      const cli = async (...args: string[]): Promise<string> => {
        const r = spawnSync(process.execPath, [...WXSEAL_CLI, 'credentials', ...args, '--config', join(dir, 'gateway-1.yaml')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, `wxseal credentials ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const added = JSON.parse(await cli('add-secret', keys.keyId, '--reason', 'cli rotation', '--json')) as { secretId: string; secret: string };
      let t0 = performance.now(); // the change was committed before the CLI exited
      const fresh = { ...keys, secret: added.secret };
      const addDelays = await delaysUntil(gateways, t0, async (gw) => (await outcome(fresh, gw.url)) === 'ok', 'the CLI\'s secret accepted');
      await cli('retire-secret', keys.keyId, added.secretId, '--reason', 'cli rotation undone');
      t0 = performance.now();
      const retireDelays = await delaysUntil(gateways, t0, async (gw) => (await outcome(fresh, gw.url)) === 'WXSEAL_BAD_SIGNATURE', 'the CLI\'s retirement refused');
      console.log(`# ${backend.name}: CLI secret added → accepted on instances 1, 2, 3 after ${addDelays.map((d) => d.toFixed(0)).join(', ')} ms; retired → refused after ${retireDelays.map((d) => d.toFixed(0)).join(', ')} ms`);
      for (const d of [...addDelays, ...retireDelays]) assert.ok(d < BOUND_MS, `propagation ${d.toFixed(0)} ms < ${BOUND_MS} ms`);
      const listed = JSON.parse(await cli('list', '--json')) as { credentials: { keyId: string; secrets: { secretId: string; status: string }[] }[] };
      assert.equal(listed.credentials[0]!.secrets.find((x) => x.secretId === added.secretId)?.status, 'retired');
      // A refusal is a clear error, and nothing changes: the last active secret cannot be retired.
      const r = spawnSync(process.execPath, [...WXSEAL_CLI, 'credentials', 'retire-secret', keys.keyId, 's1', '--reason', 'x', '--config', join(dir, 'gateway-1.yaml')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /ADMIN_CONFLICT: secret s1 is already retired/);
    });

    test('sessions, login rate limits and the audit log are the fleet\'s', async () => {
      const [gw1, gw2, gw3] = gateways as [GatewayProcess, GatewayProcess, GatewayProcess];
      const reader = await login(gw3.adminUrl, { token }); // made before the login budget is spent below
      const s = await login(gw1.adminUrl, { token });
      // The session cookie of instance 1 works on instance 3 (a load balancer may send the next call anywhere).
      const onOther = await call(gw3.adminUrl, 'GET', '/admin/api/v1/session', { cookie: s.cookie });
      assert.equal(onOther.status, 200, onOther.text);
      const out = await call(gw2.adminUrl, 'DELETE', '/admin/api/v1/session', { cookie: s.cookie, csrf: s.csrf, origin: gw2.adminUrl });
      assert.equal(out.status, 204, `logout on instance 2: ${out.text}`);
      assert.equal((await call(gw1.adminUrl, 'GET', '/admin/api/v1/session', { cookie: s.cookie })).status, 401, 'the session is gone on instance 1 too');

      // Three failures spread over three instances exhaust one budget of three.
      for (const gw of [gw1, gw2, gw3]) assert.equal((await call(gw.adminUrl, 'POST', '/admin/api/v1/session', { body: { token: 'x'.repeat(43) } })).status, 401);
      const limited = await call(gw1.adminUrl, 'POST', '/admin/api/v1/session', { body: { token } });
      assert.equal(limited.status, 429, 'the fourth attempt, even with the right token, is rate limited fleet-wide');

      // One audit log: what instances 1 and 2 did is listed by instance 3.
      const r = await reader.get('/audit?limit=200');
      assert.equal(r.status, 200, r.text);
      const entries = r.json.entries as Record<string, unknown>[];
      assert.ok(entries.some((e) => e.target === `${keys.keyId}/s1` && e.outcome === 'ok'), 'the retirement made on instance 1 is in instance 3\'s list');
      assert.ok(entries.some((e) => e.action === 'session.logout'), 'the logout made on instance 2 too');
      assert.ok(entries.some((e) => e.client === 'cli' && e.action === 'credential.secret.retire' && e.instance === 'cli'), 'the CLI\'s change too');
      const instances = new Set(entries.map((e) => e.instance));
      assert.ok(instances.has('gw-1') && instances.has('gw-2'), `entries name the instance that wrote them (${[...instances].join(', ')})`);
    });

    test('an instance that loses the control plane refuses credentials (503 WXSEAL_CREDENTIALS_STALE) and recovers by itself', async () => {
      const gw3 = gateways[2]!;
      assert.equal(await outcome(keys, gw3.url), 'ok');
      const ready = await plainRequest(gw3.adminUrl, '/readyz');
      assert.equal(ready.status, 200, ready.body);
      assert.equal(JSON.parse(ready.body).checks.controlPlane.status, 'ok');

      await relay.cut();
      const t0 = performance.now();
      await delaysUntil([gw3], t0, async (gw) => (await outcome(keys, gw.url)) === 'WXSEAL_CREDENTIALS_STALE', 'the stale instance refuses');
      const notReady = await plainRequest(gw3.adminUrl, '/readyz');
      assert.equal(notReady.status, 503, 'not ready while stale');
      assert.equal(JSON.parse(notReady.body).checks.controlPlane.status, 'stale');
      assert.equal(await outcome(keys, gateways[0]!.url), 'ok', 'the other instances still serve');

      await relay.open(relay.port);
      await delaysUntil([gw3], performance.now(), async (gw) => (await outcome(keys, gw.url)) === 'ok', 'recovery after the database is back');
      assert.equal((await plainRequest(gw3.adminUrl, '/readyz')).status, 200, 'ready again');
    });
  });
}
