import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { LIMITS, WxsealError, loadServerPrivateKey, wrappedKeyLength, type KeyInput } from '@wxseal/protocol';
import { unwrapSessionKey } from '@wxseal/protocol/primitives';

/** The reference server key id: `sk-` + the first 16 hex digits of SHA-256(DER SubjectPublicKeyInfo) (SPEC.md section 2). */
export function serverKeyIdFor(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sk-${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
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
  wrappedKeyLength: number;
}

/**
 * The server's RSA private keys, by server key id. Several are held at once during a rotation.
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
    this.#keys.set(id, { privateKey, publicKey: createPublicKey(privateKey), wrappedKeyLength: wrappedKeyLength(privateKey) });
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

  /** The modulus length in bytes, which every wrapped key for this id must have; undefined for an unknown id. */
  wrappedKeyLength(id: string): number | undefined {
    return this.#keys.get(id)?.wrappedKeyLength;
  }

  /**
   * Step 4 of SPEC.md section 9 for sealed requests, without any cryptography: the id is known and
   * the wrapped key has the modulus length.
   */
  check(id: string, wrapped: Uint8Array): void {
    const length = this.wrappedKeyLength(id);
    if (length === undefined) throw new WxsealError('WXSEAL_UNKNOWN_SERVER_KEY', 'the server holds no key with this server key id');
    if (wrapped.length !== length) throw new WxsealError('WXSEAL_MALFORMED_HEADER', 'wxseal-wrapped-key length does not match the server key');
  }

  /** Step 7: RSA-OAEP unwrap of the session key. Throws WXSEAL_UNWRAP_FAILED when it does not decrypt. */
  unwrap(id: string, wrapped: Uint8Array): Buffer {
    this.check(id, wrapped);
    return unwrapSessionKey(this.#keys.get(id)!.privateKey, wrapped);
  }
}
