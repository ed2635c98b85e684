// SM2 keys as PEM/DER and the ASN.1 form of SM2 ciphertexts (GM/T 0009).
//
// node:crypto reads these files but cannot hand out an SM2 key's scalar or point (no JWK for the SM2
// curve; on Node 20 an SM2 key object has no asymmetricKeyType and exporting it as SEC1 aborts the
// process), so the fixed structures are walked here with a strict, minimal DER reader: definite
// lengths, minimal length octets, no trailing data. Certificates are parsed by node:crypto's
// X509Certificate, whose SubjectPublicKeyInfo export is read the same way.
import { X509Certificate } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import { GmError } from './errors.js';

// id-ecPublicKey (1.2.840.10045.2.1) and the SM2 curve (1.2.156.10197.1.301), DER-encoded with their tag.
const OID_EC_PUBLIC_KEY = Buffer.from('06072a8648ce3d0201', 'hex');
const OID_SM2_CURVE = Buffer.from('06082a811ccf5501822d', 'hex');
/** The curve order n of SM2 (GB/T 32918.5). */
const SM2_N = BigInt('0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123');

const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, OID: 0x06, SEQUENCE: 0x30, CTX0: 0xa0, CTX1: 0xa1 } as const;

interface Tlv {
  tag: number;
  /** The value's bytes. */
  value: Buffer;
  /** The whole element, tag to end. */
  raw: Buffer;
}

/** Reads DER elements one after another from `buf`; `code` is the error of a malformed input. */
class DerReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly code: 'GM_KEY_INVALID' | 'GM_INPUT_INVALID',
    private readonly what: string,
  ) {}

  fail(reason: string): never {
    throw new GmError(this.code, `${this.what}: ${reason}`);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.buf[this.pos];
  }

  read(expected: number): Tlv {
    const start = this.pos;
    if (this.buf.length - start < 2) this.fail('truncated DER');
    const tag = this.buf[start]!;
    if (tag !== expected) this.fail(`expected DER tag 0x${expected.toString(16)}, found 0x${tag.toString(16)}`);
    let len = this.buf[start + 1]!;
    let off = start + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || this.buf.length - off < n) this.fail('bad DER length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + this.buf[off + i]!;
      if (this.buf[off] === 0 || len < 0x80) this.fail('non-minimal DER length');
      off += n;
    }
    if (this.buf.length - off < len) this.fail('truncated DER');
    this.pos = off + len;
    return { tag, value: this.buf.subarray(off, off + len), raw: this.buf.subarray(start, off + len) };
  }

  end(): void {
    if (!this.done) this.fail('trailing data after the DER structure');
  }
}

