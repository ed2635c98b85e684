import type { OutgoingHttpHeaders } from 'node:http';
import {
  WIRE_ERROR_STATUS,
  isAuthenticRejection,
  WxsealError,
  buildRequest,
  isWxsealError,
  openResponse,
  parseRejection,
  sealedBodyLength,
  validateIdentity,
  type HeaderGetter,
  type Mode,
  type Rejection,
  type RequestContext,
  type ServerPublicKey,
  type WechatIdentity,
} from '@wxseal/protocol';
import { CallScope } from './deadline.js';
import { SessionKeyReuse } from './session-key-reuse.js';

const REUSE_BREAKING_CODES: ReadonlySet<string> = new Set(['WXSEAL_UNWRAP_FAILED', 'WXSEAL_UNKNOWN_SERVER_KEY', 'WXSEAL_DECRYPT_FAILED']);
import type { LogEntry, LogEvent } from './log.js';
import { MAX_TIMER_MS, checkInteger, configError, resolveOptions, type ClientOptions, type ResolvedOptions } from './options.js';
import { AuthenticatedResponse, type WxsealResponse } from './response.js';
import { backoffDelayMs, isIdempotent, parseRetryAfter } from './retry.js';
import { generateTraceparent, isValidTraceparent } from './trace.js';
import { tlsFailureKind } from './tls.js';
import {
  NetworkFailure,
  TransportAborted,
  createManagedAgent,
  send,
  type ManagedAgent,
  type TransportResponse,
} from './transport.js';

export type QueryPrimitive = string | number | boolean;
/** A raw query string (sent as is), URLSearchParams, or a record encoded with encodeURIComponent. */
export type QueryInput =
  | string
  | URLSearchParams
  | Readonly<Record<string, QueryPrimitive | readonly QueryPrimitive[] | null | undefined>>;

export interface RequestOptions {
  /** HTTP method; upper-cased. Sealed mode cannot be used with HEAD. */
  method: string;
  /** Path under the base URL, starting with `/`; may carry a query. */
  path: string;
  query?: QueryInput;
  /** Raw body (a string is sent as UTF-8). Exclusive with `json`. */
  body?: string | Uint8Array;
  /** A value sent as JSON (application/json). Exclusive with `body`. */
  json?: unknown;
  /** Media type of the body; inferred from `body`/`json` when absent. */
  contentType?: string;
  /**
   * Extra HTTP headers. They travel in clear and are NOT authenticated (not even in sealed mode):
   * put nothing in them that matters. wxseal headers and framing headers cannot be set.
   */
  headers?: Readonly<Record<string, string>>;
  /** The WeChat identity to assert (encrypted in sealed mode, signed in both). */
  identity?: WechatIdentity;
  /** W3C traceparent to propagate (validated); one is generated when absent. */
  traceparent?: string;
  /** Aborts the call (WXSEAL_ABORTED). */
  signal?: AbortSignal;
  /** Deadline of this call, all retries included (WXSEAL_TIMEOUT). Default: the client's. */
  timeoutMs?: number;
  /** Default: the client's mode. */
  mode?: Mode;
  /** Correlation id for log entries only (e.g. the cloud function's request_id); never sent. */
  requestId?: string;
}

export type MethodRequestOptions = Omit<RequestOptions, 'method' | 'path'>;

export interface WxsealClient {
  /**
   * Signs (and in sealed mode encrypts) the request, sends it, authenticates (and decrypts) the
   * response. Resolves with every authenticated response, whatever its status; rejects with a
   * WxsealError otherwise (the server's code for a verifier rejection).
   */
  request(options: RequestOptions): Promise<WxsealResponse>;
  get(path: string, options?: MethodRequestOptions): Promise<WxsealResponse>;
  post(path: string, options?: MethodRequestOptions): Promise<WxsealResponse>;
  put(path: string, options?: MethodRequestOptions): Promise<WxsealResponse>;
  delete(path: string, options?: MethodRequestOptions): Promise<WxsealResponse>;
  /** Seconds added to the local clock, learnt from a server's Wxseal-Server-Time (0 until then). */
  readonly clockOffsetSeconds: number;
  /** The default deadline of a call, in ms. */
  readonly timeoutMs: number;
  /** Closes the pooled connections (when the client created the agent). */
  close(): void;
}

