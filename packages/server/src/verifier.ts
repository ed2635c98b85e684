import {
  LIMITS,
  MODES,
  SINGLE_HEADERS,
  WxsealError,
  checkTimestamp,
  decodeIdentityHeader,
  openSealedRequest,
  parseRequestHeaders,
  rejectionResponse,
  sealResponse as protocolSealResponse,
  signResponse,
  sealableStatus,
  signRejection,
  unixNow,
  requestSignatureIndex,
  type HeaderGetter,
  type Mode,
  type ParsedRequest,
  type ServerResponseContext,
  type SmPrimitives,
  type WechatIdentity,
  type WireErrorCode,
  type WireResponse,
} from '@wxseal/protocol';
import type { ClientSecret, KeyResolver } from './keys/key-resolver.js';
import { ServerKeyRing, type ServerKeyInput } from './keys/server-key-ring.js';
import type { NonceStore } from './nonce/nonce-store.js';
import { SessionKeyCache, type SessionKeyCacheOptions } from './keys/session-key-cache.js';
import { VerifierDependencies, wireCodeOf, type VerifierDependency } from './verifier-dependencies.js';

export type { VerifierDependency } from './verifier-dependencies.js';

/** Marks an error raised after the request's signature verified, with what signing its rejection needs. */
const AUTHENTIC_REQUEST = Symbol('wxseal.authenticRequest');

/** A verification that failed without an exception (Verifier.verifyOrFailure); `rejection` answers it. */
export interface VerificationFailure {
  readonly code: WireErrorCode;
  readonly message: string;
}

/** The request's signature matches none of its key id's valid secrets (SPEC.md section 9 step 5). */
export const BAD_SIGNATURE: VerificationFailure = Object.freeze({ code: 'WXSEAL_BAD_SIGNATURE', message: 'signature does not match' });

/** True for the failure `Verifier.verifyOrFailure` resolves with instead of a verified request. */
export function isVerificationFailure(value: VerifiedRequest | VerificationFailure): value is VerificationFailure {
  return value === BAD_SIGNATURE;
}

/** Request headers as a lookup function or as an object (Node's IncomingHttpHeaders, a plain record). */
export type HeaderSource = HeaderGetter | Readonly<Record<string, string | string[] | undefined>>;

export interface VerifierOptions {
  /** Looks up client credentials by key id. */
  keys: KeyResolver;
  /** Records (key id, nonce) pairs; MemoryNonceStore for one process, RedisNonceStore for several. */
  nonceStore: NonceStore;
  /** The server's private keys (RSA or X25519). Required when sealed mode is allowed. */
  serverKeys?: ServerKeyRing | Iterable<ServerKeyInput>;
  /** Modes accepted unless a route says otherwise (default: both, or only `signed` without server keys). */
  allowedModes?: readonly Mode[];
  /** Freshness window W in seconds (default 60, at most 300). */
  windowSeconds?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Clock in Unix seconds (default: the system clock). Tests inject a fixed one. */
  now?: () => number;
  /** Longest wait for the key resolver before WXSEAL_KEY_STORE_UNAVAILABLE (default 5000 ms). */
  keyResolverTimeoutMs?: number;
  /** Longest wait for the nonce store before WXSEAL_NONCE_STORE_UNAVAILABLE (default 5000 ms). */
  nonceStoreTimeoutMs?: number;
  /**
   * Told about every unexpected failure of a dependency (a resolver that throws, a nonce store that
   * is down), so it can be logged. Errors carry no secrets or bodies. The request is refused anyway.
   */
  onDependencyError?: (error: unknown, dependency: VerifierDependency) => void;
  /**
   * Opt-in cache of unwrapped session keys (SPEC.md section 14) for clients that reuse a wrapped
   * session key: a hit skips the unwrapping (RSA or X25519). Consulted only after the HMAC and the nonce.
   */
  sessionKeyCache?: SessionKeyCache | SessionKeyCacheOptions;
}

export interface VerifyInput {
  /** The request method as on the request line. */
  method: string;
  /** The request target exactly as received on the request line (path and query), before any rewrite. */
  target: string;
  headers: HeaderSource;
  /**
   * Node's `req.rawHeaders`, when available: the only place a repeated Content-Type is visible
   * (Node keeps the first one in `req.headers`). The adapters always pass it.
   */
  rawHeaders?: readonly string[];
  /** The body bytes exactly as received. */
  body: Uint8Array;
  /** This route's modes; defaults to the verifier's `allowedModes`. */
  allowedModes?: readonly Mode[];
}

