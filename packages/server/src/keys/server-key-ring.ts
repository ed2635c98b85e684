import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { LIMITS, WxsealError, loadServerPrivateKey, serverKeySuite, wrappedKeyLength, type KeyInput, type ServerKeySuite } from '@wxseal/protocol';
import { unwrapSessionKey } from '@wxseal/protocol/primitives';

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
export type ServerKeyType = 'rsa' | 'x25519';

export const SERVER_KEY_TYPES: readonly ServerKeyType[] = ['rsa', 'x25519'];

/** The type of a server key (public or private); WXSEAL_CONFIG_INVALID for any other kind of key. */
export function serverKeyTypeOf(key: KeyObject): ServerKeyType {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'x25519') return type;
  throw new WxsealError('WXSEAL_CONFIG_INVALID', `a server key is an RSA or an X25519 key, not ${type ?? 'a symmetric key'}`);
}

export interface ServerKeyInput {
  /** Defaults to serverKeyIdFor(the key). */
  id?: string;
  /** PEM (PKCS#8 or PKCS#1), DER or a KeyObject; parsed once. */
  privateKey: KeyInput;
}

interface Entry {
  privateKey: KeyObject;
  publicKey: KeyObject;
  type: ServerKeyType;
  suite: ServerKeySuite;
  wrappedKeyLength: number;
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
    const privateKey = loadServerPrivateKey(input.privateKey);
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

  /** The public key to hand to clients. */
  publicKey(id: string): KeyObject | undefined {
    return this.#keys.get(id)?.publicKey;
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
    return unwrapSessionKey(this.#keys.get(id)!.privateKey, wrapped);
  }
}
