// SM3, HMAC-SM3 and HKDF-SM3 against GB/T 32905's examples and the OpenSSL 3 command line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hkdfSm3, hmacSm3, sm3 } from '../src/index.js';
import { file, openssl } from './openssl.js';

/** The hex digest out of `openssl dgst`/`openssl mac` output ("SM3(stdin)= …" or bare hex). */
const hexOut = (out: Buffer): string => out.toString().trim().split(/\s+/).pop()!.toLowerCase();

describe('SM3 (GB/T 32905)', () => {
  it('the standard\'s example 1: "abc"', () => {
    assert.equal(sm3('abc').toString('hex'), '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
  });
  it('the standard\'s example 2: "abcd" × 16 (64 bytes)', () => {
    assert.equal(sm3('abcd'.repeat(16)).toString('hex'), 'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732');
  });
  it('random inputs of every length around the block and padding boundaries: as openssl dgst -sm3', () => {
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4097]) {
      const data = randomBytes(len);
      assert.equal(sm3(data).toString('hex'), hexOut(openssl(['dgst', '-sm3', '-r'], data).subarray(0, 64)), `length ${len}`);
    }
  });
});

describe('HMAC-SM3', () => {
  it('as openssl mac -digest SM3 HMAC, for short, block-sized and long keys', () => {
    for (const keyLen of [1, 16, 32, 64, 65, 100]) {
      const key = randomBytes(keyLen);
      const data = randomBytes(37 * keyLen);
      const expected = hexOut(openssl(['mac', '-digest', 'SM3', '-macopt', `hexkey:${key.toString('hex')}`, '-in', file(data), 'HMAC']));
      assert.equal(hmacSm3(key, data).toString('hex'), expected, `key length ${keyLen}`);
    }
  });
});

describe('HKDF-SM3', () => {
  it('as openssl kdf HKDF with digest SM3', () => {
    for (const length of [16, 32, 42, 100]) {
      const ikm = randomBytes(32);
      const salt = randomBytes(13);
      const info = randomBytes(9);
      const out = openssl(['kdf', '-keylen', String(length), '-kdfopt', 'digest:SM3', '-kdfopt', `hexkey:${ikm.toString('hex')}`, '-kdfopt', `hexsalt:${salt.toString('hex')}`, '-kdfopt', `hexinfo:${info.toString('hex')}`, 'HKDF']);
      assert.equal(hkdfSm3(ikm, salt, info, length).toString('hex'), out.toString().trim().replace(/:/g, '').toLowerCase(), `length ${length}`);
    }
  });
});