/** Creates a client; every option is validated here (WXSEAL_CONFIG_INVALID). */
export function createClient(options: ClientOptions): WxsealClient {
  return new Client(options);
}

interface PreparedCall {
  method: string;
  mode: Mode;
  target: string;
  /** The wire path without the query, for logs. */
  logPath: string;
  body: Buffer;
  contentType: string | undefined;
  identity: WechatIdentity | undefined;
  traceparent: string;
  extraHeaders: Record<string, string>;
  timeoutMs: number;
  requestId: string | undefined;
  serverKey: ServerPublicKey | undefined;
}

type Outcome =
  | { kind: 'response'; response: AuthenticatedResponse; retryAfterMs: number | undefined }
  | { kind: 'rejection'; rejection: Rejection; retryAfterMs: number | undefined }
  | { kind: 'invalid'; error: WxsealError; status: number; retryAfterMs: number | undefined }
  | { kind: 'network'; failure: NetworkFailure; tls: 'pin' | 'tls' | undefined; retryAfterMs: undefined };

/** Headers the protocol or the transport owns. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'traceparent',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
const CONTENT_TYPE = /^[\x20-\x7e\t]{1,256}$/;
const TIMESTAMP_CODES = new Set(['WXSEAL_TIMESTAMP_EXPIRED', 'WXSEAL_TIMESTAMP_FUTURE']);
const GATEWAY_STATUSES = new Set([502, 503, 504]);
/** A reset retry waits for the clock to leave the loss second; more than this means clocks disagree (the usual retry then applies). */
const MAX_RESET_WAIT_MS = 2_000;

class Client implements WxsealClient {
  private readonly o: ResolvedOptions;
  private readonly pool: ManagedAgent;
  private offsetSeconds = 0;
  private readonly reuse: SessionKeyReuse | undefined;

  constructor(options: ClientOptions) {
    this.o = resolveOptions(options);
    this.pool = createManagedAgent(this.o.isHttps, this.o.agent, this.o.tls);
    const r = this.o.sessionKeyReuse;
    this.reuse = r ? new SessionKeyReuse(r.maxAgeMs, r.maxMessages) : undefined;
  }

  get clockOffsetSeconds(): number {
    return this.offsetSeconds;
  }

  get timeoutMs(): number {
    return this.o.timeoutMs;
  }

  close(): void {
    this.pool.destroy();
  }

  get(path: string, options: MethodRequestOptions = {}): Promise<WxsealResponse> {
    return this.request({ ...options, method: 'GET', path });
  }

  post(path: string, options: MethodRequestOptions = {}): Promise<WxsealResponse> {
    return this.request({ ...options, method: 'POST', path });
  }

  put(path: string, options: MethodRequestOptions = {}): Promise<WxsealResponse> {
    return this.request({ ...options, method: 'PUT', path });
  }

  delete(path: string, options: MethodRequestOptions = {}): Promise<WxsealResponse> {
    return this.request({ ...options, method: 'DELETE', path });
  }

  async request(options: RequestOptions): Promise<WxsealResponse> {
    const call = this.prepare(options);
    const scope = new CallScope(call.timeoutMs, options.signal);
    try {
      return await this.run(call, scope);
    } finally {
      scope.dispose();
    }
  }

