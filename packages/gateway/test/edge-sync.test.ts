// Fleet sync of the edge certificate over real etcd (and Redis): one instance publishes, the
// others' onBundle gets the decrypted bundle within seconds; the store never holds the private key
// in clear; a value under another fleet key, a replayed older bundle and a bundle the receiver
// refuses are reported and never delivered, and the watch goes on; a store that is down delays
// nothing. etcd is read and written raw through its HTTP gateway, independently of the code under
// test. Needs etcd at 127.0.0.1:2379 and Redis at 127.0.0.1:6379: fails (never skips) without them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { isFleetSyncError } from '@wxseal/fleet-sync';
import { EDGE_SYNC_SUBJECT, EdgeCertificateSync, type EdgeCertificateBundle } from '../src/tls/edge-sync.js';
import { edgeSyncConfigSchema, readEdgeSyncKey, type EdgeSyncConfigInput } from '../src/tls/edge-sync-config.js';
import { issueCert, makeCa, type TlsMaterial } from '../../../tests/support/tls-certs.js';
import { freePort } from '../../../tests/support/net.js';

const ETCD = 'http://127.0.0.1:2379';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** etcd's JSON gateway (v3.4: /v3/kv/...); keys and values in base64. */
async function etcdCall(path: string, body: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(`${ETCD}/v3/kv/${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5_000) });
  assert.equal(res.status, 200, `etcd ${path} answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}
async function etcdGet(key: string): Promise<string | undefined> {
  const r = (await etcdCall('range', { key: b64(key) })) as { kvs?: Array<{ value?: string }> };
  const v = r.kvs?.[0]?.value;
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}
async function etcdPut(key: string, value: string): Promise<void> {
  await etcdCall('put', { key: b64(key), value: b64(value) });
}
async function etcdDeletePrefix(prefix: string): Promise<void> {
  const end = Buffer.from(prefix, 'utf8');
  end[end.length - 1] = end[end.length - 1]! + 1;
  await etcdCall('deleterange', { key: b64(prefix), range_end: end.toString('base64') });
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What one instance saw: bundles delivered and errors reported. */
function receiver(refuse?: (b: EdgeCertificateBundle) => boolean) {
  const bundles: EdgeCertificateBundle[] = [];
  const errors: unknown[] = [];
  return {
    bundles,
    errors,
    onBundle: async (b: EdgeCertificateBundle) => {
      if (refuse?.(b)) throw new Error('the certificate does not cover the configured names');
      bundles.push(b);
    },
    onError: (e: unknown) => void errors.push(e),
  };
}

let ca: Awaited<ReturnType<typeof makeCa>>;
let certs: TlsMaterial[];
const scratch = mkdtempSync(join(tmpdir(), 'wxseal-edge-sync-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
before(async () => {
  ca = await makeCa('edge sync test CA');
  certs = await Promise.all([1, 2, 3].map((n) => issueCert(ca, { cn: `edge ${n}`, sans: ['localhost'] })));
  // The services are part of the test: missing ones fail here.
  await etcdCall('range', { key: b64('wxseal-test/probe') });
});

const fleetKey = () => randomBytes(32).toString('base64');
const bundleOf = (m: TlsMaterial) => ({ certPem: m.certPem, keyPem: m.keyPem, caPem: ca.certPem });

describe('EdgeCertificateSync over etcd', () => {
  /** Builds instances on one test's own prefix; closes them and deletes the prefix afterwards. */
  function fleet(t: import('node:test').TestContext) {
    const prefix = `wxseal-test/edge/${randomBytes(6).toString('hex')}/`;
    const made: EdgeCertificateSync[] = [];
    t.after(async () => {
      await Promise.allSettled(made.map((s) => s.close()));
      await etcdDeletePrefix(prefix);
    });
    return {
      prefix,
      make(key: string, extra: Partial<EdgeSyncConfigInput> = {}, instanceId?: string) {
        const s = new EdgeCertificateSync({ kind: 'etcd', endpoints: ['127.0.0.1:2379'], prefix, keyEnv: 'EDGE_FLEET_KEY', ...extra } as EdgeSyncConfigInput, {
          env: { EDGE_FLEET_KEY: key },
          ...(instanceId === undefined ? {} : { instanceId }),
        });
        made.push(s);
        return s;
      },
    };
  }

  test('one publishes, the other gets the decrypted bundle within 5 s; the store holds no private key in clear', async (t) => {
    const f = fleet(t);
    const key = fleetKey();
    const a = f.make(key, {}, 'gw-a');
    const b = f.make(key, {}, 'gw-b');
    const ra = receiver();
    const rb = receiver();
    await a.start(ra.onBundle, ra.onError);
    await b.start(rb.onBundle, rb.onError);
    assert.equal(rb.bundles.length, 0, 'nothing stored yet');

    const t0 = Date.now();
    const published = await a.publish(bundleOf(certs[0]!));
    await until(() => rb.bundles.length === 1, 5_000, 'the bundle at b');
    const took = Date.now() - t0;
    assert.ok(took < 5_000, `delivered in ${took} ms`);
    assert.deepEqual(rb.bundles[0], published);
    assert.equal(rb.bundles[0]!.keyPem, certs[0]!.keyPem, 'the private key arrives intact');
    assert.equal(rb.bundles[0]!.caPem, ca.certPem);
    assert.equal(rb.bundles[0]!.origin, 'gw-a');
    assert.equal(b.newestIssuedAt, published.issuedAt);

    const raw = await etcdGet(`${f.prefix}${EDGE_SYNC_SUBJECT}/list`);
    assert.ok(raw !== undefined && raw.length > 0, 'the bundle is stored under <prefix><subject>/list');
    assert.ok(!raw.includes('PRIVATE KEY'), 'no PEM private key in the stored value');
    assert.ok(!raw.includes(certs[0]!.keyPem.split('\n')[1]!), 'no line of the key in the stored value');
    assert.ok(!raw.includes('CERTIFICATE'), 'the certificate is encrypted too');

    // The publisher does not get its own bundle back; a second publish is delivered as well.
    const second = await a.publish(bundleOf(certs[1]!));
    await until(() => rb.bundles.length === 2, 5_000, 'the second bundle at b');
    assert.ok(second.issuedAt > published.issuedAt, 'issuedAt moves forward');
    assert.deepEqual(ra.bundles, [], 'a never receives its own bundles');
    assert.deepEqual([...ra.errors, ...rb.errors], []);

    // An instance that starts later reads the current bundle at start.
    const c = f.make(key, {}, 'gw-c');
    const rc = receiver();
    await c.start(rc.onBundle, rc.onError);
    assert.deepEqual(rc.bundles.map((x) => x.certPem), [certs[1]!.certPem], 'start() delivered the stored bundle before resolving');
  });

  test('another fleet key: refused, reported, nothing delivered', async (t) => {
    const f = fleet(t);
    const key = fleetKey();
    const b = f.make(key, {}, 'gw-b');
    const rb = receiver();
    await b.start(rb.onBundle, rb.onError);
    const intruder = f.make(fleetKey(), {}, 'intruder');
    await intruder.publish(bundleOf(certs[2]!));
    await until(() => rb.errors.length > 0, 5_000, 'the refusal reported');
    assert.ok(isFleetSyncError(rb.errors[0], 'FLEET_SYNC_REJECTED'), String(rb.errors[0]));
    assert.match(String(rb.errors[0]), /does not decrypt/);
    assert.ok(!String(rb.errors[0]).includes('PRIVATE'), 'the report carries no key material');
    assert.deepEqual(rb.bundles, []);

    // A value copied under another subject does not open either (AAD and key are per subject).
    const other = new EdgeCertificateSync({ kind: 'etcd', endpoints: ['127.0.0.1:2379'], prefix: f.prefix, keyEnv: 'K' }, { env: { K: key }, subject: 'edge:admin' });
    t.after(() => other.close());
    const ro = receiver();
    await other.start(ro.onBundle, ro.onError);
    const good = f.make(key, {}, 'gw-a');
    await good.publish(bundleOf(certs[0]!));
    await until(() => rb.bundles.length === 1, 5_000, 'the real bundle at b');
    await etcdPut(`${f.prefix}edge:admin/list`, (await etcdGet(`${f.prefix}${EDGE_SYNC_SUBJECT}/list`))!);
    await until(() => ro.errors.length > 0, 5_000, 'the copied value refused');
    assert.ok(isFleetSyncError(ro.errors[0], 'FLEET_SYNC_REJECTED'));
    assert.deepEqual(ro.bundles, []);
  });

  test('a replayed older bundle is refused; a bundle the receiver refuses is reported and the watch goes on', async (t) => {
    const f = fleet(t);
    const key = fleetKey();
    const a = f.make(key, {}, 'gw-a');
    // b's receiver refuses certificate 2 (as edge-tls.ts does with one that fails validation).
    const rb = receiver((x) => x.certPem === certs[1]!.certPem);
    const b = f.make(key, {}, 'gw-b');
    await b.start(rb.onBundle, rb.onError);
    const listKey = `${f.prefix}${EDGE_SYNC_SUBJECT}/list`;

    await a.publish(bundleOf(certs[0]!));
    await until(() => rb.bundles.length === 1, 5_000, 'bundle 1');
    const old = (await etcdGet(listKey))!;

    await a.publish(bundleOf(certs[1]!));
    await until(() => rb.errors.length === 1, 5_000, 'bundle 2 refused by the receiver');
    assert.ok(isFleetSyncError(rb.errors[0], 'FLEET_SYNC_REJECTED'));
    assert.match(String(rb.errors[0]), /refused by the receiver: the certificate does not cover/);

    const third = await a.publish(bundleOf(certs[2]!));
    await until(() => rb.bundles.length === 2, 5_000, 'bundle 3 after the refusal: the watch went on');
    assert.equal(rb.bundles[1]!.certPem, certs[2]!.certPem);
    assert.equal(b.newestIssuedAt, third.issuedAt);

    // Someone with write access to etcd puts bundle 1 back.
    await etcdPut(listKey, old);
    await until(() => rb.errors.length === 2, 5_000, 'the replay refused');
    assert.ok(isFleetSyncError(rb.errors[1], 'FLEET_SYNC_REJECTED'));
    assert.match(String(rb.errors[1]), /older than the newest accepted/);
    assert.deepEqual(rb.bundles.map((x) => x.certPem), [certs[0]!.certPem, certs[2]!.certPem], 'the replay was not delivered');

    // The publisher refuses to go backwards itself.
    await assert.rejects(a.publish({ ...bundleOf(certs[0]!), issuedAt: third.issuedAt - 1 }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
  });
});

describe('EdgeCertificateSync: Redis, bounds, config, store down', () => {
  test('over Redis: published at one instance, delivered at another', async (t) => {
    const prefix = `wxseal:test:edge:${randomBytes(6).toString('hex')}:`;
    const admin = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    t.after(async () => {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    });
    assert.equal(await admin.ping(), 'PONG', 'Redis must be running at 127.0.0.1:6379');
    const key = fleetKey();
    const make = () => new EdgeCertificateSync({ kind: 'redis', url: 'redis://127.0.0.1:6379', prefix, keyEnv: 'K' }, { env: { K: key } });
    const a = make();
    const b = make();
    t.after(() => Promise.allSettled([a.close(), b.close()]));
    const rb = receiver();
    await b.start(rb.onBundle, rb.onError);
    await a.publish(bundleOf(certs[0]!));
    await until(() => rb.bundles.length === 1, 5_000, 'the bundle at b');
    assert.equal(rb.bundles[0]!.keyPem, certs[0]!.keyPem);
    assert.deepEqual(rb.errors, []);
    const raw = await admin.get(`${prefix}${EDGE_SYNC_SUBJECT}:list`);
    assert.ok(raw !== null && raw.length > 0 && !raw.includes('PRIVATE KEY'));
  });

  test('oversized or future-dated bundles are refused before they reach the store', async (t) => {
    const s = new EdgeCertificateSync({ kind: 'etcd', endpoints: ['127.0.0.1:2379'], prefix: `wxseal-test/edge/${randomBytes(6).toString('hex')}/`, keyEnv: 'K' }, { env: { K: fleetKey() } });
    t.after(() => s.close());
    await assert.rejects(s.publish({ certPem: 'x'.repeat(70 * 1024), keyPem: 'k' }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
    await assert.rejects(s.publish({ certPem: 'c', keyPem: 'k'.repeat(17 * 1024) }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
    await assert.rejects(s.publish({ certPem: '', keyPem: 'k' }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'));
    await assert.rejects(s.publish({ certPem: 'c', keyPem: 'k', issuedAt: Date.now() + 3_600_000 }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED'), 'dated an hour ahead');
    assert.equal(s.newestIssuedAt, 0);
  });

  test('config: the schema, the key from an environment variable or a file, FLEET_SYNC_CONFIG without the key', () => {
    const key = fleetKey();
    const file = join(scratch, 'fleet.key');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    const parsed = edgeSyncConfigSchema.parse({ kind: 'etcd', endpoints: ['127.0.0.1:2379'], keyFile: 'fleet.key' });
    assert.equal(parsed.prefix, 'wxseal/gateway/edge-tls/');
    assert.equal(parsed.opTimeoutMs, 2_000);
    assert.deepEqual(readEdgeSyncKey(parsed, { baseDir: scratch }), Buffer.from(key, 'base64'));
    assert.equal(edgeSyncConfigSchema.parse({ kind: 'redis', url: 'redis://h:6379', keyEnv: 'K' }).prefix, 'wxseal:gateway:edge-tls:');

    for (const bad of [
      { kind: 'etcd', endpoints: ['127.0.0.1:2379'] }, // no key
      { kind: 'etcd', endpoints: ['127.0.0.1:2379'], keyEnv: 'K', keyFile: 'f' },
      { kind: 'etcd', endpoints: [], keyEnv: 'K' },
      { kind: 'redis', keyEnv: 'K' }, // no url
      { kind: 'redis', url: 'http://h', keyEnv: 'K' },
      { kind: 'consul', endpoints: ['h:1'], keyEnv: 'K' },
      { kind: 'etcd', endpoints: ['h:1'], keyEnv: 'K', extra: 1 },
    ]) {
      assert.equal(edgeSyncConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
    const config = (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG') && !String(e).includes('c2hvcnQ');
    const base = { kind: 'etcd' as const, endpoints: ['127.0.0.1:2379'] };
    assert.throws(() => new EdgeCertificateSync({ ...base, keyEnv: 'MISSING' }, { env: {} }), config);
    assert.throws(() => new EdgeCertificateSync({ ...base, keyEnv: 'K' }, { env: { K: 'c2hvcnQ=' } }), config);
    assert.throws(() => new EdgeCertificateSync({ ...base, keyFile: 'absent.key' }, { baseDir: scratch }), config);
    assert.throws(() => new EdgeCertificateSync({ ...base, keyEnv: 'K', keyFile: 'x' }, { env: { K: key } }), config);
    assert.throws(() => new EdgeCertificateSync({ ...base, keyEnv: 'K' }, { env: { K: key }, subject: 'bad subject' }), config);
  });

  test('store down: start() resolves within its deadlines and reports FLEET_SYNC_UNAVAILABLE; publish fails fast', async (t) => {
    const port = await freePort();
    const s = new EdgeCertificateSync({ kind: 'etcd', endpoints: [`127.0.0.1:${port}`], keyEnv: 'K', opTimeoutMs: 300 }, { env: { K: fleetKey() } });
    t.after(() => s.close());
    const r = receiver();
    const t0 = Date.now();
    await s.start(r.onBundle, r.onError);
    assert.ok(Date.now() - t0 < 3_000, `start took ${Date.now() - t0} ms`);
    assert.ok(r.errors.length > 0 && r.errors.every((e) => isFleetSyncError(e, 'FLEET_SYNC_UNAVAILABLE')), r.errors.map(String).join('; '));
    const t1 = Date.now();
    await assert.rejects(s.publish(bundleOf(certs[0]!)), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_UNAVAILABLE'));
    assert.ok(Date.now() - t1 < 2_000);
    assert.equal(s.newestIssuedAt, 0, 'a failed publish is not taken as the newest');
  });
});
