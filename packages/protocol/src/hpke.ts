/**
 * HPKE (RFC 9180), base mode, for the one KEM wxseal uses: DHKEM(X25519, HKDF-SHA256) with the
 * KDF HKDF-SHA256 and the AEAD AES-256-GCM (AES-128-GCM too, so that the RFC's appendix A.1
 * vectors can be checked). SPEC.md 6.5 wraps the session key with it.
 *
 * This is the RFC's construction (LabeledExtract, LabeledExpand, ExtractAndExpand, the key
 * schedule, the nonce of a sequence number, the exporter) assembled from node:crypto's primitives:
 * X25519 (`diffieHellman`), HKDF over HMAC-SHA256 (hkdf.ts) and AES-GCM (`createCipheriv`). No primitive
 * is implemented here, and nothing needs webcrypto: it runs on Node 16.13.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { hkdfExpand, hkdfExtract } from './hkdf.js';

/** The algorithm identifiers of RFC 9180 section 7 that this module implements. */
export const HPKE_IDS = {
  /** DHKEM(X25519, HKDF-SHA256). */
  kemX25519HkdfSha256: 0x0020,
  kdfHkdfSha256: 0x0001,
  aeadAes128Gcm: 0x0001,
  aeadAes256Gcm: 0x0002,
} as const;

/** The AEADs this module supports, by RFC 9180 name. */
export type HpkeAead = 'aes-128-gcm' | 'aes-256-gcm';

/** The encapsulated key of DHKEM(X25519): the ephemeral public key, 32 bytes (Nenc). */
export const HPKE_X25519_ENC_BYTES = 32;
/** The AEAD tag length of AES-GCM (Nt). */
export const HPKE_TAG_BYTES = 16;

const NH = 32; // HKDF-SHA256 output length
const NN = 12; // AES-GCM nonce length
const NSECRET = 32; // DHKEM(X25519) shared secret length
const X25519_BYTES = 32;
const MODE_BASE = 0x00;

const aeadInfo = (aead: HpkeAead): { id: number; keyBytes: number } =>
  aead === 'aes-128-gcm' ? { id: HPKE_IDS.aeadAes128Gcm, keyBytes: 16 } : { id: HPKE_IDS.aeadAes256Gcm, keyBytes: 32 };

const i2osp = (value: number, length: number): Buffer => {
  const out = Buffer.alloc(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return out;
};

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const HPKE_V1 = ascii('HPKE-v1');
const KEM_SUITE_ID = Buffer.concat([ascii('KEM'), i2osp(HPKE_IDS.kemX25519HkdfSha256, 2)]);
const HPKE_SUITE_IDS: Readonly<Record<HpkeAead, Buffer>> = {
  'aes-128-gcm': Buffer.concat([ascii('HPKE'), i2osp(HPKE_IDS.kemX25519HkdfSha256, 2), i2osp(HPKE_IDS.kdfHkdfSha256, 2), i2osp(HPKE_IDS.aeadAes128Gcm, 2)]),
  'aes-256-gcm': Buffer.concat([ascii('HPKE'), i2osp(HPKE_IDS.kemX25519HkdfSha256, 2), i2osp(HPKE_IDS.kdfHkdfSha256, 2), i2osp(HPKE_IDS.aeadAes256Gcm, 2)]),
};
const hpkeSuiteId = (aead: HpkeAead): Buffer => HPKE_SUITE_IDS[aead];

/** RFC 9180 4: LabeledExtract(salt, label, ikm). */
function labeledExtract(suiteId: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return hkdfExtract(salt, Buffer.concat([HPKE_V1, suiteId, ascii(label), ikm]));
}

/** RFC 9180 4: LabeledExpand(prk, label, info, L). */
function labeledExpand(suiteId: Buffer, prk: Uint8Array, label: string, info: Uint8Array, length: number): Buffer {
  return hkdfExpand(prk, Buffer.concat([i2osp(length, 2), HPKE_V1, suiteId, ascii(label), info]), length);
}

// Raw X25519 keys (RFC 7748 encodings) <-> KeyObjects: private keys through a fixed PKCS#8 DER
// prefix (RFC 8410), public keys as JWK; both work the same on Node 16.13 and 20.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function requireX25519(key: KeyObject, type: 'public' | 'private'): void {
  if (key.asymmetricKeyType !== 'x25519') throw new Error(`hpke: an X25519 key is required, not ${key.asymmetricKeyType ?? key.type}`);
  if (type === 'private' && key.type !== 'private') throw new Error('hpke: an X25519 private key is required');
}

