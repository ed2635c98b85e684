// One HTTP path to WeChat for the token manager and the API client: pooled undici connections,
// a deadline on every call, a bounded response body, typed transport errors, and a circuit
// breaker (cockatiel) so that a WeChat outage turns into fast typed failures, not a request storm.
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { Agent, request, type Dispatcher } from 'undici';
import { collectBounded } from '@wxseal/support';
import { WechatTransportError } from './errors.js';

export const WECHAT_API_BASE_URL = 'https://api.weixin.qq.com';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface WechatHttpOptions {
  /** Scheme + host (+ optional port) of WeChat's API; a mock's URL in tests. Default https://api.weixin.qq.com. */
  baseUrl?: string;
  /** Deadline of one call, headers and body included. Default 5000 ms. */
  timeoutMs?: number;
  /** Largest response body read. Default 1 MiB. */
  maxResponseBytes?: number;
  /** Circuit breaker: opens after `consecutiveFailures` transport failures, probes again after `halfOpenAfterMs`. `false` disables it. */
  breaker?: { consecutiveFailures?: number; halfOpenAfterMs?: number } | false;
  /** undici dispatcher (proxy agent, mock agent); a private pooled Agent by default. */
  dispatcher?: Dispatcher;
  /** Told whenever the breaker changes state (for logs and metrics). */
  onBreakerStateChange?: (state: BreakerState) => void;
}

export interface WechatHttpRequest {
  method: 'GET' | 'POST';
  /** Path starting with "/", without query. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WechatHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export class WechatHttp {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly breaker: CircuitBreakerPolicy | undefined;

  constructor(options: WechatHttpOptions = {}) {
    const base = new URL(options.baseUrl ?? WECHAT_API_BASE_URL);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('baseUrl must be http(s)');
    if (base.search || base.hash || (base.pathname !== '/' && base.pathname !== '')) throw new TypeError('baseUrl must be scheme://host[:port] only');
    this.baseUrl = base.origin;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? new Agent({ connections: 64, keepAliveTimeout: 10_000 });
    if (options.breaker !== false) {
      const b = options.breaker ?? {};
      this.breaker = circuitBreaker(
        handleWhen((err) => err instanceof WechatTransportError && err.transient),
        { halfOpenAfter: b.halfOpenAfterMs ?? 10_000, breaker: new ConsecutiveBreaker(b.consecutiveFailures ?? 5) },
      );
      const listener = options.onBreakerStateChange;
      if (listener) this.breaker.onStateChange((s) => listener(STATE_NAMES[s]));
    }
  }

  get breakerState(): BreakerState {
    return this.breaker ? STATE_NAMES[this.breaker.state] : 'closed';
  }

  /** Full URL (no query) of a path: what the API security scheme calls `urlpath`. */
  urlOf(path: string): string {
    if (!path.startsWith('/') || path.includes('?') || path.includes('#')) throw new TypeError('path must start with "/" and carry no query');
    return this.baseUrl + path;
  }

  async request(req: WechatHttpRequest): Promise<WechatHttpResponse> {
    if (!this.breaker) return this.once(req);
    try {
      return await this.breaker.execute(() => this.once(req));
    } catch (err) {
      if (isBrokenCircuitError(err)) {
        throw new WechatTransportError('WECHAT_CIRCUIT_OPEN', `circuit open after repeated failures reaching ${this.baseUrl}; failing fast`, { cause: err });
      }
      throw err;
    }
  }

  private async once(req: WechatHttpRequest): Promise<WechatHttpResponse> {
    const url = new URL(this.urlOf(req.path));
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline;
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (req.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
    try {
      const res = await request(url, {
        method: req.method,
        headers,
        body: req.body,
        signal,
        dispatcher: this.dispatcher,
      });
      const body = (
        await collectBounded(res.body, {
          limit: this.maxResponseBytes,
          tooLarge: () => {
            res.body.destroy();
            return new WechatTransportError('WECHAT_BAD_RESPONSE', `response body over ${this.maxResponseBytes} bytes`, { status: res.statusCode });
          },
        })
      ).toString('utf8');
      if (res.statusCode >= 500) {
        throw new WechatTransportError('WECHAT_UNAVAILABLE', `HTTP ${res.statusCode} from ${url.pathname}`, { status: res.statusCode });
      }
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      if (err instanceof WechatTransportError) throw err;
      if (req.signal?.aborted) throw new WechatTransportError('WECHAT_ABORTED', `call to ${url.pathname} aborted by the caller`, { cause: err });
      if (deadline.aborted) throw new WechatTransportError('WECHAT_TIMEOUT', `no answer from ${url.pathname} within ${timeoutMs} ms`, { cause: err });
      const msg = err instanceof Error ? err.message : String(err);
      throw new WechatTransportError('WECHAT_UNAVAILABLE', `cannot reach ${this.baseUrl}${url.pathname}: ${msg}`, { cause: err });
    }
  }

  /** Parses a JSON object body; anything else is WECHAT_BAD_RESPONSE. */
  static json(res: WechatHttpResponse): Record<string, unknown> {
    let v: unknown;
    try {
      v = JSON.parse(res.body);
    } catch {
      throw new WechatTransportError('WECHAT_BAD_RESPONSE', `HTTP ${res.status}: body is not JSON`, { status: res.status });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WechatTransportError('WECHAT_BAD_RESPONSE', `HTTP ${res.status}: body is not a JSON object`, { status: res.status });
    return v as Record<string, unknown>;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
