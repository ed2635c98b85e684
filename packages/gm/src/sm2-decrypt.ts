/**
 * SM2 decryption (GB/T 32918.4, steps B1-B7) with OpenSSL doing the curve arithmetic.
 *
 * Why: sm-crypto-v2 multiplies points in JavaScript (about 2.8 ms a decryption on the reference
 * machine), and a server unwraps one SM2-encrypted session key per new sealed request. Node's
 * OpenSSL has the SM2 curve for ECDH (createECDH('SM2')) and point decompression
 * (ECDH.convertKey), though not SM2 encryption itself, so the scalar multiplication d·C1 and the
 * recovery of y2 run there (about 0.65 ms) and this module only frames them: x2 = x(d·C1) from ECDH,
 * the two points with that x from convertKey, then for each the KDF of the standard (SM3 in counter
 * mode, from node:crypto), M' = C2 ⊕ t and C3' = SM3(x2 ‖ M' ‖ y2). The point whose C3' equals C3
 * (compared in constant time) is d·C1; both are always tried, so the time does not tell y2's
 * parity. A C1 that is not a point of the curve is refused by OpenSSL (computeSecret throws); SM2's
 * cofactor is 1, so no point of small order exists to check for.
 *
 * Encryption stays with sm-crypto-v2: without C3 to tell the two candidates apart, the sender
 * cannot recover y2 from ECDH's x-coordinate. Where the runtime's OpenSSL lacks the SM2 curve,
 * `opensslSm2Available()` is false and callers use sm-crypto-v2.
 */
import { ECDH, createECDH, createHash, getCurves, timingSafeEqual } from 'node:crypto';

let available: boolean | undefined;

/** Whether this runtime's OpenSSL offers ECDH and point conversion on the SM2 curve. */
export function opensslSm2Available(): boolean {
  if (available === undefined) {
    try {
      available = getCurves().includes('SM2') && createECDH('SM2').generateKeys().length === 65;
    } catch {
      available = false;
    }
  }
  return available;
}

// Setting the private key of an ECDH object computes its public key (one more scalar
// multiplication): objects are kept per key. A server holds a handful of SM2 keys.
const MAX_CACHED_KEYS = 32;
const byKey = new Map<string, ECDH>();

function ecdhFor(privateKeyHex: string): ECDH {
  let ecdh = byKey.get(privateKeyHex);
  if (!ecdh) {
    ecdh = createECDH('SM2');
    ecdh.setPrivateKey(Buffer.from(privateKeyHex, 'hex'));
    if (byKey.size >= MAX_CACHED_KEYS) byKey.clear();
    byKey.set(privateKeyHex, ecdh);
  }
  return ecdh;
}

/** KDF of GB/T 32918.4 (5.4.3): SM3(Z ‖ ct) for ct = 1, 2, … (32-bit big-endian), truncated to klen. */
function kdf(z: Buffer, klen: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let ct = 1, have = 0; have < klen; ct++, have += 32) {
    counter.writeUInt32BE(ct);
    blocks.push(createHash('sm3').update(z).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, klen);
}

/**
 * Decrypts C1 ‖ C3 ‖ C2 (C1 = 04 ‖ x1 ‖ y1) with the private scalar; undefined when it does not
 * decrypt (C1 not on the curve, C3 mismatch, an all-zero KDF output). Lengths are the caller's to check.
 */
export function sm2DecryptWithOpenssl(privateKeyHex: string, ciphertext: Uint8Array): Buffer | undefined {
  const c = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const c1 = c.subarray(0, 65);
  const c3 = c.subarray(65, 97);
  const c2 = c.subarray(97);
  let x2: Buffer;
  try {
    x2 = ecdhFor(privateKeyHex).computeSecret(c1);
  } catch {
    return undefined; // not a point of the curve
  }
  let found: Buffer | undefined;
  for (const prefix of [0x02, 0x03]) {
    const point = ECDH.convertKey(Buffer.concat([Buffer.from([prefix]), x2]), 'SM2', undefined, undefined, 'uncompressed') as Buffer;
    const y2 = point.subarray(33, 65);
    const t = kdf(Buffer.concat([x2, y2]), c2.length);
    if (t.every((b) => b === 0)) continue; // B4: an all-zero t is an error
    const m = Buffer.alloc(c2.length);
    for (let i = 0; i < m.length; i++) m[i] = c2[i]! ^ t[i]!;
    const u = createHash('sm3').update(x2).update(m).update(y2).digest();
    if (timingSafeEqual(u, c3) && found === undefined) found = m;
    else m.fill(0);
  }
  return found;
}
