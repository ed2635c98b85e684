/**
 * Helpers for WeChat cloud functions (云函数, Tencent SCF underneath).
 *
 * The caller's identity is read per call from `context.environment`, a JSON string the platform
 * builds for this very invocation (WX_OPENID, WX_APPID, WX_UNIONID, TCB_ENV, TCB_SOURCE, ...).
 * wx-server-sdk's getWXContext() reads process.env instead, which is shared by every invocation an
 * instance serves, so it can hand one user's OPENID to another call; it is only a fallback for
 * runtimes whose context carries no environment at all.
 */
import { WxsealError, validateIdentity, type Mode, type WechatIdentity } from '@wxseal/protocol';
import type { MethodRequestOptions, QueryInput, WxsealClient } from './client.js';
import type { WxsealResponse } from './response.js';

/** The second argument of a cloud function's main(event, context). */
export interface CloudFunctionContext {
  request_id?: string;
  /** The function's time limit; cloud functions default to 3000. */
  time_limit_in_ms?: number | string;
  /** JSON object text of this invocation's environment (current runtimes). */
  environment?: string | Readonly<Record<string, unknown>>;
  /** `K=V;K=V` form of the same (older runtimes). */
  environ?: string;
}

/** What wx-server-sdk's cloud.getWXContext() returns. */
export interface WXContext {
  OPENID?: string;
  APPID?: string;
  UNIONID?: string;
  ENV?: string;
  SOURCE?: string;
}

/**
 * Sources whose OPENID/UNIONID come from a user's call. `wx_client` is a call from the Mini
 * Program; each cloud-function hop appends `,scf` (so function B called by function A called by
 * the Mini Program sees `wx_client,scf`). `wx_devtools`, `wx_trigger`, `wx_http`, ... are not
 * user calls and are not trusted by default.
 */
export const DEFAULT_TRUSTED_SOURCES: readonly string[] = ['wx_client', 'wx_client,scf'];
/** Cloud functions' default time limit. */
export const DEFAULT_TIME_LIMIT_MS = 3000;
/** Time kept back for the function to return (and report) after the call gives up. */
export const DEFAULT_SAFETY_MARGIN_MS = 500;

export interface IdentityOptions {
  /**
   * Fallback when the context carries no per-call environment, e.g. `() => cloud.getWXContext()`.
   * It reads process-wide state: unsafe when one instance serves concurrent calls.
   */
  getWXContext?: () => WXContext | undefined;
  /** SOURCE values under which openid/unionid are asserted. Default DEFAULT_TRUSTED_SOURCES. */
  trustedSources?: readonly string[];
}

export type IdentityOrigin = 'context.environment' | 'context.environ' | 'getWXContext' | 'none';

export interface ResolvedIdentity {
  identity: WechatIdentity;
  /** Where the values were read. */
  origin: IdentityOrigin;
  /** Whether openid/unionid were kept (SOURCE is in the trusted list). */
  userTrusted: boolean;
}

interface RawIdentity {
  openid: unknown;
  appid: unknown;
  unionid: unknown;
  env: unknown;
  source: unknown;
}

const own = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

function fromEnvironment(env: Readonly<Record<string, unknown>>): RawIdentity {
  const get = (key: string): unknown => (own(env, key) ? env[key] : undefined);
  return { openid: get('WX_OPENID'), appid: get('WX_APPID'), unionid: get('WX_UNIONID'), env: get('TCB_ENV'), source: get('TCB_SOURCE') };
}

/** Parses the legacy `K=V;K=V` environ; a key given twice with different values is dropped as ambiguous. */
function parseEnviron(environ: string): Record<string, string> {
  const out: Record<string, string> = {};
  const ambiguous = new Set<string>();
  for (const item of environ.split(';')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (own(out, key) && out[key] !== value) ambiguous.add(key);
    out[key] = value;
  }
  for (const key of ambiguous) delete out[key];
  return out;
}

/** The invocation's own environment, or undefined when the context has none. */
function perCallEnvironment(context: CloudFunctionContext): { origin: IdentityOrigin; env: Readonly<Record<string, unknown>> } | undefined {
  const { environment, environ } = context;
  if (typeof environment === 'string' && environment !== '') {
    try {
      const parsed: unknown = JSON.parse(environment);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        return { origin: 'context.environment', env: parsed as Record<string, unknown> };
      }
    } catch {
      // Falls through to an empty per-call environment below.
    }
    // Present but unreadable: still this call's context, so never fall back to process-wide state.
    return { origin: 'context.environment', env: {} };
  }
  if (typeof environment === 'object' && environment !== null && !Array.isArray(environment)) {
    return { origin: 'context.environment', env: environment };
  }
  if (typeof environ === 'string' && environ !== '') return { origin: 'context.environ', env: parseEnviron(environ) };
  return undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  // wx-server-sdk turns numeric-looking values into numbers.
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** `wx_client, scf` and `wx_client,scf` are the same chain. */
function normaliseSource(source: string): string {
  return source
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(',');
}

/**
 * The WeChat identity of this invocation. Per-call context first; getWXContext only when the
 * context has no environment. openid/unionid are dropped unless SOURCE is trusted.
 */
