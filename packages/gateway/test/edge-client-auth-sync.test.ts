// The client-auth material of mutual TLS (client CAs, CRL) travels with the edge bundle: a CRL
// uploaded to one gateway (POST /tls/edge/client-auth) is in force on every instance of the fleet
// within seconds, so a revoked client certificate is refused everywhere at once. Two real gateways
// sharing listeners.public.tls.sync over Redis, mutual TLS required, real TLS on loopback; a
// malformed CRL is refused and changes nothing anywhere (nothing reaches the store). Then the rule
// between the files and the fleet: a SIGHUP (config reload) re-reading newer files keeps the fleet's
// CRL; only the explicit admin reload returns an instance to its files. Needs Redis at
// 127.0.0.1:6379: fails (never skips) without it.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type GatewayConfigInput, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, connectSharedRedis, dropRedisPrefix, eventually, makeKeys, startUpstream, tempDir, type Upstream } from '../../../tests/support/gateway.js';
import { REDIS_URL, login, requireRedis, type AdminSession } from '../../../tests/support/gateway-admin.js';
import { issueCert, makeCa, makeCrl, type TestCa, type TlsMaterial } from '../../../tests/support/tls-certs.js';
import { atomicWrite, tlsRequest, writeEdgeFiles } from './edge-tls-helpers.js';
import { EDGE_SYNC_SUBJECT } from '../src/tls/edge-sync.js';

const keys = makeKeys('edge-client-auth-sync');
const FLEET_MS = 5_000;