  private prepare(options: RequestOptions): PreparedCall {
    if (typeof options !== 'object' || options === null) configError('request options are required');
    if (typeof options.method !== 'string') configError('method is required');
    const method = options.method.toUpperCase();
    if (!/^[A-Z]{1,16}$/.test(method)) configError('method must be 1-16 letters');
    const mode = options.mode ?? this.o.mode;
    if (mode !== 'sealed' && mode !== 'signed') configError("mode must be 'sealed' or 'signed'");
    if (mode === 'sealed' && !this.o.serverKey) configError('sealed mode needs serverPublicKey and serverKeyId on the client');
    if (mode === 'sealed' && method === 'HEAD') configError('sealed mode cannot be used with HEAD (its response has no body to seal)');
    const { target, logPath } = buildTarget(this.o.basePath, options.path, options.query);

    if (options.body !== undefined && options.json !== undefined) configError('give either body or json, not both');
    let body: Buffer;
    let inferredType: string | undefined;
    if (options.json !== undefined) {
      const text = JSON.stringify(options.json);
      if (typeof text !== 'string') configError('json must be a JSON-serialisable value');
      body = Buffer.from(text, 'utf8');
      inferredType = 'application/json';
    } else if (typeof options.body === 'string') {
      body = Buffer.from(options.body, 'utf8');
      inferredType = 'text/plain; charset=utf-8';
    } else if (options.body instanceof Uint8Array) {
      body = Buffer.from(options.body);
      inferredType = 'application/octet-stream';
    } else if (options.body === undefined) {
      body = Buffer.alloc(0);
    } else {
      configError('body must be a string or bytes');
    }
    if (options.contentType !== undefined && (typeof options.contentType !== 'string' || !CONTENT_TYPE.test(options.contentType))) {
      configError('contentType must be 1-256 printable ASCII characters');
    }
    // No body, no media type, unless the caller insists.
    const contentType = options.contentType ?? (body.length > 0 ? inferredType : undefined);

    const identity = options.identity === undefined ? undefined : validateIdentity(options.identity, 'WXSEAL_CONFIG_INVALID');
    // The server's limit is on the bytes sent (SPEC.md 6.1, 9 step 1): in sealed mode the meta, an
    // LF and the GCM tag come on top of the body. A request that cannot fit is refused here, where
    // the caller learns why, instead of costing a round trip and a WXSEAL_BODY_TOO_LARGE.
    const wireBytes =
      mode === 'sealed'
        ? sealedBodyLength({ ...(contentType ? { contentType } : {}), ...(identity ? { identity } : {}) }, body.length)
        : body.length;
    if (wireBytes > this.o.maxBodyBytes) {
      configError(
        mode === 'sealed'
          ? `the sealed body would be ${wireBytes} bytes (body ${body.length} + meta, LF and 16-byte tag ${wireBytes - body.length}), over maxBodyBytes ${this.o.maxBodyBytes}, the server's limit`
          : `the body is ${body.length} bytes, over maxBodyBytes ${this.o.maxBodyBytes}, the server's limit`,
      );
    }
    let traceparent: string;
    if (options.traceparent === undefined) traceparent = generateTraceparent();
    else if (typeof options.traceparent === 'string' && isValidTraceparent(options.traceparent)) traceparent = options.traceparent;
    else configError('traceparent is not a valid W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)');

    const timeoutMs = options.timeoutMs === undefined ? this.o.timeoutMs : checkInteger('timeoutMs', options.timeoutMs, 1, MAX_TIMER_MS);
    if (options.signal !== undefined && !isAbortSignal(options.signal)) configError('signal must be an AbortSignal');
    if (options.requestId !== undefined && typeof options.requestId !== 'string') configError('requestId must be a string');

    return {
      method,
      mode,
      target,
      logPath,
      body,
      contentType,
      identity,
      traceparent,
      extraHeaders: checkExtraHeaders(options.headers),
      timeoutMs,
      requestId: options.requestId === undefined ? undefined : options.requestId.slice(0, 128),
      serverKey: mode === 'sealed' ? this.o.serverKey : undefined,
    };
  }