function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...content: Uint8Array[]): Buffer {
  const value = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

/** A positive DER INTEGER from unsigned big-endian bytes. */
function derUnsigned(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = Buffer.from(bytes.subarray(i));
  return der(TAG.INTEGER, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

/** The unsigned value of a DER INTEGER, left-padded to `size` bytes; refuses negatives, non-minimal and too-large values. */
function readUnsigned(r: DerReader, size: number, name: string): Buffer {
  const v = r.read(TAG.INTEGER).value;
  if (v.length === 0 || v[0]! & 0x80) r.fail(`${name} is not a positive INTEGER`);
  if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) r.fail(`${name} is not minimally encoded`);
  const body = v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
  if (body.length > size) r.fail(`${name} is longer than ${size} bytes`);
  return Buffer.concat([Buffer.alloc(size - body.length), body]);
}

// ---------------------------------------------------------------------------------------------
// PEM

/** The DER inside the first PEM block of `pem` whose label is one of `labels`, with that label. */
function fromPem(pem: string | Uint8Array, labels: readonly string[], what: string): { label: string; der: Buffer } {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const found: string[] = [];
  for (const m of text.matchAll(re)) {
    const label = m[1]!;
    found.push(label);
    if (!labels.includes(label)) continue;
    const body = m[2]!;
    if (/^[A-Za-z-]+:/m.test(body)) throw new GmError('GM_KEY_INVALID', `${what}: an encrypted PEM (Proc-Type header) is not supported; decrypt it first`);
    const b64 = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new GmError('GM_KEY_INVALID', `${what}: the PEM body is not base64`);
    return { label, der: Buffer.from(b64, 'base64') };
  }
  if (found.includes('ENCRYPTED PRIVATE KEY')) throw new GmError('GM_KEY_INVALID', `${what}: an encrypted PKCS#8 key is not supported; decrypt it first (openssl pkey)`);
  throw new GmError('GM_KEY_INVALID', `${what}: no PEM block labelled ${labels.join(' or ')}${found.length ? ` (found ${found.join(', ')})` : ''}`);
}

function toPem(label: string, derBytes: Uint8Array): string {
  const b64 = Buffer.from(derBytes).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// keys

function checkScalar(d: Buffer, what: string): string {
  const v = BigInt(`0x${d.toString('hex')}`);
  if (v < 1n || v > SM2_N - 2n) throw new GmError('GM_KEY_INVALID', `${what}: the private scalar is not in [1, n-2]`);
  return d.toString('hex');
}

/** Whether 04‖x‖y (hex) is a point of the SM2 curve; sm-crypto-v2 throws for some points off it. */
export function isOnCurve(publicKeyHex: string): boolean {
  try {
    return sm2.verifyPublicKey(publicKeyHex);
  } catch {
    return false;
  }
}

function checkPoint(point: Buffer, what: string): string {
  if (point.length !== 65 || point[0] !== 0x04) throw new GmError('GM_KEY_INVALID', `${what}: the public key is not an uncompressed point 04‖x‖y (compressed points are not supported)`);
  const hex = point.toString('hex');
  if (!isOnCurve(hex)) throw new GmError('GM_KEY_INVALID', `${what}: the point is not on the SM2 curve`);
  return hex;
}

/** The AlgorithmIdentifier { id-ecPublicKey, SM2 curve }; anything else is refused. */
function readSm2Algorithm(r: DerReader): void {
  const alg = new DerReader(r.read(TAG.SEQUENCE).value, 'GM_KEY_INVALID', 'the key algorithm');
  const oid = alg.read(TAG.OID).raw;
  if (!oid.equals(OID_EC_PUBLIC_KEY)) alg.fail('not id-ecPublicKey (an RSA or Ed25519 key?)');
  const curve = alg.read(TAG.OID).raw;
  if (!curve.equals(OID_SM2_CURVE)) alg.fail('the curve is not SM2 (1.2.156.10197.1.301)');
  alg.end();
}

/** A BIT STRING holding a point (no unused bits). */
function readPointBits(r: DerReader, what: string): string {
  const bits = r.read(TAG.BIT_STRING).value;
  if (bits[0] !== 0) r.fail('the public key BIT STRING has unused bits');
  return checkPoint(bits.subarray(1), what);
}

/** SEC1 ECPrivateKey (RFC 5915): version 1, the scalar, optional [0] curve (must be SM2), optional [1] point (must match). */
function parseEcPrivateKey(bytes: Buffer, what: string): string {
  const outer = new DerReader(bytes, 'GM_KEY_INVALID', what);
  const r = new DerReader(outer.read(TAG.SEQUENCE).value, 'GM_KEY_INVALID', what);
  outer.end();
  const version = r.read(TAG.INTEGER).value;
  if (version.length !== 1 || version[0] !== 1) r.fail('ECPrivateKey version is not 1');
  const d = r.read(TAG.OCTET_STRING).value;
  if (d.length === 0 || d.length > 32) r.fail('the private scalar is not 1 to 32 bytes');
  const priv = checkScalar(Buffer.concat([Buffer.alloc(32 - d.length), d]), what);
  if (r.peekTag() === TAG.CTX0) {
    const params = new DerReader(r.read(TAG.CTX0).value, 'GM_KEY_INVALID', what);
    if (!params.read(TAG.OID).raw.equals(OID_SM2_CURVE)) params.fail('the curve is not SM2 (1.2.156.10197.1.301)');
    params.end();
  }
  if (r.peekTag() === TAG.CTX1) {
    const pub = new DerReader(r.read(TAG.CTX1).value, 'GM_KEY_INVALID', what);
    const point = readPointBits(pub, what);
    pub.end();
    if (point !== sm2.getPublicKeyFromPrivateKey(priv)) r.fail('the public key it holds is not the one of its private scalar');
  }
  r.end();
  return priv;
}

/**
 * The SM2 private scalar (hex) of a DER private key: PKCS#8 PrivateKeyInfo, or SEC1 ECPrivateKey
 * (what `openssl pkey -outform DER` writes for an SM2 key on OpenSSL 3.0, with the curve in [0]).
 */
export function sm2PrivateKeyFromDer(der: Uint8Array): string {
  const what = 'SM2 PKCS#8 private key';
  const bytes = Buffer.from(der);
  const outer = new DerReader(bytes, 'GM_KEY_INVALID', what);
  const r = new DerReader(outer.read(TAG.SEQUENCE).value, 'GM_KEY_INVALID', what);
  outer.end();
  const version = r.read(TAG.INTEGER).value;
  // SEC1: version 1, then the scalar as an OCTET STRING (PKCS#8 has the algorithm SEQUENCE there).
  if (r.peekTag() === TAG.OCTET_STRING) return parseEcPrivateKey(bytes, 'SM2 SEC1 private key');
  // v1 (0), or v2 (1, RFC 5958 OneAsymmetricKey) whose extra fields are ignored.
  if (version.length !== 1 || version[0]! > 1) r.fail('unknown PKCS#8 version');
  readSm2Algorithm(r);
  return parseEcPrivateKey(r.read(TAG.OCTET_STRING).value, what);
}

/**
 * The SM2 private scalar (hex) of a PEM file: PKCS#8 `PRIVATE KEY` (what `openssl genpkey -algorithm
 * SM2` writes: id-ecPublicKey with the SM2 curve), or SEC1 `EC PRIVATE KEY` / `SM2 PRIVATE KEY`
 * (what `openssl ec` writes for an SM2 key on OpenSSL 3). Encrypted keys are refused.
 */
export function sm2PrivateKeyFromPem(pem: string | Uint8Array): string {
  const { label, der: bytes } = fromPem(pem, ['PRIVATE KEY', 'EC PRIVATE KEY', 'SM2 PRIVATE KEY'], 'SM2 private key');
  return label === 'PRIVATE KEY' ? sm2PrivateKeyFromDer(bytes) : parseEcPrivateKey(bytes, `SM2 ${label}`);
}

/** The SM2 public key (04‖x‖y, hex) of a SubjectPublicKeyInfo, DER. */
export function sm2PublicKeyFromDer(spki: Uint8Array): string {
  const what = 'SM2 public key';
  const outer = new DerReader(Buffer.from(spki), 'GM_KEY_INVALID', what);
  const r = new DerReader(outer.read(TAG.SEQUENCE).value, 'GM_KEY_INVALID', what);
  outer.end();
  readSm2Algorithm(r);
  const point = readPointBits(r, what);
  r.end();
  return point;
}

/** The SM2 public key (04‖x‖y, hex) of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo). */
export function sm2PublicKeyFromPem(pem: string | Uint8Array): string {
  return sm2PublicKeyFromDer(fromPem(pem, ['PUBLIC KEY'], 'SM2 public key').der);
}

/**
 * The SM2 public key (04‖x‖y, hex) of an X.509 certificate, PEM or DER (a WeChat Pay SM platform
 * certificate, for one). Only the key is read: the certificate's validity and chain are not checked.
 */
export function sm2PublicKeyFromCertificate(certificate: string | Uint8Array): string {
  let spki: Buffer;
  try {
    spki = new X509Certificate(typeof certificate === 'string' ? certificate : Buffer.from(certificate)).publicKey.export({ type: 'spki', format: 'der' });
  } catch (cause) {
    throw new GmError('GM_KEY_INVALID', 'not an X.509 certificate (PEM or DER) that node:crypto can read', { cause });
  }
  return sm2PublicKeyFromDer(spki);
}

function pkcs8Der(privateKeyHex: string): Buffer {
  const d = String(privateKeyHex).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(d)) throw new GmError('GM_KEY_INVALID', 'an SM2 private key is 32 bytes (64 hex digits)');
  checkScalar(Buffer.from(d, 'hex'), 'SM2 private key');
  const point = Buffer.from(sm2.getPublicKeyFromPrivateKey(d), 'hex');
  const ecPrivateKey = der(TAG.SEQUENCE, der(TAG.INTEGER, Buffer.from([1])), der(TAG.OCTET_STRING, Buffer.from(d, 'hex')), der(TAG.CTX1, der(TAG.BIT_STRING, Buffer.from([0]), point)));
  return der(TAG.SEQUENCE, der(TAG.INTEGER, Buffer.from([0])), der(TAG.SEQUENCE, OID_EC_PUBLIC_KEY, OID_SM2_CURVE), der(TAG.OCTET_STRING, ecPrivateKey));
}

/** PKCS#8 DER of an SM2 private key, byte for byte what OpenSSL 3 writes (the public key included). */
export function sm2PrivateKeyToDer(privateKeyHex: string): Buffer {
  return pkcs8Der(privateKeyHex);
}

/** PKCS#8 PEM (`PRIVATE KEY`) of an SM2 private key, as `openssl genpkey -algorithm SM2` writes it. */
export function sm2PrivateKeyToPem(privateKeyHex: string): string {
  return toPem('PRIVATE KEY', pkcs8Der(privateKeyHex));
}

/** SubjectPublicKeyInfo DER of an SM2 public key (04‖x‖y hex). */
export function sm2PublicKeyToDer(publicKeyHex: string): Buffer {
  const v = String(publicKeyHex).toLowerCase();
  if (!/^04[0-9a-f]{128}$/.test(v)) throw new GmError('GM_KEY_INVALID', 'an SM2 public key is an uncompressed point 04‖x‖y (130 hex digits)');
  const point = Buffer.from(checkPoint(Buffer.from(v, 'hex'), 'SM2 public key'), 'hex');
  return der(TAG.SEQUENCE, der(TAG.SEQUENCE, OID_EC_PUBLIC_KEY, OID_SM2_CURVE), der(TAG.BIT_STRING, Buffer.from([0]), point));
}

/** PEM `PUBLIC KEY` of an SM2 public key, as `openssl pkey -pubout` writes it. */
export function sm2PublicKeyToPem(publicKeyHex: string): string {
  return toPem('PUBLIC KEY', sm2PublicKeyToDer(publicKeyHex));
}

// ---------------------------------------------------------------------------------------------
// ciphertexts

/**
 * The ASN.1 (DER) form of an SM2 ciphertext, GM/T 0009: SEQUENCE { INTEGER x, INTEGER y, OCTET STRING
 * C3, OCTET STRING C2 }, what OpenSSL (`openssl pkeyutl -encrypt`) and many SDKs use, from this
 * package's C1‖C3‖C2 (C1 = 04‖x‖y).
 */
export function sm2CiphertextToAsn1(c1c3c2: Uint8Array): Buffer {
  const c = Buffer.from(c1c3c2);
  if (c.length < 65 + 32 + 1 || c[0] !== 0x04) throw new GmError('GM_INPUT_INVALID', 'an SM2 ciphertext is 04‖x‖y ‖ C3 (32) ‖ C2');
  return der(TAG.SEQUENCE, derUnsigned(c.subarray(1, 33)), derUnsigned(c.subarray(33, 65)), der(TAG.OCTET_STRING, c.subarray(65, 97)), der(TAG.OCTET_STRING, c.subarray(97)));
}

/** C1‖C3‖C2 (C1 = 04‖x‖y) from the ASN.1 (DER) form of GM/T 0009; strict DER, no trailing data. */
export function sm2CiphertextFromAsn1(asn1: Uint8Array): Buffer {
  const what = 'SM2 ciphertext (ASN.1)';
  const outer = new DerReader(Buffer.from(asn1), 'GM_INPUT_INVALID', what);
  const r = new DerReader(outer.read(TAG.SEQUENCE).value, 'GM_INPUT_INVALID', what);
  outer.end();
  const x = readUnsigned(r, 32, 'x');
  const y = readUnsigned(r, 32, 'y');
  const c3 = r.read(TAG.OCTET_STRING).value;
  if (c3.length !== 32) r.fail('C3 is not 32 bytes (SM3)');
  const c2 = r.read(TAG.OCTET_STRING).value;
  if (c2.length === 0) r.fail('C2 is empty');
  r.end();
  return Buffer.concat([Buffer.from([4]), x, y, c3, c2]);
}

// ---------------------------------------------------------------------------------------------
// signatures

/**
 * Whether `signature` is a strict DER SM2 signature SEQUENCE { INTEGER r, INTEGER s } with r and s
 * in [1, n-1]: minimal lengths and integers, nothing after it. sm-crypto-v2's own decoder accepts a
 * wrong outer length and trailing bytes; the verifier checks the form here first, so that one
 * signature has one encoding.
 */
export function isStrictSm2SignatureDer(signature: Uint8Array): boolean {
  try {
    const outer = new DerReader(Buffer.from(signature), 'GM_INPUT_INVALID', 'SM2 signature');
    const r = new DerReader(outer.read(TAG.SEQUENCE).value, 'GM_INPUT_INVALID', 'SM2 signature');
    outer.end();
    const values = [readUnsigned(r, 32, 'r'), readUnsigned(r, 32, 's')];
    r.end();
    return values.every((v) => {
      const n = BigInt(`0x${v.toString('hex')}`);
      return n >= 1n && n < SM2_N;
    });
  } catch {
    return false;
  }
}