/** A request that passed every step of SPEC.md section 9. */
export interface VerifiedRequest {
  readonly mode: Mode;
  readonly keyId: string;
  /** The `id` of the client secret that matched, when the resolver gave it one. */
  readonly secretId: string | undefined;
  readonly nonce: string;
  /** The request's Unix timestamp. */
  readonly timestamp: number;
  readonly method: string;
  /** The path as sent (not decoded). */
  readonly path: string;
  /** The query as sent (not canonicalised), empty when there is none. */
  readonly rawQuery: string;
  /** The WeChat identity the client asserted (signed; encrypted in sealed mode); `{}` when none. */
  readonly identity: WechatIdentity;
  /** The body: decrypted in sealed mode, as sent in sign-only mode. */
  readonly body: Buffer;
  /** Media type of `body`: the inner content type in sealed mode, Content-Type in sign-only mode. */
  readonly contentType: string | undefined;
  readonly traceparent: string | undefined;
  /** Sealed mode: the server key that unwrapped the session key. */
  readonly serverKeyId: string | undefined;
  /**
   * What answering needs: the session key (sealed) or the secret that verified the request
   * (sign-only). Non-enumerable, so JSON.stringify and console.log of the request never show it.
   */
  readonly responseContext: ServerResponseContext;
}

/** A handler's response before it is sealed or signed. */
export interface ResponseInput {
  status: number;
  /** Media type of `body` (authenticated; inside the envelope in sealed mode). */
  contentType?: string | undefined;
  body?: Uint8Array | string | undefined;
}

/** Statuses whose responses carry no content (RFC 9110); sealed mode sends them as 200 (SPEC.md 6.3). */
export function isBodylessStatus(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

// For each stage, the codes it may raise as they are; anything else becomes the stage's fallback.
const PARSE_CODES: readonly WireErrorCode[] = ['WXSEAL_UNSUPPORTED_VERSION', 'WXSEAL_MISSING_HEADER', 'WXSEAL_MALFORMED_HEADER', 'WXSEAL_MODE_NOT_ALLOWED'];
const UNWRAP_CODES: readonly WireErrorCode[] = ['WXSEAL_UNWRAP_FAILED', 'WXSEAL_UNKNOWN_SERVER_KEY', 'WXSEAL_MALFORMED_HEADER'];
const DECRYPT_CODES: readonly WireErrorCode[] = ['WXSEAL_DECRYPT_FAILED', 'WXSEAL_MALFORMED_PAYLOAD'];

function headerGetterOf(source: HeaderSource): HeaderGetter {
  if (typeof source === 'function') return source;
  // Lower-case the names once; two spellings of one name are a duplicate header.
  const map = new Map<string, string | string[]>();
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const prev = map.get(key);
    if (prev === undefined) map.set(key, value);
    else map.set(key, [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(value) ? value : [value])]);
  }
  return (name) => map.get(name);
}

function contentLengthOf(header: HeaderGetter): number | undefined {
  const value = header('content-length');
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[0-9]{1,16}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

function checkModes(modes: readonly Mode[], name: string): void {
  if (!Array.isArray(modes) || modes.length === 0 || modes.some((m) => !MODES.includes(m))) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `${name} must list "sealed" and/or "signed"`);
  }
}

/**
 * Verifies wxseal v1 requests in the order of SPEC.md section 9, stopping at the first failure,
 * and seals or signs the responses to them. Every failure is a WxsealError with a wire code;
 * a dependency that throws something else is mapped to a defined code (fail closed).
 */
export class Verifier {
  readonly windowSeconds: number;
  readonly maxBodyBytes: number;
  readonly allowedModes: readonly Mode[];
  readonly serverKeys: ServerKeyRing | undefined;
  readonly #now: () => number;
  /** The key resolver and the nonce store, and the fail-closed rule for every step's errors. */
  readonly #dependencies: VerifierDependencies;
  /** Opt-in cache of unwrapped session keys (SPEC.md section 14); undefined when off. */
  readonly sessionKeyCache: SessionKeyCache | undefined;

