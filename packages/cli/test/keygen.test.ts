import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WxsealError, b64uDecodeStrict, unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol';
import { keygen, serverKeyIdOf } from '../src/commands/keygen.js';
import { loadClientConfig } from '../src/config.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'wxseal-keygen-'));

describe('wxseal keygen', () => {
  test('writes a matching key pair, a 32-byte secret and configs, private files 0600', () => {
    const out = fresh();
    const r = keygen({ out, bits: 2048, keyId: 'bff-test', baseUrl: 'http://127.0.0.1:9', force: false });
    const priv = createPrivateKey(readFileSync(join(out, 'server-private.pem')));
    const pub = createPublicKey(readFileSync(join(out, 'server-public.pem')));
    assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(r.serverKeyId, serverKeyIdOf(pub));
    assert.match(r.serverKeyId, /^sk-[0-9a-f]{16}$/);
    const session = Buffer.alloc(32, 9);
    assert.deepEqual(unwrapSessionKey(priv, wrapSessionKey(pub, session)), session);
    for (const f of ['server-private.pem', 'client-secret.txt', 'client.json', 'server.json']) {
      assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f);
    }
    const cfg = loadClientConfig(join(out, 'client.json'));
    assert.equal(cfg.keyId, 'bff-test');
    assert.equal(cfg.serverKeyId, r.serverKeyId);
    assert.equal(b64uDecodeStrict(cfg.secret)?.length, 32);
    assert.equal(cfg.serverPublicKey, readFileSync(join(out, 'server-public.pem'), 'utf8'));
  });

  test('two runs give different keys and secrets', () => {
    const a = fresh();
    const b = fresh();
    const ra = keygen({ out: a, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    const rb = keygen({ out: b, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    assert.notEqual(ra.serverKeyId, rb.serverKeyId);
    assert.notEqual(readFileSync(join(a, 'client-secret.txt'), 'utf8'), readFileSync(join(b, 'client-secret.txt'), 'utf8'));
  });

  test('refuses to overwrite without --force, and rejects bad options', () => {
    const out = fresh();
    keygen({ out, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false });
    const before = readFileSync(join(out, 'server-private.pem'), 'utf8');
    assert.throws(() => keygen({ out, bits: 2048, keyId: 'x', baseUrl: 'http://h', force: false }), (e: WxsealError) => e.code === 'WXSEAL_CONFIG_INVALID');
    assert.equal(readFileSync(join(out, 'server-private.pem'), 'utf8'), before);
    assert.throws(() => keygen({ out: fresh(), bits: 1024, keyId: 'x', baseUrl: 'http://h', force: false }), /bits/);
    assert.throws(() => keygen({ out: fresh(), bits: 2048, keyId: 'bad id', baseUrl: 'http://h', force: false }), /key-id/);
  });
});

describe('client config', () => {
  const write = (obj: unknown) => {
    const dir = fresh();
    const p = join(dir, 'c.json');
    writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
    return p;
  };
  const secret = Buffer.alloc(32, 1).toString('base64url');
  test('reads the secret from an environment variable', () => {
    const p = write({ baseUrl: 'http://h', keyId: 'k', secretEnv: 'WXSEAL_TEST_SECRET', mode: 'signed' });
    assert.equal(loadClientConfig(p, { WXSEAL_TEST_SECRET: secret }).secret, secret);
  });
  for (const [name, cfg, pattern] of [
    ['not JSON', '{', /cannot read/],
    ['no baseUrl', { keyId: 'k', secret, mode: 'signed' }, /baseUrl/],
    ['ftp baseUrl', { baseUrl: 'ftp://h', keyId: 'k', secret, mode: 'signed' }, /http or https/],
    ['two secret sources', { baseUrl: 'http://h', keyId: 'k', secret, secretEnv: 'X', mode: 'signed' }, /exactly one/],
    ['short secret', { baseUrl: 'http://h', keyId: 'k', secret: 'AAAA', mode: 'signed' }, /at least 32 bytes/],
    ['unset env', { baseUrl: 'http://h', keyId: 'k', secretEnv: 'WXSEAL_NOPE', mode: 'signed' }, /WXSEAL_NOPE/],
    ['sealed without server key', { baseUrl: 'http://h', keyId: 'k', secret }, /serverKeyId/],
  ] as const) {
    test(`rejects a config with ${name}`, () => {
      assert.throws(() => loadClientConfig(write(cfg), {}), (e: WxsealError) => e.code === 'WXSEAL_CONFIG_INVALID' && (pattern as RegExp).test(e.message));
    });
  }
});
