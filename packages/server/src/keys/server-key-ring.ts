import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  LIMITS,
  SM2_WRAPPED_KEY_BYTES,
  SM_SUITE,
  WxsealError,
  loadServerPrivateKey,
  looksLikeSm2Key,
  parseSm2PrivateKey,
  serverKeySuite,
  sm2ServerKeyId,
  wrappedKeyLength,
  type KeyInput,
  type ServerKeySuite,
  type SmPrimitives,
} from '@wxseal/protocol';
import { unwrapSessionKey, unwrapSmSessionKey } from '@wxseal/protocol/primitives';
import * as gm from '@wxseal/gm';

/** The reference server key id: `sk-` + the first 16 hex digits of SHA-256(DER SubjectPublicKeyInfo) (SPEC.md section 2). */
export function serverKeyIdFor(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sk-${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
}

/**
 * The kind of a server key, which names its suite (SPEC.md 6.2): `rsa` (rsa-oaep-256: RSA-OAEP
 * wraps the session key) or `x25519` (x25519-hpke: HPKE, RFC 9180 — no RSA on the server's hot path).
 */
export type ServerKeyType = 'rsa' | 'x25519' | 'sm2';

export const SERVER_KEY_TYPES: readonly ServerKeyType[] = ['rsa', 'x25519', 'sm2'];

/**
 * The SM primitives the server's SM suite uses (SPEC.md 6.6): @wxseal/gm. @wxseal/protocol defines
 * the suite over this interface and never imports @wxseal/gm itself (it has no dependency).
 */
export const SM_PRIMITIVES: SmPrimitives = gm;

/** An SM2 server private key: its scalar, as hex, in an object (SM2 keys are not KeyObjects). */
export interface Sm2PrivateKeyInput {
  type: 'sm2';
  privateKeyHex: string;
  /** The SM primitives to use for this key (default SM_PRIMITIVES, @wxseal/gm); tests wrap them. */
  primitives?: SmPrimitives;
}

/** The type of a server key (public or private); WXSEAL_CONFIG_INVALID for any other kind of key. */
export function serverKeyTypeOf(key: KeyObject): 'rsa' | 'x25519' {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'x25519') return type;
  throw new WxsealError('WXSEAL_CONFIG_INVALID', `a server key is an RSA or an X25519 key, not ${type ?? 'a symmetric key'}`);
}

export interface ServerKeyInput {
  /** Defaults to serverKeyIdFor(the key). */
  id?: string;
  /**
   * PEM (PKCS#8 or PKCS#1), DER or a KeyObject (RSA, X25519); or an SM2 key: PEM (PKCS#8 as
   * OpenSSL writes it, or SEC1), the armored `WXSEAL SM2 PRIVATE KEY` hex text, or
   * `{ type: 'sm2', privateKeyHex }`. Parsed once.
   */
  privateKey: KeyInput | Sm2PrivateKeyInput;
}

type Entry =
  | { privateKey: KeyObject; publicKey: KeyObject; type: 'rsa' | 'x25519'; suite: ServerKeySuite; wrappedKeyLength: number }
  | { sm2PrivateKeyHex: string; sm2PublicKeyHex: string; type: 'sm2'; suite: typeof SM_SUITE; wrappedKeyLength: number; sm: SmPrimitives };

/**
 * The scalar of a PEM SM2 private key (PKCS#8 with id-ecPublicKey and the SM2 curve, as OpenSSL
 * writes it, or SEC1), read by @wxseal/gm; undefined for any other input (an RSA or X25519 PEM,
 * which Node reads). Node's OpenSSL parses an SM2 PKCS#8 key too, but cannot use it for SM2
 * encryption, so SM2 is recognised first.
 */
function sm2PrivateKeyOfPem(input: KeyInput): string | undefined {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return undefined;
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (!/-----BEGIN (?:SM2 |EC )?PRIVATE KEY-----/.test(text)) return undefined;
  try {
    return gm.sm2PrivateKeyFromPem(text);
  } catch {
    return undefined;
  }
}

function isSm2Input(input: KeyInput | Sm2PrivateKeyInput): input is Sm2PrivateKeyInput {
  return typeof input === 'object' && !Buffer.isBuffer(input) && (input as Sm2PrivateKeyInput).type === 'sm2';
}

function sm2PrivateKeyOf(input: KeyInput | Sm2PrivateKeyInput): string | undefined {
  if (isSm2Input(input)) {
    const hex = input.privateKeyHex;
    if (typeof hex !== 'string' || !/^[0-9A-Fa-f]{64}$/.test(hex)) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'an SM2 private key is 64 hex digits');
    return hex.toLowerCase();
  }
  if (!looksLikeSm2Key(input)) return sm2PrivateKeyOfPem(input);
  const hex = parseSm2PrivateKey(input);
  if (hex === undefined) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'an SM2 server private key is the armored WXSEAL SM2 PRIVATE KEY form (64 hex digits)');
  return hex;
}

/**
 * The server's private keys (RSA or X25519, mixed freely), by server key id. Several are held at
 * once during a rotation, which may also move clients from one suite to the other.
 * Keys are parsed into KeyObjects once, when added, never per request.
 */
