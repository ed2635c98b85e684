import { CodedError, MAX_SECRET_BYTES, MAX_SECRETS_PER_KEY, MIN_SECRET_BYTES, WxsealError, isWireErrorCode, type Mode, type WireErrorCode } from '@wxseal/protocol';
import type { ServerErrorCode } from './errors.js';
import { withTimeout } from '@wxseal/support';
import type { ClientCredential, ClientSecret, KeyResolver } from './keys/key-resolver.js';
import type { NonceStore } from './nonce/nonce-store.js';

/** The dependency whose failure a verifier reports through `onDependencyError`. */
export type VerifierDependency = 'key-resolver' | 'nonce-store' | 'server-key-ring';

export interface VerifierDependencyOptions {
  keys: KeyResolver;
  nonceStore: NonceStore;
  keyResolverTimeoutMs?: number | undefined;
  nonceStoreTimeoutMs?: number | undefined;
  onDependencyError?: ((error: unknown, dependency: VerifierDependency) => void) | undefined;
}

// The codes the key resolver and the nonce store may report as they are; anything else becomes the fallback.
const KEY_CODES: readonly WireErrorCode[] = ['WXSEAL_KEY_STORE_UNAVAILABLE', 'WXSEAL_UNKNOWN_KEY_ID', 'WXSEAL_KEY_REVOKED', 'WXSEAL_CREDENTIALS_STALE'];
const NONCE_CODES: readonly WireErrorCode[] = ['WXSEAL_NONCE_STORE_FULL', 'WXSEAL_NONCE_STORE_UNAVAILABLE', 'WXSEAL_NONCE_STORE_RESET', 'WXSEAL_REPLAYED_NONCE'];

/** Fixed messages for failures of dependencies: their own messages might say more than a client should hear. */
const DEPENDENCY_MESSAGES: Partial<Record<WireErrorCode, string>> = {
  WXSEAL_KEY_STORE_UNAVAILABLE: 'the credential store cannot be reached',
  WXSEAL_UNKNOWN_KEY_ID: 'no credential has this key id',
  WXSEAL_KEY_REVOKED: 'the credential is revoked or not valid now',
  WXSEAL_CREDENTIALS_STALE: 'this instance cannot confirm its credentials with the control plane now',
  WXSEAL_NONCE_STORE_FULL: 'the nonce store refuses new nonces until old ones expire',
  WXSEAL_NONCE_STORE_UNAVAILABLE: 'the nonce store cannot be reached',
  WXSEAL_NONCE_STORE_RESET: 'the nonce store lost its records after this request was signed; send a new request',
  WXSEAL_REPLAYED_NONCE: 'this nonce was already accepted for this key id',
  WXSEAL_UNWRAP_FAILED: 'the wrapped session key does not decrypt with the named server key',
};

/** The wire code of a WxsealError, or undefined for anything else. */
export function wireCodeOf(err: unknown): WireErrorCode | undefined {
  return err instanceof WxsealError && isWireErrorCode(err.code) ? err.code : undefined;
}

function secretUsable(s: ClientSecret, now: number): boolean {
  if (typeof s !== 'object' || s === null || !(s.secret instanceof Uint8Array)) return false;
  // A secret outside the protocol's size range is never tried: an empty HMAC key would accept forgeries.
  if (s.secret.length < MIN_SECRET_BYTES || s.secret.length > MAX_SECRET_BYTES) return false;
  if (s.notBefore !== undefined && !(now >= s.notBefore)) return false;
  if (s.notAfter !== undefined && !(now <= s.notAfter)) return false;
  return true;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new WxsealError('WXSEAL_CONFIG_INVALID', `${name} must be a positive number`);
  return v;
}

/**
 * What the verifier asks of the outside world — credentials from the key resolver (SPEC.md
 * section 9 step 4), a nonce claim from the nonce store (step 6) — and the fail-closed rule every
 * step applies to its errors: a call is bounded by a timeout, an answer is checked before it is
 * believed, an error keeps its code only when the step may raise it (anything else becomes the
 * step's fallback code, with a fixed message), and an unexpected failure is reported.
 */
export class VerifierDependencies {
  readonly #keys: KeyResolver;
  readonly #nonceStore: NonceStore;
  readonly #keyTimeoutMs: number;
  readonly #nonceTimeoutMs: number;
  readonly #onDependencyError: VerifierDependencyOptions['onDependencyError'];

  constructor(options: VerifierDependencyOptions) {
    this.#keys = options.keys;
    this.#nonceStore = options.nonceStore;
    this.#keyTimeoutMs = positive(options.keyResolverTimeoutMs, 5000, 'keyResolverTimeoutMs');
    this.#nonceTimeoutMs = positive(options.nonceStoreTimeoutMs, 5000, 'nonceStoreTimeoutMs');
    this.#onDependencyError = options.onDependencyError;
  }