/** An X25519 private key from its 32 raw bytes. */
export function x25519PrivateKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_BYTES) throw new Error('hpke: an X25519 private key is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

/**
 * An X25519 public key from its 32 raw bytes (DeserializePublicKey). Imported as a JWK: OpenSSL 3
 * decodes a DER SPKI through its generic decoder, about 8 times slower, and this runs once per
 * sealed request on the server (the ephemeral key).
 */
export function x25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_BYTES) throw new Error('hpke: an X25519 public key is 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' });
}

// The raw public half of a server's key is needed by every Decap: derived (a scalar
// multiplication) once per KeyObject, not per request.
const rawPublicKeys = new WeakMap<KeyObject, Buffer>();

/** The 32 raw bytes of an X25519 public key (SerializePublicKey); a private key gives its public half. */
export function x25519RawPublicKey(key: KeyObject): Buffer {
  requireX25519(key, 'public');
  let raw = rawPublicKeys.get(key);
  if (!raw) {
    // A JWK export carries the public half (`x`) of a private key too, without a DER round trip.
    const x = (key.export({ format: 'jwk' }) as { x?: unknown }).x;
    if (typeof x !== 'string') throw new Error('hpke: the X25519 key has no public value');
    raw = Buffer.from(x, 'base64url');
    if (raw.length !== X25519_BYTES) throw new Error('hpke: an X25519 public key is 32 bytes');
    rawPublicKeys.set(key, raw);
  }
  return Buffer.from(raw);
}

/** The 32 raw bytes of an X25519 private key (SerializePrivateKey). */
export function x25519RawPrivateKey(key: KeyObject): Buffer {
  requireX25519(key, 'private');
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return Buffer.from(der.subarray(der.length - X25519_BYTES));
}

function dh(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  const shared = diffieHellman({ privateKey, publicKey });
  // RFC 9180 7.1.4: an all-zero X25519 output (a low-order public key) aborts.
  if (shared.length !== X25519_BYTES || shared.every((b) => b === 0)) throw new Error('hpke: X25519 produced an invalid shared secret');
  return shared;
}

function extractAndExpand(dhOutput: Uint8Array, kemContext: Uint8Array): Buffer {
  const eaePrk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'eae_prk', dhOutput);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, NSECRET);
}

export interface HpkeKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** RFC 9180 7.1.3: DeriveKeyPair(ikm) for DHKEM(X25519, HKDF-SHA256). For vectors and tests. */
export function hpkeDeriveKeyPair(ikm: Uint8Array): HpkeKeyPair {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, Buffer.alloc(0), 'dkp_prk', ikm);
  const privateKey = x25519PrivateKeyFromRaw(labeledExpand(KEM_SUITE_ID, dkpPrk, 'sk', Buffer.alloc(0), X25519_BYTES));
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * generateKeyPairSync for X25519 with only the public key encoded (as a JWK) by the generation and
 * the private key left a KeyObject — what Node does, though its typings require both encodings.
 */
const generateX25519WithJwkPublicKey = generateKeyPairSync as unknown as (
  type: 'x25519',
  options: { publicKeyEncoding: { format: 'jwk' } },
) => { publicKey: { x?: unknown }; privateKey: KeyObject };

