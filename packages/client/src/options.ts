import type { Agent } from 'node:http';
import type { KeyObject } from 'node:crypto';
import {
  LIMITS,
  MAX_SECRET_BYTES,
  MIN_SECRET_BYTES,
  WxsealError,
  loadServerPublicKey,
  looksLikeSm2Key,
  parseSm2PublicKey,
  type Mode,
  type ServerPublicKey,
} from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import * as gm from '@wxseal/gm';
import { SESSION_KEY_REUSE_LIMITS, type SessionKeyReuseOptions } from './session-key-reuse.js';
import { resolveTls, type ClientTlsOptions, type ResolvedTls } from './tls.js';
import type { Logger } from './log.js';

export interface RetryOptions {
  /** Attempts per call, the first one included. Default 3. */
  maxAttempts?: number;
  /** Base of the exponential backoff, in ms. Default 100. */
  baseDelayMs?: number;
  /** Upper bound of one backoff delay and of an honoured Retry-After, in ms. Default 2000. */
  maxDelayMs?: number;
}

/** The keep-alive agent the client creates (ignored when `agent` is an Agent instance). */
export interface ClientAgentOptions {
  /** Default true. */
  keepAlive?: boolean;
  /** TCP keep-alive probe delay. Default 1000. */
  keepAliveMsecs?: number;
  /** Concurrent sockets per origin. Default 64. */
  maxSockets?: number;
  /**
   * An idle pooled socket older than this is closed instead of reused. Default 4000: below the
   * 5 s keep-alive timeout of Node servers, so the client never writes into a socket the server
   * is closing (which would lose a non-idempotent request). Checked at reuse time too, because a
   * frozen cloud-function instance runs no timers.
   */
  freeSocketTimeoutMs?: number;
}

export interface ClientOptions {
  /** http: or https: URL of the server; a path (e.g. `/api`) is prefixed to every request path. */
  baseUrl: string | URL;
  /** The client's key id. */
  keyId: string;
  /** The client secret: its b64u text or its raw bytes (32-64 bytes). */
  secret: string | Uint8Array;
  /**
   * The server's public key, RSA or X25519 (SPKI PEM or KeyObject), or SM2 (SPKI PEM as OpenSSL and
   * `wxseal keygen --type sm2` write it, or the armored `WXSEAL SM2 PUBLIC KEY` hex text): an SM2
   * key selects the SM suite (SPEC.md 6.6).
   * Required for sealed mode.
   */
  serverPublicKey?: string | Buffer | KeyObject;
  /** The id of `serverPublicKey`. Required for sealed mode. */
  serverKeyId?: string;
  /** Default mode of requests. Default 'sealed'. */
  mode?: Mode;
  /** Deadline of one call, all retries included, in ms. Default 10000. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Largest clock correction accepted from Wxseal-Server-Time, in seconds (0 disables). Default 86400. */
  maxClockCorrectionSeconds?: number;
  /** Largest response body read, in bytes. Default 8 MiB. */
  maxResponseBytes?: number;
  /**
   * The server's request body limit in bytes (SPEC.md section 9 step 1; the reference server's
   * default is 1 MiB). It applies to the bytes sent: in sealed mode the ciphertext, that is the
   * meta JSON, an LF, the body and the 16-byte GCM tag. A request that cannot fit is refused
   * before it is sent (WXSEAL_CONFIG_INVALID) instead of being answered WXSEAL_BODY_TOO_LARGE.
   * Default 1 MiB.
   */
  maxBodyBytes?: number;
  /** Receives one structured entry per event; never bodies, secrets, identities or queries. */
  logger?: Logger;
  /** Wall clock in ms since the epoch (tests). Default Date.now. */
  now?: () => number;
  /** Options of the keep-alive agent the client creates, or your own http(s).Agent. */
  agent?: ClientAgentOptions | Agent;
  /**
   * Opt-in: reuse one wrapped session key for a bounded time and number of requests (SPEC.md
   * section 14), so the server's unwrap (RSA or X25519) is paid once per key. Off by default.
   */
  sessionKeyReuse?: SessionKeyReuseOptions | boolean;
  /**
   * TLS to an https: server: trusted CAs, a client certificate (mutual TLS), public-key pins.
   * Not with an Agent instance as `agent` (configure TLS on that agent instead).
   */
  tls?: ClientTlsOptions;
}

export interface ResolvedOptions {
  origin: URL;
  isHttps: boolean;
  /** Base path without a trailing slash ('' for none). */
  basePath: string;
  keyId: string;
  secret: Uint8Array;
  serverKey: ServerPublicKey | undefined;
  mode: Mode;
  timeoutMs: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxClockCorrectionSeconds: number;
  maxResponseBytes: number;
  maxBodyBytes: number;
  logger: Logger | undefined;
  now: () => number;
  agent: ClientAgentOptions | Agent;
  sessionKeyReuse: { maxAgeMs: number; maxMessages: number } | undefined;
  tls: ResolvedTls | undefined;
}