export function readWechatIdentity(context: CloudFunctionContext | undefined, options: IdentityOptions = {}): ResolvedIdentity {
  let origin: IdentityOrigin = 'none';
  let raw: RawIdentity | undefined;
  const perCall = context && typeof context === 'object' ? perCallEnvironment(context) : undefined;
  if (perCall) {
    origin = perCall.origin;
    raw = fromEnvironment(perCall.env);
  } else if (options.getWXContext) {
    const wx = options.getWXContext();
    if (wx && typeof wx === 'object') {
      origin = 'getWXContext';
      raw = { openid: wx.OPENID, appid: wx.APPID, unionid: wx.UNIONID, env: wx.ENV, source: wx.SOURCE };
    }
  }
  const identity: WechatIdentity = {};
  if (!raw) return { identity, origin, userTrusted: false };

  const source = text(raw.source);
  const trusted = new Set((options.trustedSources ?? DEFAULT_TRUSTED_SOURCES).map(normaliseSource));
  const userTrusted = source !== undefined && trusted.has(normaliseSource(source));
  const appid = text(raw.appid);
  const env = text(raw.env);
  if (appid !== undefined) identity.appid = appid;
  if (env !== undefined) identity.env = env;
  if (source !== undefined) identity.source = source;
  if (userTrusted) {
    const openid = text(raw.openid);
    const unionid = text(raw.unionid);
    if (openid !== undefined) identity.openid = openid;
    if (unionid !== undefined) identity.unionid = unionid;
  }
  return { identity: validateIdentity(identity, 'WXSEAL_CONFIG_INVALID'), origin, userTrusted };
}

export interface BudgetOptions {
  /** When the invocation began (Date.now() at the top of main). Default: now, i.e. nothing spent yet. */
  startedAt?: number;
  /** Kept back for the function to answer. Default 500 ms. */
  safetyMarginMs?: number;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

/**
 * Milliseconds a call may take: the function's time limit minus the time already spent minus the
 * safety margin, capped by `maxMs` (the client's timeout). Zero or less means no time is left.
 */
export function deadlineBudgetMs(context: CloudFunctionContext | undefined, maxMs: number, options: BudgetOptions = {}): number {
  const rawLimit = Number(context?.time_limit_in_ms);
  const limit = Number.isFinite(rawLimit) && rawLimit > 0 ? rawLimit : DEFAULT_TIME_LIMIT_MS;
  const now = options.now ?? Date.now;
  const spent = options.startedAt === undefined ? 0 : Math.max(0, now() - options.startedAt);
  const margin = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  if (!Number.isFinite(margin) || margin < 0) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'safetyMarginMs must be a non-negative number');
  return Math.floor(Math.min(maxMs, limit - spent - margin));
}

export type CloudCallOptions = IdentityOptions & BudgetOptions;

/** What to merge into client.request() for a call made on behalf of this invocation. */
export interface CloudRequestOptions {
  identity?: WechatIdentity;
  timeoutMs: number;
  requestId?: string;
}

/**
 * Identity, deadline and log correlation for one call from a cloud function:
 * `client.request({ method, path, json, ...cloudRequestOptions(client, context, opts) })`.
 * Throws WXSEAL_TIMEOUT when the function has no time left for the call.
 */
export function cloudRequestOptions(
  client: Pick<WxsealClient, 'timeoutMs'>,
  context: CloudFunctionContext | undefined,
  options: CloudCallOptions = {},
): CloudRequestOptions {
  const timeoutMs = deadlineBudgetMs(context, client.timeoutMs, options);
  if (timeoutMs <= 0) {
    throw new WxsealError('WXSEAL_TIMEOUT', 'the cloud function has no time left for the call (time_limit_in_ms minus time spent minus safety margin)');
  }
  const { identity } = readWechatIdentity(context, options);
  const out: CloudRequestOptions = { timeoutMs };
  if (Object.keys(identity).length > 0) out.identity = identity;
  if (context && typeof context.request_id === 'string' && context.request_id !== '') out.requestId = context.request_id;
  return out;
}

/** An authenticated response with a non-2xx status, from forwardEvent. */
export class WxsealRemoteError extends WxsealError {
  /** The authenticated response (non-enumerable, so logging the error does not print its body). */
  declare readonly response: WxsealResponse;

  constructor(response: WxsealResponse) {
    super('WXSEAL_REMOTE_ERROR', `the server answered ${response.status}`, { status: response.status });
    Object.defineProperty(this, 'response', { value: response, enumerable: false });
  }
}

export interface ForwardEventOptions extends CloudCallOptions {
  /** Path of the server route. */
  path: string;
  /** Default 'POST'. */
  method?: string;
  /** Default 'sealed'. */
  mode?: Mode;
  /** Fields WeChat injects into the event, removed before sending. Default ['userInfo']. */
  omitFields?: readonly string[];
  query?: QueryInput;
  headers?: MethodRequestOptions['headers'];
  traceparent?: string;
  signal?: AbortSignal;
}

/**
 * Sends the cloud function's event as JSON in a sealed request that asserts the caller's
 * identity, within the function's remaining time, and returns the decrypted JSON answer
 * (null for an empty body). A non-2xx answer throws WxsealRemoteError (WXSEAL_REMOTE_ERROR).
 */
export async function forwardEvent<T = unknown>(
  client: WxsealClient,
  event: unknown,
  context: CloudFunctionContext | undefined,
  options: ForwardEventOptions,
): Promise<T> {
  if (typeof options !== 'object' || options === null) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'forwardEvent needs options with a path');
  const call = cloudRequestOptions(client, context, options);
  const payload = stripEvent(event, options.omitFields ?? ['userInfo']);
  const response = await client.request({
    method: options.method ?? 'POST',
    path: options.path,
    mode: options.mode ?? 'sealed',
    json: payload,
    query: options.query,
    headers: options.headers,
    traceparent: options.traceparent,
    signal: options.signal,
    ...call,
  });
  if (!response.ok) throw new WxsealRemoteError(response);
  return response.body.length === 0 ? (null as T) : response.json<T>();
}

function stripEvent(event: unknown, omit: readonly string[]): unknown {
  if (event === undefined) return {};
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return event;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) if (!omit.includes(key)) out[key] = value;
  return out;
}