/**
 * RFC 9180 4.1: Encap(pkR). The ephemeral key is fresh unless one is given (known-answer vectors
 * only: a fixed ephemeral key reused for two messages breaks the scheme).
 */
export function hpkeEncap(recipientPublicKey: KeyObject, ephemeralPrivateKey?: KeyObject): { sharedSecret: Buffer; enc: Buffer } {
  requireX25519(recipientPublicKey, 'public');
  let skE: KeyObject;
  let enc: Buffer;
  if (ephemeralPrivateKey) {
    skE = ephemeralPrivateKey;
    requireX25519(skE, 'private');
    enc = x25519RawPublicKey(skE);
  } else {
    // The public half comes encoded out of the key generation itself. Exporting a freshly generated
    // key as a JWK afterwards deadlocks Node (16.13 and 20 alike) when a garbage collection runs
    // during the export and finalizes the key's generation job, which takes the lock the export
    // holds: seen within a few thousand requests (tests/…/hpke-deadlock).
    const pair = generateX25519WithJwkPublicKey('x25519', { publicKeyEncoding: { format: 'jwk' } });
    skE = pair.privateKey;
    enc = typeof pair.publicKey.x === 'string' ? Buffer.from(pair.publicKey.x, 'base64url') : Buffer.alloc(0);
    if (enc.length !== X25519_BYTES) throw new Error('hpke: the generated X25519 key has no 32-byte public value');
  }
  const pkRm = x25519RawPublicKey(recipientPublicKey);
  const sharedSecret = extractAndExpand(dh(skE, recipientPublicKey), Buffer.concat([enc, pkRm]));
  return { sharedSecret, enc };
}

/** RFC 9180 4.1: Decap(enc, skR). */
export function hpkeDecap(enc: Uint8Array, recipientPrivateKey: KeyObject): Buffer {
  requireX25519(recipientPrivateKey, 'private');
  const pkE = x25519PublicKeyFromRaw(enc);
  const pkRm = x25519RawPublicKey(recipientPrivateKey);
  return extractAndExpand(dh(recipientPrivateKey, pkE), Buffer.concat([enc, pkRm]));
}

/** The result of the base-mode key schedule: an encryption context at sequence number 0. */
export interface HpkeContext {
  aead: HpkeAead;
  keyScheduleContext: Buffer;
  secret: Buffer;
  key: Buffer;
  baseNonce: Buffer;
  exporterSecret: Buffer;
}

/** What sealing and opening need of a context. */
export type HpkeAeadContext = Pick<HpkeContext, 'aead' | 'key' | 'baseNonce'>;

// key_schedule_context depends on the suite and info only (mode_base, no PSK): wxseal uses one info,
// so it is computed once rather than with two HMACs per request. Bounded in case a caller varies info.
const scheduleContexts = new Map<string, Buffer>();
const MAX_SCHEDULE_CONTEXTS = 64;

function keyScheduleContextOf(aead: HpkeAead, info: Uint8Array): Buffer {
  const cacheKey = `${aead}:${Buffer.from(info.buffer, info.byteOffset, info.byteLength).toString('hex')}`;
  let context = scheduleContexts.get(cacheKey);
  if (!context) {
    const suiteId = hpkeSuiteId(aead);
    const empty = Buffer.alloc(0);
    const pskIdHash = labeledExtract(suiteId, empty, 'psk_id_hash', empty);
    const infoHash = labeledExtract(suiteId, empty, 'info_hash', info);
    context = Buffer.concat([Buffer.of(MODE_BASE), pskIdHash, infoHash]);
    if (scheduleContexts.size >= MAX_SCHEDULE_CONTEXTS) scheduleContexts.clear();
    scheduleContexts.set(cacheKey, context);
  }
  return context;
}

