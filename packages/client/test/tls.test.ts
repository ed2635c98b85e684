/**
 * The `tls` option: a custom CA, a client certificate (mutual TLS) and public-key pins, against the
 * client tests' verifier (fixture.ts) served over node:https with a test PKI. The same file runs on
 * the real Node 16.13 (node16-runtime.test.ts), which hands it the PKI made on Node 20.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { WxsealError } from '@wxseal/protocol';
import { createClient, type ClientOptions, type LogEntry, type WxsealClient } from '../src/index.js';
import { makeKeys, startFixture, type Fixture, type FixtureOptions, type TestKeys } from './fixture.js';
import { makeTestPki, type TestPki } from './tls-fixture.js';

let keys: TestKeys;
let pki: TestPki;
const cleanups: Array<() => unknown> = [];

before(async () => {
  keys = makeKeys();
  pki = await makeTestPki();
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function fixture(options: Omit<FixtureOptions, 'keys'>): Promise<Fixture> {
  const f = await startFixture({ keys, ...options });
  cleanups.push(() => f.close());
  return f;
}

function client(baseUrl: string, over: Partial<ClientOptions> = {}): WxsealClient {
  const c = createClient({
    baseUrl,
    keyId: keys.keyId,
    secret: keys.secretB64u,
    serverPublicKey: keys.publicKeyPem,
    serverKeyId: keys.serverKeyId,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...over,
  });
  cleanups.push(() => c.close());
  return c;
}

function logs(): { entries: LogEntry[]; logger: (e: LogEntry) => void } {
  const entries: LogEntry[] = [];
  return { entries, logger: (e) => entries.push(e) };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<WxsealError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WxsealError, `expected a WxsealError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

function causeCode(err: WxsealError): unknown {
  return (err.cause as { code?: unknown } | undefined)?.code;
}

function configRejects(options: Partial<ClientOptions>, message: RegExp): void {
  assert.throws(
    () => client('https://127.0.0.1:1', options),
    (err: unknown) => err instanceof WxsealError && err.code === 'WXSEAL_CONFIG_INVALID' && message.test(err.message),
  );
}

describe('the tls option is checked at createClient (WXSEAL_CONFIG_INVALID naming the field)', () => {
  it('refuses tls for an http: base URL, and together with an Agent instance', () => {
    assert.throws(() => client('http://127.0.0.1:1', { tls: { ca: pki.ca.certPem } }), /tls is set but baseUrl is not https:/);
    const agent = new HttpsAgent();
    cleanups.push(() => agent.destroy());
    configRejects({ agent, tls: { ca: pki.ca.certPem } }, /tls cannot be combined with an http\(s\)\.Agent/);
  });

  it('refuses a certificate without its key, a key without its certificate, and a key of another certificate', () => {
    configRejects({ tls: { cert: pki.client.certPem } }, /tls\.cert is set without tls\.key/);
    configRejects({ tls: { key: pki.client.keyPem } }, /tls\.key is set without tls\.cert/);
    configRejects({ tls: { cert: pki.client.certPem, key: pki.server.keyPem } }, /tls\.key does not match tls\.cert/);
  });

  it('refuses PEM that does not parse (ca, cert, key), and an encrypted key without its passphrase', () => {
    configRejects({ tls: { ca: 'not a certificate' } }, /tls\.ca holds no PEM certificate/);
    const broken = pki.ca.certPem.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    configRejects({ tls: { ca: [pki.ca.certPem, broken] } }, /tls\.ca\[1\]: certificate 1 does not parse/);
    configRejects({ tls: { cert: 'junk', key: pki.client.keyPem } }, /tls\.cert holds no PEM certificate/);
    configRejects({ tls: { cert: pki.client.certPem, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } }, /tls\.key is not a usable PEM private key/);
    const encrypted = createPrivateKey(pki.client.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw-1' }).toString();
    configRejects({ tls: { cert: pki.client.certPem, key: encrypted } }, /tls\.key is not a usable PEM private key \(an encrypted one needs tls\.passphrase\)/);
    configRejects({ tls: { cert: pki.client.certPem, key: encrypted, passphrase: 'wrong' } }, /tls\.key is not a usable/);
    client('https://127.0.0.1:1', { tls: { cert: pki.client.certPem, key: encrypted, passphrase: 'pw-1' } });
  });

  it('refuses pins of the wrong length or form, an empty pin list, a bad servername and unknown fields', () => {
    const short = createHash('sha256').update('x').digest().subarray(0, 31).toString('base64');
    configRejects({ tls: { pinnedPublicKeys: [short] } }, /tls\.pinnedPublicKeys\[0\] must be the base64 SHA-256/);
    configRejects({ tls: { pinnedPublicKeys: [pki.server.spkiSha256, 'sha256//abc='] } }, /tls\.pinnedPublicKeys\[1\]/);
    configRejects({ tls: { pinnedPublicKeys: [pki.server.spkiSha256.replace(/=$/, '')] } }, /tls\.pinnedPublicKeys\[0\]/);
    configRejects({ tls: { pinnedPublicKeys: [] } }, /tls\.pinnedPublicKeys must list 1 to 32 pins/);
    configRejects({ tls: { servername: '127.0.0.1' } }, /tls\.servername must be a DNS name/);
    configRejects({ tls: { rejectUnauthorized: false } as never }, /tls\.rejectUnauthorized is not an option/);
    // Both spellings of a pin are accepted.
    client('https://127.0.0.1:1', { tls: { pinnedPublicKeys: [pki.server.spkiSha256, `sha256//${pki.ca.spkiSha256}`] } });
  });
});

describe('sealed calls over HTTPS (the verifier on node:https, certificates of a test CA)', () => {
  let https: Fixture;
  let mtls: Fixture;
  let mtls12: Fixture;

  before(async () => {
    const serverTls = { cert: pki.server.certPem, key: pki.server.keyPem };
    https = await fixture({ tls: serverTls });
    // Mutual TLS enforced at the handshake: no request of a client without a certificate gets through.
    mtls = await fixture({ tls: { ...serverTls, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true } });
    // TLS 1.2 refuses a missing client certificate within the handshake (1.3 does after the client's Finished).
    mtls12 = await fixture({ tls: { ...serverTls, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' } });
  });

  it('trusts the CA given in tls.ca: a sealed call succeeds and the connection is kept alive', async () => {
    const c = client(https.url, { tls: { ca: pki.ca.certPem } });
    const first = await c.post('/orders', { json: { n: 1 } });
    const second = await c.get('/orders/1');
    assert.equal(first.status, 200);
    assert.equal(JSON.parse(first.json<{ body: string }>().body).n, 1);
    assert.equal(second.status, 200);
    assert.equal(https.received.length, 2);
    assert.equal(https.connections, 1, 'both calls went over one TLS connection');
  });

  it('without tls.ca the built-in CAs refuse the test CA: WXSEAL_TLS_FAILED with the cause, not retried, nothing sent', async () => {
    const before = https.hits;
    const log = logs();
    const err = await rejectsWith(client(https.url, { logger: log.logger }).get('/orders'), 'WXSEAL_TLS_FAILED');
    assert.ok(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'].includes(String(causeCode(err))), String(causeCode(err)));
    assert.deepEqual(
      log.entries.map((e) => [e.event, e.code, e.sent]),
      [['network_error', 'WXSEAL_TLS_FAILED', false]],
      'one attempt: a certificate that failed fails again',
    );
    assert.equal(https.hits, before);
  });

  it('another CA, or a servername the certificate does not carry, fails the handshake (WXSEAL_TLS_FAILED)', async () => {
    const before = https.hits;
    await rejectsWith(client(https.url, { tls: { ca: pki.otherCa.certPem } }).get('/x'), 'WXSEAL_TLS_FAILED');
    const err = await rejectsWith(client(https.url, { tls: { ca: pki.ca.certPem, servername: 'api.example.com' } }).get('/x'), 'WXSEAL_TLS_FAILED');
    assert.equal(causeCode(err), 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(https.hits, before);
    // The name the certificate does carry passes.
    assert.equal((await client(https.url, { tls: { ca: pki.ca.certPem, servername: 'localhost' } }).get('/x')).status, 200);
  });

  it('a pinned key anywhere in the verified chain is accepted: the leaf, or the CA in the sha256// form', async () => {
    const leaf = await client(https.url, { tls: { ca: pki.ca.certPem, pinnedPublicKeys: [pki.otherCa.spkiSha256, pki.server.spkiSha256] } }).post('/a', { json: {} });
    const root = await client(https.url, { tls: { ca: pki.ca.certPem, pinnedPublicKeys: [`sha256//${pki.ca.spkiSha256}`] } }).post('/b', { json: {} });
    assert.equal(leaf.status, 200);
    assert.equal(root.status, 200);
  });

  it('a pin mismatch refuses the connection before any request byte: WXSEAL_TLS_PIN_MISMATCH, not retried, the server saw no request', async () => {
    const hits = https.hits;
    const log = logs();
    const c = client(https.url, { logger: log.logger, tls: { ca: pki.ca.certPem, pinnedPublicKeys: [pki.otherCa.spkiSha256, pki.client.spkiSha256] } });
    // GET: an idempotent call that any other network error would retry.
    const err = await rejectsWith(c.get('/orders'), 'WXSEAL_TLS_PIN_MISMATCH');
    assert.match(err.message, /none of the pinned public keys/);
    assert.deepEqual(log.entries.map((e) => [e.event, e.code, e.sent]), [['network_error', 'WXSEAL_TLS_PIN_MISMATCH', false]]);
    const post = await rejectsWith(c.post('/orders', { json: { secret: 'never sent' } }), 'WXSEAL_TLS_PIN_MISMATCH');
    assert.equal(causeCode(post), 'WXSEAL_TLS_PIN_MISMATCH');
    assert.equal(https.hits, hits, 'no HTTP request reached the server');
  });

  it('mutual TLS: with tls.cert and tls.key the call passes and the server sees that certificate, pinned too', async () => {
    const res = await client(mtls.url, {
      tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, pinnedPublicKeys: [pki.server.spkiSha256] },
    }).post('/orders', { json: { n: 7 }, identity: { openid: 'o-1', appid: 'wx-1' } });
    assert.equal(res.status, 200);
    const seen = mtls.received[mtls.received.length - 1]!;
    assert.equal(seen.clientCertFingerprint, pki.client.fingerprint256);
    assert.equal(seen.mode, 'sealed');
    assert.deepEqual(seen.identity, { openid: 'o-1', appid: 'wx-1' });
  });

  it('mutual TLS: an encrypted key with its passphrase works', async () => {
    const key = createPrivateKey(pki.client.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw-2' }).toString();
    const res = await client(mtls.url, { tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key, passphrase: 'pw-2' } }).get('/x');
    assert.equal(res.status, 200);
  });

  it('mutual TLS without a client certificate: the server refuses it at the TLS layer and no request gets through', async () => {
    const node16 = process.versions.node.split('.')[0] === '16';
    /**
     * Node 20 reads the server's alert (116 certificate required in TLS 1.3, after the client's
     * Finished; 40 handshake failure in TLS 1.2) and reports WXSEAL_TLS_FAILED. Node 16.13 does not
     * surface the alert: it sees the connection close (ECONNRESET), a plain WXSEAL_NETWORK.
     */
    const refused = async (call: Promise<unknown>, alert: RegExp): Promise<WxsealError> => {
      const err = await call.then(
        () => assert.fail('the call succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WxsealError, String(err));
      if (err.code === 'WXSEAL_TLS_FAILED') assert.match(String(causeCode(err)), alert);
      else {
        assert.ok(node16, `${err.code} on Node ${process.version}: ${err.message}`);
        assert.equal(err.code, 'WXSEAL_NETWORK', err.message);
        assert.equal(causeCode(err), 'ECONNRESET');
      }
      return err;
    };
    const hits = mtls.hits;
    const log = logs();
    const err = await refused(client(mtls.url, { logger: log.logger, tls: { ca: pki.ca.certPem } }).post('/orders', { json: {} }), /CERTIFICATE_REQUIRED/);
    // A POST that may have been written is not repeated, TLS failure or not.
    assert.equal(log.entries.filter((e) => e.event === 'network_error').length, 1, err.message);
    assert.equal(mtls.hits, hits);
    assert.ok(mtls.tlsErrors.includes('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), mtls.tlsErrors.join(', '));

    // TLS 1.2 refuses within the handshake: nothing was sent.
    const log12 = logs();
    const err12 = await refused(client(mtls12.url, { logger: log12.logger, tls: { ca: pki.ca.certPem } }).get('/orders'), /HANDSHAKE_FAILURE|EPROTO/);
    const failures = log12.entries.filter((e) => e.event === 'network_error');
    assert.ok(failures.every((e) => e.sent === false));
    // A TLS failure is not retried; a bare connection reset before anything was sent is (Node 16).
    assert.equal(failures.length, err12.code === 'WXSEAL_TLS_FAILED' ? 1 : 3);
    assert.equal(mtls12.hits, 0);
    // And with the certificate the same server answers.
    const ok = await client(mtls12.url, { tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } }).get('/orders');
    assert.equal(ok.status, 200);
    assert.equal(mtls12.received[0]!.clientCertFingerprint, pki.client.fingerprint256);
  });
});
