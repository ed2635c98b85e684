// hkdf.ts builds HKDF-SHA256 from HMAC for speed: it must be RFC 5869 exactly.
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hkdfExpand, hkdfExtract, hkdfSha256 } from '../src/primitives.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

// RFC 5869 appendix A, the three SHA-256 test cases.
const RFC5869 = [
  {
    name: 'A.1 basic',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs and outputs',
    ikm: Buffer.from(Array.from({ length: 80 }, (_, i) => i)).toString('hex'),
    salt: Buffer.from(Array.from({ length: 80 }, (_, i) => 0x60 + i)).toString('hex'),
    info: Buffer.from(Array.from({ length: 80 }, (_, i) => 0xb0 + i)).toString('hex'),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '',
    info: '',
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

describe('HKDF-SHA256 from HMAC (hkdf.ts)', () => {
  for (const c of RFC5869) {
    test(`RFC 5869 ${c.name}: PRK and OKM`, () => {
      assert.equal(hkdfExtract(hex(c.salt), hex(c.ikm)).toString('hex'), c.prk);
      assert.equal(hkdfExpand(hex(c.prk), hex(c.info), c.length).toString('hex'), c.okm);
      assert.equal(hkdfSha256(hex(c.ikm), hex(c.salt), hex(c.info), c.length).toString('hex'), c.okm);
    });
  }

  test('equals node:crypto hkdfSync for random inputs, lengths 0-300 and text or byte info', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.string({ maxLength: 40 })),
        fc.integer({ min: 0, max: 300 }),
        (ikm, salt, info, length) => {
          const expected = Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
          assert.deepEqual(hkdfSha256(ikm, salt, info, length), expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('refuses an output longer than 255 blocks', () => {
    assert.throws(() => hkdfExpand(Buffer.alloc(32), '', 255 * 32 + 1), RangeError);
    assert.equal(hkdfExpand(Buffer.alloc(32), '', 255 * 32).length, 255 * 32);
  });
});