export const DEFAULTS = {
  mode: 'sealed' as Mode,
  timeoutMs: 10_000,
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  maxClockCorrectionSeconds: 86_400,
  maxResponseBytes: 8 * 1024 * 1024,
  maxBodyBytes: LIMITS.defaultMaxBodyBytes,
  keepAliveMsecs: 1_000,
  maxSockets: 64,
  freeSocketTimeoutMs: 4_000,
} as const;

/** setTimeout's largest delay; a larger one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export function configError(message: string): never {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    configError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function optionalInteger(name: string, value: unknown, fallback: number, min: number, max: number): number {
  return value === undefined ? fallback : checkInteger(name, value, min, max);
}

export function isAgent(value: unknown): value is Agent {
  // Duck-typed so that an Agent from another copy of node:http (bundlers, tests) is accepted.
  return typeof value === 'object' && value !== null && typeof (value as { addRequest?: unknown }).addRequest === 'function';
}

function resolveSecret(secret: unknown): Uint8Array {
  let bytes: Uint8Array | undefined;
  if (typeof secret === 'string') {
    bytes = b64uDecodeStrict(secret);
    if (!bytes) configError('secret must be canonical base64url (no padding) or bytes');
  } else if (secret instanceof Uint8Array) {
    bytes = secret;
  } else {
    configError('secret is required (base64url string or bytes)');
  }
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    configError(`secret must be ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes, got ${bytes.length}`);
  }
  // A private copy: later changes to the caller's buffer must not change what we sign with.
  return Uint8Array.from(bytes);
}

function resolveBaseUrl(value: unknown): { origin: URL; isHttps: boolean; basePath: string } {
  let url: URL;
  try {
    if (typeof value !== 'string' && !(value instanceof URL)) throw new TypeError('not a string');
    url = new URL(String(value));
  } catch {
    return configError('baseUrl must be an absolute http: or https: URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') configError('baseUrl must use http: or https:');
  if (url.username || url.password) configError('baseUrl must not carry credentials');
  if (url.search || url.hash) configError('baseUrl must not carry a query or a fragment');
  const basePath = url.pathname.replace(/\/+$/, '');
  if (!/^[\x21-\x7e]*$/.test(basePath)) configError('baseUrl path must be printable ASCII (percent-encode the rest)');
  return { origin: url, isHttps: url.protocol === 'https:', basePath };
}

function resolveAgent(value: unknown): ClientAgentOptions | Agent {
  if (value === undefined) return {};
  if (isAgent(value)) return value;
  if (typeof value !== 'object' || value === null) configError('agent must be agent options or an http(s).Agent');
  const a = value as ClientAgentOptions;
  if (a.keepAlive !== undefined && typeof a.keepAlive !== 'boolean') configError('agent.keepAlive must be a boolean');
  if (a.keepAliveMsecs !== undefined) checkInteger('agent.keepAliveMsecs', a.keepAliveMsecs, 1, MAX_TIMER_MS);
  if (a.maxSockets !== undefined) checkInteger('agent.maxSockets', a.maxSockets, 1, 65_535);
  if (a.freeSocketTimeoutMs !== undefined) checkInteger('agent.freeSocketTimeoutMs', a.freeSocketTimeoutMs, 1, MAX_TIMER_MS);
  return { ...a };
}

/** Validates every option up front, so a misconfiguration fails at start-up, not on the first call. */
/**
 * The point of a PEM SM2 public key (SPKI with id-ecPublicKey and the SM2 curve, as OpenSSL writes
 * it), read by @wxseal/gm; undefined for anything else (RSA or X25519, which Node reads).
 */