  constructor(options: VerifierOptions) {
    if (!options || typeof options.keys?.resolve !== 'function') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'keys must be a KeyResolver');
    if (typeof options.nonceStore?.checkAndSet !== 'function') throw new WxsealError('WXSEAL_CONFIG_INVALID', 'nonceStore must be a NonceStore');
    const window = options.windowSeconds ?? LIMITS.defaultWindowSeconds;
    if (!Number.isSafeInteger(window) || window < 1 || window > LIMITS.maxWindowSeconds) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', `windowSeconds must be an integer from 1 to ${LIMITS.maxWindowSeconds}`);
    }
    const maxBody = options.maxBodyBytes ?? LIMITS.defaultMaxBodyBytes;
    if (!Number.isSafeInteger(maxBody) || maxBody < 0) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'maxBodyBytes must be a non-negative integer');
    this.serverKeys =
      options.serverKeys === undefined || options.serverKeys instanceof ServerKeyRing ? options.serverKeys : new ServerKeyRing(options.serverKeys);
    const modes = options.allowedModes ?? (this.serverKeys ? MODES : (['signed'] as const));
    checkModes(modes, 'allowedModes');
    if (modes.includes('sealed') && !this.serverKeys) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'sealed mode needs serverKeys');
    this.windowSeconds = window;
    this.maxBodyBytes = maxBody;
    this.allowedModes = [...modes];
    this.#now = options.now ?? unixNow;
    this.#dependencies = new VerifierDependencies(options);
    const cache = options.sessionKeyCache;
    this.sessionKeyCache = cache === undefined || cache instanceof SessionKeyCache ? cache : new SessionKeyCache(cache);
  }

  /** The verifier's clock, Unix seconds. */
  now(): number {
    return this.#now();
  }

  /**
   * Runs SPEC.md section 9 steps 1-8 in order. Resolves with the verified request; rejects with a
   * WxsealError whose code is a wire code (turn it into a response with `rejection`).
   */
  async verify(input: VerifyInput): Promise<VerifiedRequest> {
    const out = await this.#verify(input);
    if (isVerificationFailure(out)) throw new WxsealError(out.code, out.message);
    return out;
  }

  /**
   * Exactly `verify`, except that a request whose signature matches no secret resolves with
   * `BAD_SIGNATURE` (turn it into its response with `rejection`, as the error) instead of
   * rejecting: a flood of forged requests then costs no exception, stack trace and rejected
   * promise each. Every other failure rejects as with `verify`.
   */
  verifyOrFailure(input: VerifyInput): Promise<VerifiedRequest | VerificationFailure> {
    return this.#verify(input);
  }

  async #verify(input: VerifyInput): Promise<VerifiedRequest | VerificationFailure> {
    // Step 1: body size (Content-Length first, then the bytes actually received).
    const header = headerGetterOf(input.headers);
    const declared = contentLengthOf(header);
    if ((declared !== undefined && declared > this.maxBodyBytes) || input.body.length > this.maxBodyBytes) {
      throw new WxsealError('WXSEAL_BODY_TOO_LARGE', `the body exceeds ${this.maxBodyBytes} bytes`);
    }

    // Step 2: header syntax and the route's modes. Pure string work.
    const routeModes = input.allowedModes ?? this.allowedModes;
    let parsed: ParsedRequest;
    try {
      // Step 2.1: a repeated protocol header, seen through the getter (record or rawHeaders-based);
      // parseRequestHeaders repeats the check on rawHeaders when it has them.
      for (const name of SINGLE_HEADERS) {
        const value = header(name);
        if (Array.isArray(value) && value.length > 1) throw new WxsealError('WXSEAL_MALFORMED_HEADER', `${name} appears more than once`);
      }
      parsed = parseRequestHeaders({
        method: input.method,
        target: input.target,
        header,
        allowedModes: routeModes,
        ...(input.rawHeaders ? { rawHeaders: input.rawHeaders } : {}),
      });
    } catch (err) {
      throw this.#dependencies.stepError(err, PARSE_CODES, 'WXSEAL_MALFORMED_HEADER', 'the request headers could not be parsed');
    }
    if (parsed.mode === 'sealed' && !this.serverKeys) {
      throw new WxsealError('WXSEAL_MODE_NOT_ALLOWED', 'this server does not accept sealed requests');
    }

    // Step 3: freshness, before any lookup. One clock reading serves the whole verification.
    const now = this.#now();
    checkTimestamp(parsed.timestampSeconds, now, this.windowSeconds);

    // Step 4: lookups, no cryptography. SPEC.md pins the order: the key id (its credential and
    // valid secrets), then the server key id, then the wrapped key's length.
    const usable = await this.#dependencies.validSecrets(parsed.keyId, parsed.mode, now);
    if (parsed.mode === 'sealed') {
      try {
        this.serverKeys!.check(parsed.serverKeyId, parsed.wrappedKey);
      } catch (err) {
        throw this.#dependencies.stepError(err, ['WXSEAL_UNKNOWN_SERVER_KEY', 'WXSEAL_MALFORMED_HEADER'], 'WXSEAL_UNKNOWN_SERVER_KEY', undefined, 'server-key-ring');
      }
    }

    // Step 5: one HMAC per valid secret, constant-time, all of them compared.
    const sm = parsed.mode === 'sealed' ? this.serverKeys!.smPrimitives(parsed.serverKeyId) : undefined;
    const body = Buffer.from(input.body.buffer, input.body.byteOffset, input.body.byteLength);
    let matched: ClientSecret;
    try {
      // An SM2 server key selects the SM suite (SPEC.md 6.6): HMAC-SM3 over the SM3 body hash.
      const index = requestSignatureIndex(parsed, body, usable.map((s) => s.secret), sm);
      if (index === -1) return BAD_SIGNATURE;
      matched = usable[index]!;
    } catch (err) {
      throw this.#dependencies.stepError(err, ['WXSEAL_BAD_SIGNATURE'], 'WXSEAL_BAD_SIGNATURE', 'signature does not match');
    }

    // From here on the request is authentic: rejections are signed for it (SPEC.md 10.1), so a
    // client can tell a real 503 from a forged one before repeating a non-idempotent request.
    try {
      return await this.#afterSignature(parsed, body, matched, now, sm);
    } catch (err) {
      if (err instanceof WxsealError) {
        Object.defineProperty(err, AUTHENTIC_REQUEST, { value: { keyId: parsed.keyId, nonce: parsed.nonce, secret: matched.secret, sm }, enumerable: false });
      }
      throw err;
    }
  }

  async #afterSignature(parsed: ParsedRequest, body: Buffer, matched: ClientSecret, now: number, sm: SmPrimitives | undefined): Promise<VerifiedRequest> {
    // Step 6: only an authentic request may claim its nonce.
    await this.#dependencies.claimNonce(parsed.keyId, parsed.nonce, parsed.timestampSeconds + this.windowSeconds, now, parsed.timestampSeconds);

    if (parsed.mode === 'sealed') {
      // Step 7: the unwrap (RSA or X25519), reached only by authentic, fresh requests — or skipped when this client
      // reuses a wrapped key whose unwrapping an earlier verified request already paid for.
      const digest = this.sessionKeyCache && SessionKeyCache.digest(parsed.keyId, parsed.serverKeyId, parsed.wrappedKey);
      let sessionKey = digest === undefined ? undefined : this.sessionKeyCache!.get(digest);
      const cached = sessionKey !== undefined;
      if (sessionKey === undefined) {
        try {
          sessionKey = this.serverKeys!.unwrap(parsed.serverKeyId, parsed.wrappedKey);
        } catch (err) {
          throw this.#dependencies.stepError(err, UNWRAP_CODES, 'WXSEAL_UNWRAP_FAILED', undefined, 'server-key-ring');
        }
      }
      // Step 8: AES-GCM with the request AAD, then the framing of 6.1.
      let opened: ReturnType<typeof openSealedRequest>;
      try {
        opened = openSealedRequest(parsed, sessionKey, body, sm);
      } catch (err) {
        throw this.#dependencies.stepError(err, DECRYPT_CODES, 'WXSEAL_DECRYPT_FAILED', 'authenticated decryption failed');
      }
      // Cached only once the key has proved itself on a whole verified message.
      if (digest !== undefined && !cached) this.sessionKeyCache!.set(digest, sessionKey);
      return verifiedRequest(parsed, matched, opened.meta.identity ?? {}, opened.body, opened.meta.contentType || undefined, parsed.serverKeyId, {
        keyId: parsed.keyId,
        nonce: parsed.nonce,
        sessionKey,
        ...(sm ? { sm } : {}),
      });
    }

    // Step 8, sign-only: the identity header, decoded only now that it is known to be signed.
    let identity: WechatIdentity = {};
    if (parsed.identityHeader !== '') {
      try {
        identity = decodeIdentityHeader(parsed.identityHeader);
      } catch (err) {
        throw this.#dependencies.stepError(err, ['WXSEAL_MALFORMED_HEADER'], 'WXSEAL_MALFORMED_HEADER', 'wxseal-identity is malformed');
      }
    }
    return verifiedRequest(parsed, matched, identity, body, parsed.contentType || undefined, undefined, {
      keyId: parsed.keyId,
      nonce: parsed.nonce,
      secret: matched.secret,
    });
  }

  /**
   * The response to a verified request: sealed (SPEC.md 6.3) or signed (section 12) per its mode.
   * Sealed: 1xx, 204 and 304 become 200 with an empty inner body. Signed: those statuses, and
   * any HEAD response, are signed over an empty body, which is what the client receives.
   */
  sealResponse(verified: VerifiedRequest, response: ResponseInput): WireResponse {
    return sealVerifiedResponse(verified, response);
  }

  /** The SPEC.md section 10 response to a verification failure. */
  rejection(err: unknown, nowSeconds: number = this.#now()): WireResponse {
    return rejectionFor(err, nowSeconds);
  }
}