  private async run(call: PreparedCall, scope: CallScope): Promise<WxsealResponse> {
    const o = this.o;
    const idempotent = isIdempotent(call.method);
    let attempt = 0;
    let retries = 0;
    let corrected = false;
    let resetRetried = false;

    for (;;) {
      attempt += 1;
      if (scope.reason) throw this.stopped(call, scope, attempt);

      // Every attempt is a new request: fresh nonce, timestamp, session key, IV and signature.
      const built = buildRequest({
        mode: call.mode,
        method: call.method,
        target: call.target,
        keyId: o.keyId,
        secret: o.secret,
        body: call.body,
        contentType: call.contentType,
        identity: call.identity,
        traceparent: call.traceparent,
        serverKey: call.serverKey,
        timestamp: this.timestamp(),
        ...(this.reuse && call.serverKey ? this.reuse.next(call.serverKey, o.now()) : {}),
      });
      const headers: OutgoingHttpHeaders = { ...call.extraHeaders, ...built.headers };
      this.pool.pruneIdle();

      let outcome: Outcome;
      try {
        const res = await send(
          {
            origin: o.origin,
            isHttps: o.isHttps,
            method: call.method,
            target: call.target,
            headers,
            body: built.body,
            agent: this.pool.agent,
            maxResponseBytes: o.maxResponseBytes,
          },
          scope.signal,
        );
        outcome = classify(res, built.context, call.traceparent, attempt);
      } catch (err) {
        if (err instanceof TransportAborted) throw this.stopped(call, scope, attempt);
        if (!(err instanceof NetworkFailure)) {
          if (isWxsealError(err)) this.log(call, scope, 'invalid_response', attempt, { status: err.status, code: err.code });
          throw err;
        }
        outcome = { kind: 'network', failure: err, tls: tlsFailureKind(err.error, o.isHttps), retryAfterMs: undefined };
      }

      let retryable: boolean;
      switch (outcome.kind) {
        case 'response':
          this.log(call, scope, 'response', attempt, { status: outcome.response.status });
          // The handler answered 503; only a request that may be repeated is repeated.
          retryable = outcome.response.status === 503 && idempotent;
          break;
        case 'rejection': {
          const { rejection } = outcome;
          this.log(call, scope, 'rejected', attempt, { status: rejection.status, code: rejection.code });
          // A reused key the server cannot use any more is replaced on the next attempt.
          if (REUSE_BREAKING_CODES.has(rejection.code)) this.reuse?.drop();
          if (TIMESTAMP_CODES.has(rejection.code) && !corrected && this.correctClock(rejection)) {
            corrected = true;
            this.log(call, scope, 'clock_corrected', attempt, { offsetSeconds: this.offsetSeconds });
            // Once per call and at once: the new timestamp is the fix, waiting adds nothing.
            continue;
          }
          // SPEC 8.1: the store lost its records at or before the server time of the rejection; a
          // request signed in a later second passes. Once per call, beside the attempts it counts,
          // and for a POST only when the rejection is signed for this request (10.1).
          if (rejection.code === 'WXSEAL_NONCE_STORE_RESET' && !resetRetried && (idempotent || isAuthenticRejection(rejection, built.context))) {
            const waitMs = this.msUntilPastSecond(rejection.serverTime);
            if (waitMs <= MAX_RESET_WAIT_MS && waitMs < scope.remainingMs()) {
              resetRetried = true;
              this.log(call, scope, 'retry', attempt, { delayMs: waitMs });
              try {
                await scope.sleep(waitMs);
              } catch {
                throw this.stopped(call, scope, attempt);
              }
              continue;
            }
          }
          // A verifier 503 means no handler ran. Rejections are unauthenticated unless signed
          // (SPEC.md 10.1), and a forged 503 must not make us send a POST twice: a
          // non-idempotent request is repeated only after a rejection signed for this request.
          retryable =
            rejection.status === 503 &&
            WIRE_ERROR_STATUS[rejection.code] === 503 &&
            (idempotent || isAuthenticRejection(rejection, built.context));
          break;
        }
        case 'invalid':
          this.log(call, scope, 'invalid_response', attempt, { status: outcome.status, code: outcome.error.code });
          // An unauthenticated gateway error: the request may have reached the server.
          retryable = GATEWAY_STATUSES.has(outcome.status) && idempotent;
          break;
        case 'network': {
          const { failure } = outcome;
          this.log(call, scope, 'network_error', attempt, { code: networkCode(outcome.tls), errno: failure.errno, sent: failure.sent });
          // A TLS failure is never retried: the same certificates fail the same way, and a pin
          // mismatch may be an interception that deserves no second connection.
          retryable = outcome.tls !== undefined ? false : failure.sent ? idempotent : true;
          break;
        }
      }

      const attemptLimit = o.maxAttempts + (corrected ? 1 : 0) + (resetRetried ? 1 : 0);
      if (retryable && attempt < attemptLimit) {
        const delayMs = this.retryDelay(retries + 1, outcome.retryAfterMs, scope);
        if (delayMs !== undefined) {
          retries += 1;
          this.log(call, scope, 'retry', attempt, { delayMs });
          try {
            await scope.sleep(delayMs);
          } catch {
            throw this.stopped(call, scope, attempt);
          }
          continue;
        }
      }
      return surface(outcome);
    }
  }

