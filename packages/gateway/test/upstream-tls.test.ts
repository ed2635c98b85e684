// TLS from the gateway to an https:// upstream (routes[].tls): an upstream with a test CA that
// requires a client certificate; the gateway's CA, client certificate and pins; hot reload of the
// client certificate with no failed request; a broken replacement kept out; the expiry gauge; and
// the config checks.
import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { WxsealClient } from '@wxseal/client';
import { GatewayConfigError, loadGatewayConfig, startGateway, type GatewayConfigInput, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, eventually, makeKeys, tempDir, writeYaml } from '../../../tests/support/gateway.js';
import { issueCert, makeCa, type TestCa, type TlsMaterial } from '../../../tests/support/tls-certs.js';

const keys = makeKeys('bff-upstream-tls');

interface SeenTls {
  url: string;
  /** The client certificate the gateway presented on this request's connection. */
  clientCert: string | undefined;
}

interface HttpsUpstream {
  url: string;
  seen: SeenTls[];
  /** Handshakes the upstream refused (tlsClientError codes). */
  refused: string[];
  /** Requests to `/…/hold` wait until this is called. */
  release(): void;
  close(): Promise<void>;
}

/** An HTTPS upstream that requires a client certificate of `ca` and records the one each request came with. */
async function startHttpsUpstream(ca: TestCa, server: TlsMaterial): Promise<HttpsUpstream> {
  const seen: SeenTls[] = [];
  const refused: string[] = [];
  let release = (): void => undefined;
  const held = new Promise<void>((r) => (release = r));
  const srv: Server = createHttpsServer({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, async (req, res) => {
    for await (const chunk of req) void chunk;
    const cert = (req.socket as TLSSocket).getPeerCertificate();
    seen.push({ url: req.url ?? '', clientCert: cert?.fingerprint256 });
    if ((req.url ?? '').includes('/hold')) await held;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, clientCert: cert?.fingerprint256 ?? null }));
  });
  srv.on('tlsClientError', (err: NodeJS.ErrnoException) => refused.push(err.code ?? err.message));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen,
    refused,
    release,
    close: () =>
      new Promise<void>((r) => {
        release();
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Replaces a file the way deployment tools do: a new file renamed over the old one. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

describe('gateway → upstream over HTTPS (routes[].tls)', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let serverCert: TlsMaterial;
  let client1: TlsMaterial;
  let client2: TlsMaterial;
  let upstream: HttpsUpstream;
  let gw: RunningGateway;
  let client: WxsealClient;
  let dir: string;
  const logs = captureLogger();
  const file = (name: string): string => join(dir, name);

  before(async () => {
    dir = tempDir();
    ca = await makeCa('upstream test CA');
    otherCa = await makeCa('unrelated CA');
    serverCert = await issueCert(ca, { cn: 'localhost' });
    client1 = await issueCert(ca, { cn: 'gateway-1', usage: 'client' });
    client2 = await issueCert(ca, { cn: 'gateway-2', usage: 'client' });
    writeFileSync(file('ca.pem'), ca.certPem);
    writeFileSync(file('other-ca.pem'), otherCa.certPem);
    writeFileSync(file('client.pem'), client1.certPem);
    writeFileSync(file('client.key'), client1.keyPem, { mode: 0o600 });
    upstream = await startHttpsUpstream(ca, serverCert);
    const tls = { caFile: 'ca.pem', certFile: 'client.pem', keyFile: 'client.key' };
    const config = baseConfig(keys, upstream.url, {
      routes: [
        { name: 'secure', prefix: '/api', upstream: upstream.url, mode: 'sealed-or-signed', tls: { ...tls, pinnedPublicKeys: [`sha256//${serverCert.spkiSha256}`] } },
        { name: 'pinned-ca', prefix: '/ca-pin', upstream: upstream.url, mode: 'sealed', tls: { ...tls, pinnedPublicKeys: [ca.spkiSha256] } },
        { name: 'wrong-ca', prefix: '/wrong-ca', upstream: upstream.url, mode: 'sealed', tls: { ...tls, caFile: 'other-ca.pem' } },
        { name: 'bad-pin', prefix: '/bad-pin', upstream: upstream.url, mode: 'sealed', tls: { ...tls, pinnedPublicKeys: [otherCa.spkiSha256] } },
        { name: 'no-cert', prefix: '/no-cert', upstream: upstream.url, mode: 'passthrough', tls: { caFile: 'ca.pem' } },
      ],
    });
    // From a file, so that reload() re-reads it (what SIGHUP does).
    gw = await startGateway(writeYaml(dir, 'gateway.yaml', config), { logger: logs.logger });
    client = clientFor(keys, gw.url);
  });

  after(async () => {
    client?.close();
    await gw?.close();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a sealed call goes through: the upstream verified with caFile, the client certificate presented, the pin matched', async () => {
    const res = await client.post('/api/orders', { json: { n: 1 } });
    assert.equal(res.status, 200);
    assert.equal(res.json<{ clientCert: string }>().clientCert, client1.fingerprint256);
    // A pin on the CA matches too: any certificate of the verified chain may.
    assert.equal((await client.get('/ca-pin/x')).status, 200);
    assert.equal(upstream.seen.at(-1)!.clientCert, client1.fingerprint256);
  });

  test('an upstream certificate of another CA: WXSEAL_UPSTREAM_UNAVAILABLE, and the log says why', async () => {
    const before = upstream.seen.length;
    const res = await client.post('/wrong-ca/orders', { json: {} });
    assert.equal(res.status, 502);
    assert.deepEqual(res.json(), { error: { code: 'WXSEAL_UPSTREAM_UNAVAILABLE', message: 'the upstream service cannot be reached' } });
    assert.equal(upstream.seen.length, before);
    const line = logs.lines.find((l) => l.includes('"route":"wrong-ca"') && l.includes('upstream failed'));
    assert.ok(line, 'the failure is logged');
    assert.match(line, /upstream TLS handshake failed: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
  });

  test('a pin mismatch: refused before any request reaches the upstream, answered WXSEAL_UPSTREAM_UNAVAILABLE, logged', async () => {
    const before = upstream.seen.length;
    const res = await client.post('/bad-pin/orders', { json: { secret: 'not for an impostor' } });
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'WXSEAL_UPSTREAM_UNAVAILABLE');
    assert.equal(upstream.seen.length, before, 'the upstream saw no request');
    const line = logs.lines.find((l) => l.includes('"route":"bad-pin"') && l.includes('upstream failed'));
    assert.ok(line);
    assert.match(line, /none of the pinned public keys/);
  });

  test('without a client certificate the upstream refuses the connection: no request reaches it, WXSEAL_UPSTREAM_UNAVAILABLE', async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw.url}/no-cert/x`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'WXSEAL_UPSTREAM_UNAVAILABLE');
    assert.equal(upstream.seen.length, before);
    assert.ok(upstream.refused.includes('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), upstream.refused.join(', '));
  });

  test('the expiry gauge lists the upstream CA and client certificate of each route', async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const client = sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-client",name="secure",subject="CN=gateway-1"}');
    const caLeft = sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-ca",name="secure",subject="CN=upstream test CA"}');
    assert.ok(client !== undefined && client > 360 * 86_400 && client <= 365 * 86_400, String(client));
    assert.ok(caLeft !== undefined && caLeft > 3000 * 86_400, String(caLeft));
    assert.ok(sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-ca",name="wrong-ca",subject="CN=unrelated CA"}') !== undefined);
    assert.equal(sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-client",name="no-cert",subject="CN=gateway-1"}'), undefined);
  });

  test('a new client certificate in the files is used by the next requests, and no request fails meanwhile', async () => {
    // One request in flight on a connection made with the old certificate, across the swap.
    const held = client.get('/api/hold');
    await eventually(async () => upstream.seen.some((s) => s.url.includes('/hold')), 5000, 'the held request reached the upstream');
    const outcomes: number[] = [];
    let stop = false;
    // Requests keep coming while the files change.
    const traffic = (async () => {
      while (!stop) outcomes.push((await client.get('/api/during')).status);
    })();
    try {
      replaceFile(file('client.key'), client2.keyPem);
      replaceFile(file('client.pem'), client2.certPem);
      await eventually(async () => (await client.get('/api/after')).json<{ clientCert: string }>().clientCert === client2.fingerprint256, 10_000, 'the new certificate in use');
    } finally {
      stop = true;
      await traffic;
    }
    upstream.release();
    const old = await held;
    assert.equal(old.status, 200, 'the request in flight on the old pool completed');
    assert.equal(old.json<{ clientCert: string }>().clientCert, client1.fingerprint256);
    assert.ok(outcomes.length > 0);
    assert.deepEqual([...new Set(outcomes)], [200], 'no request failed during the swap');
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.equal(sample(text, 'wxseal_gateway_tls_reloads_total{target="upstream:secure",result="success"}'), 1);
    assert.ok(sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-client",name="secure",subject="CN=gateway-2"}') !== undefined, 'the gauge shows the new certificate');
    assert.equal(sample(text, 'wxseal_tls_certificate_expiry_seconds{role="upstream-client",name="secure",subject="CN=gateway-1"}'), undefined);
    assert.ok(logs.lines.some((l) => l.includes('tls: upstream material loaded') && l.includes(client2.fingerprint256)));
  });

  test('a broken replacement is refused: the current certificate stays, the failure is counted and logged without key material', async () => {
    const failures = async (): Promise<number> => sample(await (await fetch(`${gw.adminUrl}/metrics`)).text(), 'wxseal_gateway_tls_reloads_total{target="upstream:secure",result="failure"}') ?? 0;
    const before = await failures();
    // A key of another certificate: both files parse, the pair does not match.
    replaceFile(file('client.key'), client1.keyPem);
    await eventually(async () => (await failures()) > before, 10_000, 'the failed reload counted');
    const res = await client.get('/api/still');
    assert.equal(res.json<{ clientCert: string }>().clientCert, client2.fingerprint256, 'the previous material stays in force');
    const line = logs.lines.find((l) => l.includes('upstream certificate reload failed'));
    assert.ok(line);
    assert.match(line, /keyFile/);
    assert.match(line, /does not match the certificate/);
    assert.ok(!line.includes('PRIVATE KEY') && !line.includes(client1.keyPem.split('\n')[1]!), 'no key material in the log');
    // Put the right key back: the pair reloads.
    replaceFile(file('client.key'), client2.keyPem);
  });

  test('SIGHUP (reload()): the files are read again with the config; a broken file fails the reload and keeps the material', async () => {
    replaceFile(file('client.key'), client1.keyPem);
    replaceFile(file('client.pem'), client1.certPem);
    // Whether the watch or the reload sees it first, the next requests use certificate 1.
    await gw.reload();
    assert.equal((await client.get('/api/reloaded')).json<{ clientCert: string }>().clientCert, client1.fingerprint256);
    writeFileSync(file('client.pem'), 'not a certificate');
    await assert.rejects(gw.reload(), (e: unknown) => e instanceof GatewayConfigError && /routes\[0\]\.tls\.certFile: holds no PEM certificate/.test(e.message));
    assert.equal((await client.get('/api/kept')).json<{ clientCert: string }>().clientCert, client1.fingerprint256);
    replaceFile(file('client.pem'), client1.certPem);
  });
});

describe('routes[].tls is checked when the config loads', () => {
  let dir: string;
  let ca: TestCa;
  let cert: TlsMaterial;
  let other: TlsMaterial;

  before(async () => {
    dir = tempDir();
    ca = await makeCa('config check CA');
    cert = await issueCert(ca, { cn: 'gw', usage: 'client' });
    other = await issueCert(ca, { cn: 'other', usage: 'client' });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'c.pem'), cert.certPem);
    writeFileSync(join(dir, 'c.key'), cert.keyPem);
    writeFileSync(join(dir, 'other.key'), other.keyPem);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const load = (tls: Record<string, unknown>, upstream = 'https://127.0.0.1:8443', env: Record<string, string> = {}): unknown =>
    loadGatewayConfig(baseConfig(keys, upstream, { routes: [{ prefix: '/api', upstream, tls } as never] }) as GatewayConfigInput, { baseDir: dir, env });

  const refused = (tls: Record<string, unknown>, message: RegExp, upstream?: string, env?: Record<string, string>): void => {
    assert.throws(
      () => load(tls, upstream, env),
      (e: unknown) => e instanceof GatewayConfigError && e.code === 'WXSEAL_CONFIG_INVALID' && message.test(e.message),
    );
  };

  test('a valid tls loads, with the material read and the pins normalised; nothing secret is enumerable', () => {
    const config = load({ caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'c.key', pinnedPublicKeys: [`sha256//${ca.spkiSha256}`] }) as { routes: Array<{ tls: Record<string, unknown> }> };
    const tls = config.routes[0]!.tls;
    assert.deepEqual(tls.pinnedPublicKeys, [ca.spkiSha256]);
    assert.equal(tls.certFile, join(dir, 'c.pem'));
    assert.ok(!JSON.stringify(config.routes).includes('PRIVATE KEY'));
  });

  test('only with an https:// upstream; never with rejectUnauthorized', () => {
    refused({ caFile: 'ca.pem' }, /routes\[0\]\.tls: needs an https:\/\/ upstream/, 'http://127.0.0.1:8080');
    refused({ caFile: 'ca.pem', rejectUnauthorized: false }, /routes\[0\]\.tls\.rejectUnauthorized: unknown field/);
  });

  test('files that cannot be read or parsed, a key of another certificate, a certificate without its key', () => {
    refused({ caFile: 'missing.pem' }, /routes\[0\]\.tls\.caFile: cannot read .*missing\.pem: ENOENT/);
    refused({ caFile: 'c.key' }, /routes\[0\]\.tls\.caFile: holds no PEM certificate/);
    refused({ certFile: 'c.pem', keyFile: 'other.key' }, /routes\[0\]\.tls\.keyFile: does not match the certificate of certFile/);
    refused({ certFile: 'c.pem', keyFile: 'ca.pem' }, /routes\[0\]\.tls\.keyFile: not a usable PEM private key/);
    refused({ certFile: 'c.pem' }, /routes\[0\]\.tls\.certFile: needs keyFile/);
    refused({ certFile: 'c.pem', keyFile: 'c.key', passphraseEnv: 'WXSEAL_TEST_UPSTREAM_PASS' }, /routes\[0\]\.tls\.passphraseEnv: environment variable WXSEAL_TEST_UPSTREAM_PASS is not set/);
  });

  test('pins must be base64 SHA-256 digests', () => {
    refused({ pinnedPublicKeys: ['sha256//abc='] }, /routes\[0\]\.tls\.pinnedPublicKeys\[0\]: must be the base64 SHA-256/);
    refused({ pinnedPublicKeys: [] }, /routes\[0\]\.tls\.pinnedPublicKeys: must list at least one pin/);
  });
});