/** Creates a Verifier (see VerifierOptions). Configuration errors throw WXSEAL_CONFIG_INVALID here, never per request. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new Verifier(options);
}

/**
 * The verified request: its fields in this order (what Object.keys and JSON show), frozen, with
 * `responseContext` non-enumerable. Written as one literal: spreading partial objects into it
 * cost microseconds per request.
 */
function verifiedRequest(
  parsed: ParsedRequest,
  matched: ClientSecret,
  identity: WechatIdentity,
  body: Buffer,
  contentType: string | undefined,
  serverKeyId: string | undefined,
  ctx: ServerResponseContext,
): VerifiedRequest {
  const verified = {
    mode: parsed.mode,
    keyId: parsed.keyId,
    secretId: matched.id,
    nonce: parsed.nonce,
    timestamp: parsed.timestampSeconds,
    method: parsed.method,
    path: parsed.path,
    rawQuery: parsed.rawQuery,
    traceparent: parsed.traceparent === '' ? undefined : parsed.traceparent,
    identity,
    body,
    contentType,
    serverKeyId,
  } as VerifiedRequest;
  Object.defineProperty(verified, 'responseContext', { value: ctx, enumerable: false, writable: false, configurable: false });
  return Object.freeze(verified);
}

function bytesOf(body: Uint8Array | string | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Seals or signs a response to `verified` (see Verifier.sealResponse). */
export function sealVerifiedResponse(verified: VerifiedRequest, response: ResponseInput): WireResponse {
  const ctx = verified.responseContext;
  if (!ctx) throw new TypeError('sealVerifiedResponse needs a request returned by Verifier.verify');
  const status = response.status;
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError('invalid HTTP status');
  const body = bytesOf(response.body);
  if (verified.mode === 'sealed') {
    // SPEC.md 6.3: the status sent (and bound into the AAD) is 200 for 1xx/204/304, the inner body
    // is empty, and the handler's content type, if any, stays in the meta.
    const bodyless = isBodylessStatus(status);
    return protocolSealResponse(ctx, {
      status: sealableStatus(status),
      ...(response.contentType ? { contentType: response.contentType } : {}),
      body: bodyless ? Buffer.alloc(0) : body,
    });
  }
  // Sign-only: sign what the client will receive. No body comes with these statuses or with HEAD,
  // and frameworks drop Content-Type with 204/304.
  const bodyless = isBodylessStatus(status);
  const wire = signResponse(ctx, {
    status,
    ...(response.contentType && !bodyless ? { contentType: response.contentType } : {}),
    body: bodyless || verified.method === 'HEAD' ? Buffer.alloc(0) : body,
  });
  return wire;
}

/**
 * The SPEC.md section 10 response for any error: a WxsealError with a wire code keeps its code and
 * message; anything else (which the verifier itself never throws) is answered as a malformed request,
 * never as a 5xx, and without its message.
 */
export function rejectionFor(err: unknown, nowSeconds: number): WireResponse {
  if (err === BAD_SIGNATURE) return rejectionResponse(BAD_SIGNATURE.code, BAD_SIGNATURE.message, nowSeconds);
  const code = wireCodeOf(err);
  if (code !== undefined) {
    const wire = rejectionResponse(code, (err as WxsealError).message, nowSeconds);
    const authentic = (err as { [AUTHENTIC_REQUEST]?: { keyId: string; nonce: string; secret: Uint8Array; sm?: SmPrimitives } })[AUTHENTIC_REQUEST];
    return authentic ? signRejection(wire, authentic) : wire;
  }
  return rejectionResponse('WXSEAL_MALFORMED_HEADER', 'the request could not be verified', nowSeconds);
}