  /** The wait before the next attempt, or undefined when waiting is not worth it. */
  private retryDelay(retry: number, retryAfterMs: number | undefined, scope: CallScope): number | undefined {
    let delayMs = backoffDelayMs(retry, this.o.baseDelayMs, this.o.maxDelayMs);
    if (retryAfterMs !== undefined) {
      // Retry-After is honoured, never shortened; beyond our bound we stop rather than come back early.
      if (retryAfterMs > this.o.maxDelayMs) return undefined;
      delayMs = Math.max(delayMs, retryAfterMs);
    }
    // Waiting past the deadline would only turn the real error into a timeout.
    return delayMs < scope.remainingMs() ? delayMs : undefined;
  }

  /** Milliseconds until this client's timestamps are past `serverSecond` (the next second when it is unknown). */
  private msUntilPastSecond(serverSecond: number | undefined): number {
    const now = this.o.now();
    const target = serverSecond === undefined ? Math.floor(now / 1000) + 1 : serverSecond + 1 - this.offsetSeconds;
    return Math.max(0, target * 1000 - now);
  }

  /** SPEC 8: offset = server time - local time, applied once per call and only within the bound. */
  private correctClock(rejection: Rejection): boolean {
    const max = this.o.maxClockCorrectionSeconds;
    if (rejection.serverTime === undefined || max === 0) return false;
    const offset = rejection.serverTime - Math.floor(this.o.now() / 1000);
    if (Math.abs(offset) > max) return false;
    this.offsetSeconds = offset;
    return true;
  }

  private timestamp(): number {
    return Math.max(0, Math.floor(this.o.now() / 1000) + this.offsetSeconds);
  }

  private stopped(call: PreparedCall, scope: CallScope, attempt: number): WxsealError {
    const error = scope.reason ?? new WxsealError('WXSEAL_ABORTED', 'the call was aborted');
    this.log(call, scope, error.code === 'WXSEAL_TIMEOUT' ? 'timeout' : 'aborted', attempt, { code: error.code });
    return error;
  }

  private log(call: PreparedCall, scope: CallScope, event: LogEvent, attempt: number, extra: Partial<LogEntry>): void {
    const logger = this.o.logger;
    if (!logger) return;
    const entry: LogEntry = {
      event,
      method: call.method,
      path: call.logPath,
      attempt,
      durationMs: scope.elapsedMs(),
      traceparent: call.traceparent,
    };
    if (call.requestId !== undefined) entry.requestId = call.requestId;
    for (const [key, value] of Object.entries(extra)) {
      if (value !== undefined) (entry as unknown as Record<string, unknown>)[key] = value;
    }
    try {
      logger(entry);
    } catch {
      // A failing logger must not fail the call.
    }
  }
}

