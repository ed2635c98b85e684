/**
 * SipHash-c-d with a 64-bit result, in 32-bit halves (no BigInt: it allocates and is slow on a
 * hot path). The Bloom filter uses SipHash-1-3, the variant Rust's and CPython's hash tables use:
 * fast, and keyed without seed-independent collisions (unlike seeded MurmurHash or xxHash), so a
 * random per-process key really stops outsiders from precomputing serials that hit the filter.
 * It is used as a hash-table hash here, not as a MAC.
 */

/** A SipHash key as four little-endian 32-bit words: k0 low, k0 high, k1 low, k1 high. */
export type SipKey = Readonly<Uint32Array>;

/** Turns 16 key bytes into a SipKey. */
export function sipKey(bytes: Uint8Array): SipKey {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) throw new RangeError('a SipHash key is 16 bytes');
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = readU32(bytes, i * 4);
  return words;
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/**
 * SipHash-c-d of `bytes[0..length)`. Writes the 64-bit result into `out` as [low word, high word]
 * (so out[0] is the first four bytes of the reference implementation's little-endian output).
 */
export function sipHash(key: SipKey, bytes: Uint8Array, length: number, cRounds: number, dRounds: number, out: Uint32Array): void {
  // Plain locals and the round written out twice: V8 keeps them in registers. (A shared round
  // function over module variables was three to five times slower.)
  const k0l = key[0]!, k0h = key[1]!, k1l = key[2]!, k1h = key[3]!;
  let v0l = (k0l ^ 0x70736575) >>> 0;
  let v0h = (k0h ^ 0x736f6d65) >>> 0;
  let v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0;
  let v2l = (k0l ^ 0x6e657261) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0;
  let v3l = (k1l ^ 0x79746573) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0;
  let lo = 0;
  let t = 0;

  // Every 8-byte block, then the last one: the remaining 0-7 bytes and the length's low byte on top.
  const end = length - (length & 7);
  for (let i = 0; i <= end; i += 8) {
    let ml: number;
    let mh: number;
    if (i < end) {
      ml = readU32(bytes, i);
      mh = readU32(bytes, i + 4);
    } else {
      ml = 0;
      mh = (length & 0xff) << 24;
      for (let j = 0; j < (length & 7); j++) {
        const byte = bytes[end + j]!;
        if (j < 4) ml |= byte << (8 * j);
        else mh |= byte << (8 * (j - 4));
      }
      ml >>>= 0;
      mh >>>= 0;
    }
    v3l = (v3l ^ ml) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    for (let r = 0; r < cRounds; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      lo = (v0l + v1l) >>> 0;
      v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      t = ((v1h << 13) | (v1l >>> 19)) >>> 0;
      v1l = (((v1l << 13) | (v1h >>> 19)) ^ v0l) >>> 0;
      v1h = (t ^ v0h) >>> 0;
      t = v0l;
      v0l = v0h;
      v0h = t;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      lo = (v2l + v3l) >>> 0;
      v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      t = ((v3h << 16) | (v3l >>> 16)) >>> 0;
      v3l = (((v3l << 16) | (v3h >>> 16)) ^ v2l) >>> 0;
      v3h = (t ^ v2h) >>> 0;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      lo = (v0l + v3l) >>> 0;
      v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      t = ((v3h << 21) | (v3l >>> 11)) >>> 0;
      v3l = (((v3l << 21) | (v3h >>> 11)) ^ v0l) >>> 0;
      v3h = (t ^ v0h) >>> 0;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      lo = (v2l + v1l) >>> 0;
      v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      t = ((v1h << 17) | (v1l >>> 15)) >>> 0;
      v1l = (((v1l << 17) | (v1h >>> 15)) ^ v2l) >>> 0;
      v1h = (t ^ v2h) >>> 0;
      t = v2l;
      v2l = v2h;
      v2h = t;
    }
    v0l = (v0l ^ ml) >>> 0;
    v0h = (v0h ^ mh) >>> 0;
  }

  v2l = (v2l ^ 0xff) >>> 0;
  for (let r = 0; r < dRounds; r++) {
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    lo = (v0l + v1l) >>> 0;
    v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0;
    v0l = lo;
    t = ((v1h << 13) | (v1l >>> 19)) >>> 0;
    v1l = (((v1l << 13) | (v1h >>> 19)) ^ v0l) >>> 0;
    v1h = (t ^ v0h) >>> 0;
    t = v0l;
    v0l = v0h;
    v0h = t;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    lo = (v2l + v3l) >>> 0;
    v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0;
    v2l = lo;
    t = ((v3h << 16) | (v3l >>> 16)) >>> 0;
    v3l = (((v3l << 16) | (v3h >>> 16)) ^ v2l) >>> 0;
    v3h = (t ^ v2h) >>> 0;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    lo = (v0l + v3l) >>> 0;
    v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0;
    v0l = lo;
    t = ((v3h << 21) | (v3l >>> 11)) >>> 0;
    v3l = (((v3l << 21) | (v3h >>> 11)) ^ v0l) >>> 0;
    v3h = (t ^ v0h) >>> 0;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    lo = (v2l + v1l) >>> 0;
    v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0;
    v2l = lo;
    t = ((v1h << 17) | (v1l >>> 15)) >>> 0;
    v1l = (((v1l << 17) | (v1h >>> 15)) ^ v2l) >>> 0;
    v1h = (t ^ v2h) >>> 0;
    t = v2l;
    v2l = v2h;
    v2h = t;
  }
  out[0] = v0l ^ v1l ^ v2l ^ v3l;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

/**
 * SipHash-1-3 of a string's UTF-8 bytes, into `out` as [low word, high word]. ASCII (every
 * serial) is copied byte by byte into a reused buffer: no allocation per call.
 */
export function sipHash13String(key: SipKey, text: string, out: Uint32Array): void {
  const n = text.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(n * 3);
  let length = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      length = encoder.encodeInto(text, scratch).written;
      break;
    }
    scratch[i] = c;
  }
  sipHash(key, scratch, length, 1, 3, out);
}
