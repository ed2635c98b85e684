// The encrypted envelope: round trip, fresh IV each time, no plaintext in the sealed text, and
// every way a value can be wrong (another key, another subject, another purpose, altered,
// truncated, malformed, oversized) refused with FLEET_SYNC_REJECTED; fleet keys parsed strictly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SubjectCipher, isFleetSyncError, parseFleetKey } from '../src/index.js';

const key = randomBytes(32);
const salt = 'wxseal/test/purpose';
const rejected = (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_REJECTED');

test('seal / open round trip; a fresh IV per seal; nothing in clear', () => {
  const c = new SubjectCipher(key, { salt, subject: 'edge:public' });
  const secret = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';
  const a = c.seal(secret);
  const b = c.seal(secret);
  assert.notEqual(a, b, 'two seals of one plaintext differ');
  assert.equal(c.open(a), secret);
  assert.equal(c.open(b), secret);
  assert.ok(!a.includes('PRIVATE KEY') && !a.includes('abc'));
  const env = JSON.parse(a) as { v: number; alg: string; iv: string; data: string };
  assert.deepEqual(Object.keys(env), ['v', 'alg', 'iv', 'data']);
  assert.equal(Buffer.from(env.iv, 'base64url').length, 12);
  // A second cipher built from the same key, salt and subject (another instance) opens it.
  assert.equal(new SubjectCipher(Buffer.from(key), { salt, subject: 'edge:public' }).open(a), secret);
});

test('refused: another fleet key, another subject, another salt, altered, truncated, malformed, oversized', () => {
  const c = new SubjectCipher(key, { salt, subject: 'edge:public' });
  const sealed = c.seal('hello');
  assert.throws(
    () => new SubjectCipher(randomBytes(32), { salt, subject: 'edge:public' }).open(sealed),
    (e: unknown) => rejected(e) && !String(e).includes((JSON.parse(sealed) as { data: string }).data),
    'another key; the message does not quote the value',
  );
  assert.throws(() => new SubjectCipher(key, { salt, subject: 'edge:admin' }).open(sealed), rejected);
  assert.throws(() => new SubjectCipher(key, { salt: 'wxseal/other', subject: 'edge:public' }).open(sealed), rejected);
  const env = JSON.parse(sealed) as { data: string; iv: string };
  const data = Buffer.from(env.data, 'base64url');
  data[0] = data[0]! ^ 1;
  assert.throws(() => c.open(JSON.stringify({ ...env, data: data.toString('base64url') })), rejected, 'a flipped bit');
  assert.throws(() => c.open(JSON.stringify({ ...env, data: Buffer.from(env.data, 'base64url').subarray(0, 10).toString('base64url') })), rejected, 'truncated');
  assert.throws(() => c.open(JSON.stringify({ ...env, iv: 'AAAA' })), rejected, 'short IV');
  for (const bad of ['', 'null', '{}', 'not json', '{"v":2,"alg":"A256GCM","iv":"x","data":"y"}', JSON.stringify({ ...env, alg: 'none' })]) {
    assert.throws(() => c.open(bad), rejected, bad);
  }
  assert.throws(() => c.open(sealed, 10), rejected, 'longer than the bound');
});

test('fleet keys: 32 bytes in base64 or base64url, canonical; anything else is FLEET_SYNC_CONFIG without the text', () => {
  const raw = randomBytes(32);
  assert.deepEqual(parseFleetKey(raw.toString('base64')), raw);
  assert.deepEqual(parseFleetKey(` ${raw.toString('base64url')}\n`), raw);
  const config = (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG') && !String(e).includes('c2hvcnQ');
  for (const bad of ['', 'c2hvcnQ=', randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), `${raw.toString('base64').slice(0, 42)}B=`]) {
    assert.throws(() => parseFleetKey(bad), config, bad);
  }
  assert.throws(() => new SubjectCipher(randomBytes(16), { salt, subject: 's' }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG'));
  assert.throws(() => new SubjectCipher(key, { salt, subject: 'a b' }), (e: unknown) => isFleetSyncError(e, 'FLEET_SYNC_CONFIG'));
});