export class ServerKeyRing {
  readonly #keys = new Map<string, Entry>();

  constructor(keys: Iterable<ServerKeyInput> = []) {
    for (const k of keys) this.add(k);
  }

  /** Adds a key; returns its server key id. An id already in use is a configuration error. */
  add(input: ServerKeyInput): string {
    const sm2Hex = sm2PrivateKeyOf(input.privateKey);
    if (sm2Hex !== undefined) {
      const sm = (isSm2Input(input.privateKey) ? input.privateKey.primitives : undefined) ?? SM_PRIMITIVES;
      let publicKeyHex: string;
      try {
        publicKeyHex = sm.sm2PublicKeyFromPrivate(sm2Hex);
      } catch (cause) {
        throw new WxsealError('WXSEAL_CONFIG_INVALID', 'the SM2 server private key is not valid', { cause });
      }
      const id = input.id ?? sm2ServerKeyId(publicKeyHex);
      if (!LIMITS.idPattern.test(id)) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'server key id must be 1-64 characters of A-Z a-z 0-9 . _ : -');
      if (this.#keys.has(id)) throw new WxsealError('WXSEAL_CONFIG_INVALID', `server key id ${id} is already in the key ring`);
      this.#keys.set(id, { sm2PrivateKeyHex: sm2Hex, sm2PublicKeyHex: publicKeyHex, type: 'sm2', suite: SM_SUITE, wrappedKeyLength: SM2_WRAPPED_KEY_BYTES, sm });
      return id;
    }
    const privateKey = loadServerPrivateKey(input.privateKey as KeyInput);
    const id = input.id ?? serverKeyIdFor(privateKey);
    if (!LIMITS.idPattern.test(id)) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'server key id must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    if (this.#keys.has(id)) throw new WxsealError('WXSEAL_CONFIG_INVALID', `server key id ${id} is already in the key ring`);
    this.#keys.set(id, { privateKey, publicKey: createPublicKey(privateKey), type: serverKeyTypeOf(privateKey), suite: serverKeySuite(privateKey), wrappedKeyLength: wrappedKeyLength(privateKey) });
    return id;
  }

  /** Retires a key: clients still using it then get WXSEAL_UNKNOWN_SERVER_KEY. */
  remove(id: string): boolean {
    return this.#keys.delete(id);
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  ids(): string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** The public key to hand to clients (RSA, X25519); undefined for an SM2 key (see sm2PublicKeyHex). */
  publicKey(id: string): KeyObject | undefined {
    const e = this.#keys.get(id);
    return e && e.type !== 'sm2' ? e.publicKey : undefined;
  }

  /** An SM2 key's public point (04‖x‖y, hex); undefined for other keys. */
  sm2PublicKeyHex(id: string): string | undefined {
    const e = this.#keys.get(id);
    return e && e.type === 'sm2' ? e.sm2PublicKeyHex : undefined;
  }

  /** The public key as text to hand to clients: SPKI PEM (for SM2 too). */
  publicKeyText(id: string): string | undefined {
    const e = this.#keys.get(id);
    if (!e) return undefined;
    return e.type === 'sm2' ? gm.sm2PublicKeyToPem(e.sm2PublicKeyHex) : e.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** The SM primitives when the key is SM2 (its requests use the SM suite, SPEC.md 6.6); otherwise undefined. */
  smPrimitives(id: string): SmPrimitives | undefined {
    const e = this.#keys.get(id);
    return e && e.type === 'sm2' ? e.sm : undefined;
  }

  /** The key's type; undefined for an unknown id. */
  type(id: string): ServerKeyType | undefined {
    return this.#keys.get(id)?.type;
  }

  /** The suite the key's wrapped session keys use; undefined for an unknown id. */
  suite(id: string): ServerKeySuite | undefined {
    return this.#keys.get(id)?.suite;
  }

  /**
   * The length in bytes every wrapped key for this id must have (the modulus length for RSA, the
   * encapsulated key and the sealed session key for X25519); undefined for an unknown id.
   */
  wrappedKeyLength(id: string): number | undefined {
    return this.#keys.get(id)?.wrappedKeyLength;
  }

  /**
   * Step 4 of SPEC.md section 9 for sealed requests, without any cryptography: the id is known and
   * the wrapped key has the length of the key's suite.
   */
  check(id: string, wrapped: Uint8Array): void {
    const length = this.wrappedKeyLength(id);
    if (length === undefined) throw new WxsealError('WXSEAL_UNKNOWN_SERVER_KEY', 'the server holds no key with this server key id');
    if (wrapped.length !== length) throw new WxsealError('WXSEAL_MALFORMED_HEADER', 'wxseal-wrapped-key length does not match the server key');
  }

  /** Step 7: unwrap of the session key (RSA-OAEP or HPKE). Throws WXSEAL_UNWRAP_FAILED when it does not decrypt. */
  unwrap(id: string, wrapped: Uint8Array): Buffer {
    this.check(id, wrapped);
    const e = this.#keys.get(id)!;
    if (e.type === 'sm2') return unwrapSmSessionKey(e.sm, e.sm2PrivateKeyHex, wrapped);
    return unwrapSessionKey(e.privateKey, wrapped);
  }
}