function sm2PublicKeyOfPem(input: unknown): string | undefined {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return undefined;
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (!text.includes('-----BEGIN PUBLIC KEY-----')) return undefined;
  try {
    return gm.sm2PublicKeyFromPem(text);
  } catch {
    return undefined;
  }
}

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) configError('options are required');
  const { origin, isHttps, basePath } = resolveBaseUrl(options.baseUrl);
  if (typeof options.keyId !== 'string' || !LIMITS.idPattern.test(options.keyId)) {
    configError('keyId must be 1-64 characters of A-Z a-z 0-9 . _ : -');
  }
  const secret = resolveSecret(options.secret);
  const mode = options.mode ?? DEFAULTS.mode;
  if (mode !== 'sealed' && mode !== 'signed') configError("mode must be 'sealed' or 'signed'");

  let serverKey: ServerPublicKey | undefined;
  if (options.serverPublicKey !== undefined || options.serverKeyId !== undefined) {
    if (options.serverPublicKey === undefined) configError('serverKeyId is set but serverPublicKey is missing');
    if (typeof options.serverKeyId !== 'string' || !LIMITS.idPattern.test(options.serverKeyId)) {
      configError('serverKeyId must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    }
    const smPem = sm2PublicKeyOfPem(options.serverPublicKey);
    if (smPem !== undefined) {
      serverKey = { id: options.serverKeyId, sm2: { type: 'sm2', publicKeyHex: smPem, primitives: gm } };
    } else if (looksLikeSm2Key(options.serverPublicKey)) {
      // An SM2 server key selects the SM suite; the SM algorithms come from @wxseal/gm (protocol has no dependency).
      const publicKeyHex = parseSm2PublicKey(options.serverPublicKey);
      if (publicKeyHex === undefined) configError('serverPublicKey: an SM2 public key is the armored WXSEAL SM2 PUBLIC KEY form (04‖x‖y in hex)');
      try {
        gm.sm2Encrypt(publicKeyHex!, new Uint8Array(16)); // checks the point is on the curve
      } catch (cause) {
        throw new WxsealError('WXSEAL_CONFIG_INVALID', 'serverPublicKey: the SM2 public key is not a point of the SM2 curve', { cause });
      }
      serverKey = { id: options.serverKeyId, sm2: { type: 'sm2', publicKeyHex: publicKeyHex!, primitives: gm } };
    } else {
      serverKey = { id: options.serverKeyId, publicKey: loadServerPublicKey(options.serverPublicKey) };
    }
  }
  if (mode === 'sealed' && !serverKey) configError('sealed mode needs serverPublicKey and serverKeyId');

  const retry = options.retry ?? {};
  if (typeof retry !== 'object' || retry === null) configError('retry must be an object');
  const maxAttempts = optionalInteger('retry.maxAttempts', retry.maxAttempts, DEFAULTS.maxAttempts, 1, 20);
  const baseDelayMs = optionalInteger('retry.baseDelayMs', retry.baseDelayMs, DEFAULTS.baseDelayMs, 0, MAX_TIMER_MS);
  const maxDelayMs = optionalInteger('retry.maxDelayMs', retry.maxDelayMs, Math.max(DEFAULTS.maxDelayMs, baseDelayMs), 0, MAX_TIMER_MS);
  if (maxDelayMs < baseDelayMs) configError('retry.maxDelayMs must not be below retry.baseDelayMs');

  let sessionKeyReuse: ResolvedOptions['sessionKeyReuse'];
  const reuse = options.sessionKeyReuse;
  if (reuse !== undefined && reuse !== false) {
    const r = reuse === true ? {} : reuse;
    if (typeof r !== 'object' || r === null) configError('sessionKeyReuse must be a boolean or an object');
    sessionKeyReuse = {
      maxAgeMs: optionalInteger('sessionKeyReuse.maxAgeMs', r.maxAgeMs, 300_000, 1, SESSION_KEY_REUSE_LIMITS.maxAgeMs),
      maxMessages: optionalInteger('sessionKeyReuse.maxMessages', r.maxMessages, 10_000, 1, SESSION_KEY_REUSE_LIMITS.maxMessages),
    };
  }

  if (options.logger !== undefined && typeof options.logger !== 'function') configError('logger must be a function');
  if (options.now !== undefined && typeof options.now !== 'function') configError('now must be a function');
  const agent = resolveAgent(options.agent);

  return {
    origin,
    isHttps,
    basePath,
    keyId: options.keyId,
    secret,
    serverKey,
    sessionKeyReuse,
    mode,
    timeoutMs: optionalInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, 1, MAX_TIMER_MS),
    maxAttempts,
    baseDelayMs,
    maxDelayMs,
    maxClockCorrectionSeconds: optionalInteger(
      'maxClockCorrectionSeconds',
      options.maxClockCorrectionSeconds,
      DEFAULTS.maxClockCorrectionSeconds,
      0,
      10 * 365 * 86_400,
    ),
    maxResponseBytes: optionalInteger('maxResponseBytes', options.maxResponseBytes, DEFAULTS.maxResponseBytes, 1, 2 ** 31 - 1),
    maxBodyBytes: optionalInteger('maxBodyBytes', options.maxBodyBytes, DEFAULTS.maxBodyBytes, 1, 2 ** 31 - 1),
    logger: options.logger,
    now: options.now ?? Date.now,
    agent,
    tls: resolveTls(options.tls, isHttps, isAgent(agent)),
  };
}
