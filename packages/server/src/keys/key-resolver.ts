import { LIMITS, MAX_SECRET_BYTES, MAX_SECRETS_PER_KEY, MIN_SECRET_BYTES, MODES, WxsealError, type Mode } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';

/** One client secret of a credential (SPEC.md sections 2 and 11). */
export interface ClientSecret {
  /** Optional label, reported as `secretId` on the verified request (e.g. to see who still uses an old secret). */
  id?: string;
  /** The raw secret bytes (32-64), not the b64u text. */
  secret: Uint8Array;
  /** Unix seconds; the secret is not tried before this time. */
  notBefore?: number;
  /** Unix seconds; the secret is not tried after this time (end of a rotation grace period). */
  notAfter?: number;
}

/** What a key resolver knows about one key id. */
export interface ClientCredential {
  keyId: string;
  /** At most 4 of them may be valid at any one time. */
  secrets: readonly ClientSecret[];
  /** A revoked credential is answered with WXSEAL_KEY_REVOKED. */
  revoked?: boolean;
  /** Restricts the modes this client may use, on top of the route's restriction. */
  allowedModes?: readonly Mode[];
}

/**
 * Looks up the credential of a key id. Implementations may hit a cache, Redis or SQL; they return
 * undefined for an unknown key id and throw (or reject) when the store cannot answer, which the
 * verifier turns into WXSEAL_KEY_STORE_UNAVAILABLE (fail closed).
 */
export interface KeyResolver {
  resolve(keyId: string): Promise<ClientCredential | undefined>;
}

/** A secret as configured: raw bytes or their b64u text. */
export interface ClientSecretInput extends Omit<ClientSecret, 'secret'> {
  secret: Uint8Array | string;
}

export interface ClientCredentialInput extends Omit<ClientCredential, 'secrets'> {
  secrets: readonly ClientSecretInput[];
}

const configError = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function optionalTime(value: number | undefined, name: string): void {
  if (value !== undefined && !Number.isFinite(value)) configError(`${name} must be Unix seconds`);
}

/** Checks and copies a configured secret; the bytes are copied so later changes by the caller do not leak in. */
export function normalizeSecret(input: ClientSecretInput): ClientSecret {
  let bytes: Uint8Array;
  if (typeof input.secret === 'string') {
    bytes = b64uDecodeStrict(input.secret) ?? configError('a client secret given as text must be canonical base64url');
  } else if (input.secret instanceof Uint8Array) {
    bytes = Buffer.from(input.secret);
  } else {
    return configError('a client secret must be bytes or base64url text');
  }
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    configError(`a client secret must be ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes`);
  }
  optionalTime(input.notBefore, 'notBefore');
  optionalTime(input.notAfter, 'notAfter');
  const out: ClientSecret = { secret: bytes };
  if (input.id !== undefined) out.id = input.id;
  if (input.notBefore !== undefined) out.notBefore = input.notBefore;
  if (input.notAfter !== undefined) out.notAfter = input.notAfter;
  return out;
}

function checkModes(modes: readonly Mode[] | undefined): void {
  if (modes !== undefined && (!Array.isArray(modes) || modes.some((m) => !MODES.includes(m)))) {
    configError('allowedModes must list "sealed" and/or "signed"');
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * In-memory KeyResolver. Secrets can be added and removed while the server runs, which is how a
 * rotation is done: add the new secret (with notBefore if wanted), let clients move, give the old
 * one a notAfter or remove it.
 */
export class StaticKeyResolver implements KeyResolver {
  readonly #credentials = new Map<string, ClientCredential>();

  constructor(credentials: Iterable<ClientCredentialInput> = []) {
    for (const c of credentials) this.set(c);
  }

  /** Adds or replaces a whole credential. */
  set(input: ClientCredentialInput): void {
    if (typeof input.keyId !== 'string' || !LIMITS.idPattern.test(input.keyId)) configError('keyId must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    if (!Array.isArray(input.secrets)) configError('secrets must be an array');
    if (input.secrets.length > MAX_SECRETS_PER_KEY) configError(`a key id holds at most ${MAX_SECRETS_PER_KEY} secrets`);
    checkModes(input.allowedModes);
    const credential: ClientCredential = { keyId: input.keyId, secrets: input.secrets.map(normalizeSecret) };
    if (input.revoked) credential.revoked = true;
    if (input.allowedModes) credential.allowedModes = [...input.allowedModes];
    this.#credentials.set(input.keyId, credential);
  }

  /** Adds a secret to an existing key id (rotation); at most 4 secrets per key id. */
  addSecret(keyId: string, secret: ClientSecretInput): void {
    const current = this.#credentials.get(keyId) ?? configError(`unknown key id ${keyId}`);
    if (current.secrets.length >= MAX_SECRETS_PER_KEY) configError(`a key id holds at most ${MAX_SECRETS_PER_KEY} secrets`);
    this.#credentials.set(keyId, { ...current, secrets: [...current.secrets, normalizeSecret(secret)] });
  }

  /** Removes the secrets whose id equals `match` (a string) or whose bytes equal `match`. Returns how many were removed. */
  removeSecret(keyId: string, match: string | Uint8Array): number {
    const current = this.#credentials.get(keyId);
    if (!current) return 0;
    const keep = current.secrets.filter((s) => (typeof match === 'string' ? s.id !== match : !sameBytes(s.secret, match)));
    this.#credentials.set(keyId, { ...current, secrets: keep });
    return current.secrets.length - keep.length;
  }

  /** Marks a key id revoked (WXSEAL_KEY_REVOKED) or lifts the revocation. */
  setRevoked(keyId: string, revoked = true): void {
    const current = this.#credentials.get(keyId) ?? configError(`unknown key id ${keyId}`);
    const next: ClientCredential = { ...current };
    if (revoked) next.revoked = true;
    else delete next.revoked;
    this.#credentials.set(keyId, next);
  }

  delete(keyId: string): boolean {
    return this.#credentials.delete(keyId);
  }

  has(keyId: string): boolean {
    return this.#credentials.has(keyId);
  }

  async resolve(keyId: string): Promise<ClientCredential | undefined> {
    const c = this.#credentials.get(keyId);
    // A snapshot: a rotation running concurrently never changes a credential mid-verification.
    return c && { ...c, secrets: [...c.secrets] };
  }
}
