// State directory for the CLI: created once (0600 files), reused afterwards; client.json works.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { decryptResponse, verifyResponseSignature } from '@wxseal/wechat';
import { STATE_FILES, createCertificate, loadOrCreateMockWechatState, runMockWechatFromState, type MockMpApp, type MockMpClientConfig } from '@wxseal/mock-wechat';
import { securedCall, stableToken } from './helpers.js';

describe('state directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'mock-wechat-state-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('first run creates the state (0600), later runs reuse it; client.json drives a secured call', async () => {
    const dir = join(root, 'state');
    const first = await runMockWechatFromState({ stateDir: dir, port: 0 });
    let port: number;
    let client: MockMpClientConfig;
    try {
      assert.equal(first.created, true);
      port = first.mock.port;
      for (const f of Object.values(STATE_FILES)) {
        assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
      }
      assert.equal(statSync(dir).mode & 0o077, 0, 'directory not readable by others');
      client = JSON.parse(readFileSync(first.clientConfigPath, 'utf8')) as MockMpClientConfig;
      assert.deepEqual(Object.keys(client).sort(), ['appid', 'baseUrl', 'platformCertificates', 'privateKeyPem', 'privateKeySn', 'secret', 'symKey', 'symSn']);
      assert.equal(client.baseUrl, first.mock.url);

      // Use client.json exactly as a developer would.
      const app = { client } as unknown as MockMpApp;
      const token = (await stableToken(first.mock, client.appid, client.secret)).access_token as string;
      const { urlPath, answer } = await securedCall(first.mock, app, token, '/wxa/getuserriskrank', { params: { openid: 'o1', scene: 0 } });
      const sig = verifyResponseSignature({ urlPath, appid: client.appid, headers: answer.headers, body: answer.text, certificates: client.platformCertificates });
      const dec = decryptResponse({ urlPath, appid: client.appid, timestamp: sig.timestamp, symKey: client.symKey, symSn: client.symSn, body: answer.text });
      assert.equal(dec.data.errmsg, 'getuserriskrank succ');
      // The dev app accepts any login code once.
      const q = new URLSearchParams({ appid: client.appid, secret: client.secret, js_code: 'dev', grant_type: 'authorization_code' });
      assert.equal(typeof ((await (await fetch(`${first.mock.url}/sns/jscode2session?${q}`)).json()) as { openid: unknown }).openid, 'string');
    } finally {
      await first.mock.close();
    }

    const keyBefore = readFileSync(join(dir, STATE_FILES.platformKey), 'utf8');
    const second = await runMockWechatFromState({ stateDir: dir, port });
    try {
      assert.equal(second.created, false);
      assert.equal(second.mock.port, port);
      assert.equal(readFileSync(join(dir, STATE_FILES.platformKey), 'utf8'), keyBefore);
      assert.equal(second.clientConfig.appid, client.appid);
      assert.equal(second.clientConfig.symKey, client.symKey);
      assert.deepEqual(second.clientConfig.platformCertificates, client.platformCertificates);
    } finally {
      await second.mock.close();
    }
  });

  test('an incomplete state is refused, not overwritten', async () => {
    const dir = join(root, 'partial');
    await loadOrCreateMockWechatState(dir);
    rmSync(join(dir, STATE_FILES.app));
    await assert.rejects(loadOrCreateMockWechatState(dir), /incomplete/);
    writeFileSync(join(dir, STATE_FILES.app), '{"config":{"appid":"bad id"},"client":{}}');
    await assert.rejects(loadOrCreateMockWechatState(dir));
  });

  test('certificate generation is reusable (CA-issued certificates, X.509 serials for WeChat Pay)', async () => {
    const ca = await createCertificate({ subject: 'CN=mock root CA', isCa: true });
    const leaf = await createCertificate({ subject: 'CN=mock pay platform', issuer: ca });
    const x = new X509Certificate(leaf.certificatePem);
    assert.equal(x.checkIssued(new X509Certificate(ca.certificatePem)), true);
    assert.equal(x.verify(new X509Certificate(ca.certificatePem).publicKey), true);
    assert.equal(x.serialNumber.toUpperCase(), leaf.x509SerialHex);
    assert.equal(new X509Certificate(ca.certificatePem).ca, true);
  });
});
