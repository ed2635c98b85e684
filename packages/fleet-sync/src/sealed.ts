// The encrypted envelope, for material that must not sit in the store in clear (a private key):
// AES-256-GCM under HKDF-SHA256(fleet key, salt = the user's purpose, info = subject), the subject
// as additional data, a fresh 12-byte IV per message. A value copied to another subject, written
// by anyone without the fleet key, or altered, does not open. Freshness (which value is newer) is
// the caller's: it puts a timestamp inside the plaintext.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SUBJECT_PATTERN } from './common.js';
import { fleetSyncErrors, type SyncErrorFactory } from './errors.js';

/** Length of a fleet key (bytes). */
export const FLEET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALG = 'A256GCM';

/**
 * Parses a fleet key written as base64 or base64url (32 bytes: 43 characters, optional "=");
 * throws the factory's `config` error, which never quotes the text.
 */
export function parseFleetKey(text: string, errors: SyncErrorFactory = fleetSyncErrors): Buffer {
  const t = typeof text === 'string' ? text.trim() : '';
  const bad = () => errors('config', `the fleet sync key must be ${FLEET_KEY_BYTES} bytes in base64 (44 characters, e.g. openssl rand -base64 32)`);
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) throw bad();
  const unpadded = t.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const key = Buffer.from(unpadded, 'base64url');
  // Canonical only: the last character's unused bits must be zero, so one key has one spelling.
  if (key.length !== FLEET_KEY_BYTES || key.toString('base64url') !== unpadded) throw bad();
  return key;
}

export interface SubjectCipherOptions {
  /** The HKDF salt: names the user and purpose, so two users of one fleet key never share a key. */
  salt: string;
  subject: string;
  errors?: SyncErrorFactory;
}

/** Seals and opens one subject's values under a key derived from the fleet key. */
export class SubjectCipher {
  readonly subject: string;
  readonly #key: Buffer;
  readonly #aad: Buffer;
  readonly #errors: SyncErrorFactory;

  constructor(fleetKey: Uint8Array, options: SubjectCipherOptions) {
    this.#errors = options.errors ?? fleetSyncErrors;
    if (!(fleetKey instanceof Uint8Array) || fleetKey.length !== FLEET_KEY_BYTES) throw this.#errors('config', `the fleet sync key must be ${FLEET_KEY_BYTES} bytes`);
    if (typeof options.salt !== 'string' || options.salt.length === 0) throw this.#errors('config', 'salt must be a non-empty string');
    if (typeof options.subject !== 'string' || !SUBJECT_PATTERN.test(options.subject)) throw this.#errors('config', 'a subject must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
    this.subject = options.subject;
    this.#aad = Buffer.from(options.subject, 'utf8');
    this.#key = Buffer.from(hkdfSync('sha256', fleetKey, Buffer.from(options.salt, 'utf8'), this.#aad, 32));
  }

  /** `{"v":1,"alg":"A256GCM","iv":b64url,"data":b64url(ciphertext ‖ tag)}` */
  seal(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#aad);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return JSON.stringify({ v: 1, alg: ALG, iv: iv.toString('base64url'), data: data.toString('base64url') });
  }

  /** The plaintext; throws the factory's `rejected` error for anything that does not open (or is longer than `maxLength`). */
  open(text: string, maxLength = 1024 * 1024): string {
    const reject = (why: string): never => {
      throw this.#errors('rejected', `value for ${this.subject} refused: ${why}`);
    };
    if (typeof text !== 'string' || text.length > maxLength) reject(`not a string of at most ${maxLength} characters`);
    let env: unknown;
    try {
      env = JSON.parse(text);
    } catch {
      reject('not JSON');
    }
    const e = env as { v?: unknown; alg?: unknown; iv?: unknown; data?: unknown };
    if (typeof e !== 'object' || e === null || e.v !== 1 || e.alg !== ALG) reject('not an encrypted envelope of a known version');
    if (typeof e.iv !== 'string' || typeof e.data !== 'string') reject('iv or data missing');
    const iv = Buffer.from(e.iv as string, 'base64url');
    const data = Buffer.from(e.data as string, 'base64url');
    if (iv.length !== IV_BYTES || data.length < TAG_BYTES) reject('iv or data of the wrong length');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.#aad);
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
      return plain.toString('utf8');
    } catch {
      return reject('does not decrypt with this instance\'s fleet key (another fleet\'s key, another subject, or altered)');
    }
  }
}