  /**
   * Step 4, the key id: its credential's secrets valid at `now`, after the credential's revocation
   * and mode restriction. One lookup; no cryptography.
   */
  async validSecrets(keyId: string, mode: Mode, now: number): Promise<ClientSecret[]> {
    let credential: ClientCredential | undefined;
    try {
      credential = await withTimeout(() => this.#keys.resolve(keyId), this.#keyTimeoutMs, () => new TimeoutError('the credential store did not answer in time'));
    } catch (err) {
      throw this.stepError(err, KEY_CODES, 'WXSEAL_KEY_STORE_UNAVAILABLE', undefined, 'key-resolver');
    }
    if (credential === undefined || credential === null) throw new WxsealError('WXSEAL_UNKNOWN_KEY_ID', DEPENDENCY_MESSAGES.WXSEAL_UNKNOWN_KEY_ID!);
    if (
      typeof credential !== 'object' ||
      credential.keyId !== keyId ||
      !Array.isArray(credential.secrets) ||
      (credential.allowedModes !== undefined && !Array.isArray(credential.allowedModes))
    ) {
      // A store that answers for another key id, or with junk, is broken: fail closed.
      this.report(new Error('the key resolver returned an invalid credential'), 'key-resolver');
      throw new WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE', DEPENDENCY_MESSAGES.WXSEAL_KEY_STORE_UNAVAILABLE!);
    }
    if (credential.revoked === true) throw new WxsealError('WXSEAL_KEY_REVOKED', DEPENDENCY_MESSAGES.WXSEAL_KEY_REVOKED!);
    const usable = credential.secrets.filter((s) => secretUsable(s, now));
    if (usable.length === 0) throw new WxsealError('WXSEAL_KEY_REVOKED', 'no secret of this key id is valid now');
    if (usable.length > MAX_SECRETS_PER_KEY) {
      // More than the protocol allows is a broken store; refuse rather than run unbounded HMACs.
      this.report(new Error(`credential ${keyId} has more than ${MAX_SECRETS_PER_KEY} valid secrets`), 'key-resolver');
      throw new WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE', DEPENDENCY_MESSAGES.WXSEAL_KEY_STORE_UNAVAILABLE!);
    }
    if (credential.allowedModes !== undefined && !credential.allowedModes.includes(mode)) {
      throw new WxsealError('WXSEAL_MODE_NOT_ALLOWED', `this client may not send ${mode} requests`);
    }
    return usable;
  }

  /** Step 6: records (key id, nonce) until `expiresAt`, or throws WXSEAL_REPLAYED_NONCE. `timestamp`: the request's, for the loss rule. */
  async claimNonce(keyId: string, nonce: string, expiresAt: number, now: number, timestamp: number): Promise<void> {
    let fresh: boolean;
    try {
      fresh = await withTimeout(
        () => this.#nonceStore.checkAndSet({ keyId, nonce, expiresAt, now, timestamp }),
        this.#nonceTimeoutMs,
        () => new TimeoutError('the nonce store did not answer in time'),
      );
    } catch (err) {
      throw this.stepError(err, NONCE_CODES, 'WXSEAL_NONCE_STORE_UNAVAILABLE', undefined, 'nonce-store');
    }
    if (fresh === false) throw new WxsealError('WXSEAL_REPLAYED_NONCE', DEPENDENCY_MESSAGES.WXSEAL_REPLAYED_NONCE!);
    // Only an explicit true records the nonce; anything else would be accepting it unchecked.
    if (fresh !== true) {
      this.report(new Error('the nonce store returned neither true nor false'), 'nonce-store');
      throw new WxsealError('WXSEAL_NONCE_STORE_UNAVAILABLE', DEPENDENCY_MESSAGES.WXSEAL_NONCE_STORE_UNAVAILABLE!);
    }
  }

  /**
   * The error a step raises for `err`: kept when its code is allowed at this step, else mapped to
   * `fallback`. A dependency's own message is replaced by a fixed one (it might name internals),
   * and its unexpected failures are reported.
   */
  stepError(
    err: unknown,
    allowed: readonly WireErrorCode[],
    fallback: WireErrorCode,
    fallbackMessage: string | undefined,
    dependency?: VerifierDependency,
  ): WxsealError {
    const code = wireCodeOf(err);
    if (code !== undefined && allowed.includes(code)) {
      const fixed = dependency ? DEPENDENCY_MESSAGES[code] : undefined;
      return fixed !== undefined && (err as WxsealError).message !== fixed ? new WxsealError(code, fixed, { cause: err }) : (err as WxsealError);
    }
    if (dependency) this.report(err, dependency);
    return new WxsealError(fallback, fallbackMessage ?? DEPENDENCY_MESSAGES[fallback] ?? 'the request could not be verified', { cause: err });
  }

  /** Tells onDependencyError; a failing logger must not change the outcome of a verification. */
  report(error: unknown, dependency: VerifierDependency): void {
    try {
      this.#onDependencyError?.(error, dependency);
    } catch {
      // Swallowed on purpose (see above).
    }
  }
}

/** A dependency that did not answer in time; reported through onDependencyError, never sent. */
class TimeoutError extends CodedError<ServerErrorCode> {
  override readonly name = 'TimeoutError';
  constructor(message: string) {
    super('WXSEAL_DEPENDENCY_TIMEOUT', message);
  }
}