function classify(res: TransportResponse, ctx: RequestContext, traceparent: string, attempt: number): Outcome {
  const header: HeaderGetter = (name) => res.headers[name];
  const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
  // A verifier rejection is reported by its code, never read as data (SPEC 6.4 and 10).
  const rejection = parseRejection(res.status, header, res.body);
  if (rejection) return { kind: 'rejection', rejection, retryAfterMs };
  try {
    const opened = openResponse(ctx, { status: res.status, header, body: res.body });
    return {
      kind: 'response',
      response: new AuthenticatedResponse(opened.status, res.headers, opened.contentType, opened.body, traceparent, attempt),
      retryAfterMs,
    };
  } catch (err) {
    // Always WXSEAL_RESPONSE_INVALID with the status received (some protocol paths omit the status).
    const error =
      isWxsealError(err, 'WXSEAL_RESPONSE_INVALID') && err.status === res.status
        ? err
        : new WxsealError('WXSEAL_RESPONSE_INVALID', isWxsealError(err) ? err.message : 'the response does not authenticate', {
            status: res.status,
            cause: err,
          });
    return { kind: 'invalid', error, status: res.status, retryAfterMs };
  }
}

function surface(outcome: Outcome): WxsealResponse {
  switch (outcome.kind) {
    case 'response':
      return outcome.response;
    case 'rejection': {
      const { rejection } = outcome;
      throw new WxsealError(rejection.code, `the server rejected the request: ${rejection.message}`, { status: rejection.status });
    }
    case 'invalid':
      throw outcome.error;
    case 'network': {
      const { failure } = outcome;
      if (outcome.tls === 'pin') throw new WxsealError('WXSEAL_TLS_PIN_MISMATCH', failure.message, { cause: failure.error });
      const errno = failure.errno ? ` (${failure.errno})` : '';
      if (outcome.tls === 'tls') throw new WxsealError('WXSEAL_TLS_FAILED', `TLS handshake failed${errno}: ${failure.message}`, { cause: failure.error });
      throw new WxsealError('WXSEAL_NETWORK', `network error${errno}: ${failure.message}`, { cause: failure.error });
    }
  }
}

function networkCode(tls: 'pin' | 'tls' | undefined): 'WXSEAL_TLS_PIN_MISMATCH' | 'WXSEAL_TLS_FAILED' | 'WXSEAL_NETWORK' {
  return tls === 'pin' ? 'WXSEAL_TLS_PIN_MISMATCH' : tls === 'tls' ? 'WXSEAL_TLS_FAILED' : 'WXSEAL_NETWORK';
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function'
  );
}

function encodeQuery(query: QueryInput | undefined): string {
  if (query === undefined) return '';
  if (typeof query === 'string') return query.replace(/^\?/, '');
  if (query instanceof URLSearchParams) return query.toString();
  if (typeof query !== 'object' || query === null) configError('query must be a string, URLSearchParams or a record');
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    const values: readonly unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        configError(`query value of ${JSON.stringify(name)} must be a string, number or boolean`);
      }
      parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(v))}`);
    }
  }
  return parts.join('&');
}

/** The request target exactly as sent and signed: base path + path + query. */
function buildTarget(basePath: string, path: unknown, query: QueryInput | undefined): { target: string; logPath: string } {
  if (typeof path !== 'string' || !path.startsWith('/')) configError('path must be a string starting with /');
  const q = path.indexOf('?');
  const rawPath = q === -1 ? path : path.slice(0, q);
  let rawQuery = q === -1 ? '' : path.slice(q + 1);
  const extra = encodeQuery(query);
  if (extra) rawQuery = rawQuery ? `${rawQuery}&${extra}` : extra;
  const wirePath = basePath + rawPath;
  const target = rawQuery ? `${wirePath}?${rawQuery}` : wirePath;
  // The target is signed byte for byte, so it must reach the server unchanged: printable ASCII.
  if (!/^[\x21-\x7e]+$/.test(target) || target.includes('#')) {
    configError('path and query must be printable ASCII without spaces or # (percent-encode them)');
  }
  return { target, logPath: wirePath };
}

function checkExtraHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  if (typeof headers !== 'object' || headers === null) configError('headers must be a record of strings');
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!HEADER_NAME.test(name)) configError(`header name ${JSON.stringify(rawName)} is not a valid token`);
    if (name.startsWith('wxseal-') || RESERVED_HEADERS.has(name)) configError(`header ${rawName} is set by the client and cannot be overridden`);
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) configError(`header ${rawName} must be a printable ASCII string`);
    out[name] = value;
  }
  return out;
}