describe('client-auth material (CRL) through the edge fleet sync over Redis', () => {
  let dir: string | undefined;
  let serverCa: TestCa;
  let clientCa: TestCa;
  let client1: TlsMaterial;
  let client2: TlsMaterial;
  let upstream: Upstream | undefined;
  const gateways: RunningGateway[] = [];
  const inputs = new Map<RunningGateway, GatewayConfigInput>();
  const prefix = `wxseal-test:edge-client-auth:${randomUUID()}:`;
  const token = randomBytes(32).toString('base64url');
  let a: RunningGateway;
  let b: RunningGateway;
  let adminA: AdminSession;
  let adminB: AdminSession;

  /** A gateway with its own files, mutual TLS required on /mtls, sharing the fleet store. */
  async function fleetGateway(name: string): Promise<RunningGateway> {
    const sub = join(dir!, name);
    mkdirSync(sub);
    const files = writeEdgeFiles(sub, await issueCert(serverCa, { cn: `${name}.test` }));
    writeFileSync(join(sub, 'client-ca.pem'), clientCa.certPem);
    // A CRL that revokes nobody yet.
    writeFileSync(join(sub, 'client.crl'), await makeCrl(clientCa, []));
    const input = baseConfig(keys, upstream!.url, {
      listeners: {
        public: {
          host: '127.0.0.1',
          port: 0,
          tls: {
            ...files,
            clientAuth: { caFile: join(sub, 'client-ca.pem'), crlFile: join(sub, 'client.crl') },
            watch: false,
            sync: { kind: 'redis', url: REDIS_URL, prefix, keyFile: join(dir!, 'fleet.key') },
          },
        },
        admin: { host: '127.0.0.1', port: 0 },
      },
      admin: { auth: { tokenFile: join(dir!, 'admin-token.txt') }, stateDir: join(sub, 'state') },
      routes: [{ prefix: '/mtls', upstream: upstream!.url, mode: 'passthrough', clientCertificate: 'required' }],
    });
    const gw = await startGateway(input, { logger: captureLogger().logger });
    gateways.push(gw);
    inputs.set(gw, input);
    return gw;
  }

  /** The status of a request on a new connection presenting `cert`, and its error code. */
  async function probe(gw: RunningGateway, cert: TlsMaterial): Promise<{ status: number; code: string | undefined; message: string }> {
    const r = await tlsRequest(gw.url, '/mtls/probe', { ca: serverCa.certPem, cert: cert.certPem, key: cert.keyPem });
    const code = r.headers['wxseal-error'];
    let message = '';
    if (r.status !== 200) message = String((JSON.parse(r.body) as { error?: { message?: string } }).error?.message ?? '');
    return { status: r.status, code: typeof code === 'string' ? code : undefined, message };
  }

  async function accepted(gw: RunningGateway, cert: TlsMaterial): Promise<boolean> {
    return (await probe(gw, cert)).status === 200;
  }

  /** Refused as revoked: 401 WXSEAL_CLIENT_CERT_INVALID, saying so. */
  async function revoked(gw: RunningGateway, cert: TlsMaterial): Promise<boolean> {
    const p = await probe(gw, cert);
    return p.status === 401 && p.code === 'WXSEAL_CLIENT_CERT_INVALID' && /revoked/.test(p.message);
  }

  async function storedBundle(): Promise<string | null> {
    const redis = await connectSharedRedis();
    try {
      return await redis.get(`${prefix}${EDGE_SYNC_SUBJECT}:list`);
    } finally {
      redis.disconnect();
    }
  }

  before(async () => {
    await requireRedis();
    dir = tempDir();
    writeFileSync(join(dir, 'fleet.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'admin-token.txt'), `${token}\n`, { mode: 0o600 });
    serverCa = await makeCa('client-auth sync server CA');
    clientCa = await makeCa('client-auth sync client CA');
    client1 = await issueCert(clientCa, { cn: 'client-1', usage: 'client' });
    client2 = await issueCert(clientCa, { cn: 'client-2', usage: 'client' });
    upstream = await startUpstream();
    a = await fleetGateway('a');
    b = await fleetGateway('b');
    adminA = await login(a.adminUrl, { token });
    adminB = await login(b.adminUrl, { token });
  });

  after(async () => {
    for (const g of gateways) await g.close().catch(() => undefined);
    await upstream?.close();
    await dropRedisPrefix(await connectSharedRedis().catch(() => undefined), prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a CRL uploaded to A only: B refuses the revoked client within 5 s, the other client works on both; a malformed CRL changes nothing', async (t) => {
    for (const gw of [a, b]) for (const c of [client1, client2]) assert.ok(await accepted(gw, c), 'every client on every gateway before the CRL');

    const crl = await makeCrl(clientCa, [client1]);
    const uploadedAt = Date.now();
    const r = await adminA.post('/tls/edge/client-auth', { crlPem: crl, reason: 'client-1 key compromised' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.published, true);
    assert.equal(r.json.persisted, true);
    assert.equal(r.json.crl, true);
    assert.equal(r.json.clientAuthSource, 'upload');
    assert.equal(readFileSync(join(dir!, 'a', 'client.crl'), 'utf8'), crl, 'written over A\'s crlFile');
    assert.ok(await revoked(a, client1), 'A refuses client 1 at once');

    await eventually(() => revoked(b, client1), FLEET_MS, 'B refuses client 1 (401 WXSEAL_CLIENT_CERT_INVALID, revoked) within 5 s');
    const took = Date.now() - uploadedAt;
    t.diagnostic(`B refused the revoked client ${took} ms after the CRL upload to A started`);
    assert.ok(took <= FLEET_MS, `${took} ms`);
    const refusal = await probe(b, client1);
    assert.equal(refusal.status, 401);
    assert.equal(refusal.code, 'WXSEAL_CLIENT_CERT_INVALID');
    assert.match(refusal.message, /is revoked \(CRL\) \(CERT_REVOKED\)/);
    for (const gw of [a, b]) assert.ok(await accepted(gw, client2), 'client 2 still works on both');
    const statusB = (await adminB.get('/tls/edge')).json;
    assert.equal(statusB.clientAuthSource, 'fleet');
    assert.equal(statusB.crl, true);
    // (B keeps its own certificate when A's is older — issued a moment before it — and takes the CRL all the same.)

    // The audit names the change and its reason.
    const audit = (await adminA.get('/audit?limit=20')).json.entries as Array<{ action: string; outcome: string; detail?: { reason?: string; crl?: boolean } }>;
    const entry = audit.find((e) => e.action === 'tls.edge.client-auth');
    assert.ok(entry, JSON.stringify(audit.map((e) => e.action)));
    assert.equal(entry.outcome, 'ok');

    // Malformed CRLs: refused with ADMIN_BAD_REQUEST naming crlPem; nothing changes here or in the store.
    const storedBefore = await storedBundle();
    const beforeA = (await adminA.get('/tls/edge')).json;
    const beforeB = (await adminB.get('/tls/edge')).json;
    const garbled = '-----BEGIN X509 CRL-----\nMIIBAAAAAAAAAAAAAAAAAAAAAAAA\n-----END X509 CRL-----\n';
    for (const bad of [garbled, 'not a CRL at all', clientCa.certPem]) {
      const refused = await adminA.post('/tls/edge/client-auth', { crlPem: bad, reason: 'a broken CRL' });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.json.error.code, 'ADMIN_BAD_REQUEST');
      assert.match(refused.json.error.message, /crlPem: (OpenSSL refuses the material|holds no PEM CRL)/);
    }
    const bothMissing = await adminA.post('/tls/edge/client-auth', { reason: 'nothing given' });
    assert.equal(bothMissing.status, 400);
    assert.equal(bothMissing.json.error.code, 'ADMIN_BAD_REQUEST');
    assert.equal(await storedBundle(), storedBefore, 'nothing was published');
    assert.equal(readFileSync(join(dir!, 'a', 'client.crl'), 'utf8'), crl, 'A\'s crlFile untouched');
    const afterA = (await adminA.get('/tls/edge')).json;
    assert.equal(afterA.loadedAt, beforeA.loadedAt, 'A kept its context');
    assert.equal(afterA.lastFailure.source, 'upload');
    assert.equal((await adminB.get('/tls/edge')).json.loadedAt, beforeB.loadedAt, 'B kept its context');
    for (const gw of [a, b]) {
      assert.ok(await revoked(gw, client1), 'client 1 still refused');
      assert.ok(await accepted(gw, client2), 'client 2 still accepted');
    }

    // A certificate renewal without client-auth fields keeps (and republishes) the CRL in force.
    const renewed = await issueCert(serverCa, { cn: 'renewed.test' });
    const up = await adminA.post('/tls/edge', { certPem: renewed.certPem, keyPem: renewed.keyPem, reason: 'renewal' });
    assert.equal(up.status, 200, up.text);
    assert.equal(up.json.clientAuthSource, 'upload');
    await eventually(async () => (await adminB.get('/tls/edge')).json.serial === up.json.serial, FLEET_MS, 'B serves the renewed certificate');
    for (const gw of [a, b]) {
      assert.ok(await revoked(gw, client1), 'client 1 still refused after the renewal');
      assert.ok(await accepted(gw, client2), 'client 2 still accepted after the renewal');
    }
  });

  test('the rule: a SIGHUP re-reading newer files keeps the fleet\'s CRL; the explicit admin reload returns to the files', async () => {
    // B's crlFile is renewed (a newer CRL that revokes nobody) and B is reloaded by SIGHUP (a config reload).
    atomicWrite(join(dir!, 'b', 'client.crl'), await makeCrl(clientCa, []));
    await b.reload(inputs.get(b)!);
    assert.ok(await revoked(b, client1), 'the fleet\'s CRL still wins after a SIGHUP');
    assert.equal((await adminB.get('/tls/edge')).json.clientAuthSource, 'fleet');
    // POST /tls/edge/reload: this instance returns to its files.
    const r = await adminB.post('/tls/edge/reload', { reason: 'back to the files' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.clientAuthSource, 'files');
    assert.ok(await accepted(b, client1), 'B\'s files revoke nobody');
    assert.ok(await revoked(a, client1), 'A is not affected (a local reload)');
    // Back to the fleet's state: useFiles on A publishes "no client-auth material", so every instance uses its files.
    const u = await adminA.post('/tls/edge/client-auth', { useFiles: true, reason: 'CRLs from the files again' });
    assert.equal(u.status, 200, u.text);
    assert.equal(u.json.clientAuthSource, 'files');
    assert.equal(u.json.published, true);
  });
});