/** The key schedule without the exporter secret: what a single-shot Seal or Open uses. */
function aeadSchedule(aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array): HpkeAeadContext & { keyScheduleContext: Buffer; secret: Buffer } {
  const suiteId = hpkeSuiteId(aead);
  const keyScheduleContext = keyScheduleContextOf(aead, info);
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', Buffer.alloc(0));
  return {
    aead,
    keyScheduleContext: Buffer.from(keyScheduleContext),
    secret,
    key: labeledExpand(suiteId, secret, 'key', keyScheduleContext, aeadInfo(aead).keyBytes),
    baseNonce: labeledExpand(suiteId, secret, 'base_nonce', keyScheduleContext, NN),
  };
}

/** RFC 9180 5.1: KeySchedule in mode_base (no PSK). */
export function hpkeKeySchedule(aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array): HpkeContext {
  const context = aeadSchedule(aead, sharedSecret, info);
  return { ...context, exporterSecret: labeledExpand(hpkeSuiteId(aead), context.secret, 'exp', context.keyScheduleContext, NH) };
}

/** RFC 9180 5.2: ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn). */
export function hpkeNonce(context: HpkeAeadContext, seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new Error('hpke: the sequence number must be a non-negative integer');
  const seqBytes = i2osp(seq, NN);
  return Buffer.from(context.baseNonce.map((b, i) => b ^ seqBytes[i]!));
}

/** RFC 9180 5.2: ContextS.Seal at sequence number `seq`; returns ciphertext || tag. */
export function hpkeContextSeal(context: HpkeAeadContext, seq: number, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv(context.aead, context.key, hpkeNonce(context, seq), { authTagLength: HPKE_TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** RFC 9180 5.2: ContextR.Open at sequence number `seq`; throws when the tag does not verify. */
export function hpkeContextOpen(context: HpkeAeadContext, seq: number, aad: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (ciphertext.length < HPKE_TAG_BYTES) throw new Error('hpke: the ciphertext is shorter than the tag');
  const data = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength);
  const decipher = createDecipheriv(context.aead, context.key, hpkeNonce(context, seq), { authTagLength: HPKE_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - HPKE_TAG_BYTES));
  const head = decipher.update(data.subarray(0, data.length - HPKE_TAG_BYTES));
  // final() is where GCM checks the tag: never skip it.
  return Buffer.concat([head, decipher.final()]);
}

/** RFC 9180 5.3: Context.Export(exporter_context, L). */
export function hpkeExport(context: HpkeContext, exporterContext: Uint8Array, length: number): Buffer {
  return labeledExpand(hpkeSuiteId(context.aead), context.exporterSecret, 'sec', exporterContext, length);
}

/** RFC 9180 6.1: single-shot SealBase(pkR, info, aad, pt), sequence number 0. */
export function hpkeSeal(input: {
  aead: HpkeAead;
  recipientPublicKey: KeyObject;
  info: Uint8Array;
  aad: Uint8Array;
  plaintext: Uint8Array;
  /** Known-answer vectors only. */
  ephemeralPrivateKey?: KeyObject;
}): { enc: Buffer; ciphertext: Buffer } {
  const { sharedSecret, enc } = hpkeEncap(input.recipientPublicKey, input.ephemeralPrivateKey);
  const context = aeadSchedule(input.aead, sharedSecret, input.info);
  return { enc, ciphertext: hpkeContextSeal(context, 0, input.aad, input.plaintext) };
}

/** RFC 9180 6.1: single-shot OpenBase(enc, skR, info, aad, ct), sequence number 0; throws on failure. */
export function hpkeOpen(input: {
  aead: HpkeAead;
  recipientPrivateKey: KeyObject;
  enc: Uint8Array;
  info: Uint8Array;
  aad: Uint8Array;
  ciphertext: Uint8Array;
}): Buffer {
  const sharedSecret = hpkeDecap(input.enc, input.recipientPrivateKey);
  const context = aeadSchedule(input.aead, sharedSecret, input.info);
  return hpkeContextOpen(context, 0, input.aad, input.ciphertext);
}
