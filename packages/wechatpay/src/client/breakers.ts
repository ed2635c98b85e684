// One cockatiel circuit breaker per merchant and host: transient transport failures and 5xx
// answers count; once open, calls fail fast (or go to the fallback) until a probe succeeds.
import { ConsecutiveBreaker, CircuitState, circuitBreaker, handleWhen, type CircuitBreakerPolicy } from 'cockatiel';
import { WechatPayApiError, WechatPayTransportError } from './errors.js';
import type { BreakerOptions, BreakerState, WechatPayClientEvent } from './interface.js';

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export class BreakerSet {
  readonly #breakers = new Map<string, CircuitBreakerPolicy>();

  constructor(
    private readonly host: string,
    private readonly options: Required<BreakerOptions>,
    private readonly emit: (event: WechatPayClientEvent) => void,
    private readonly onOpen: ((info: { mchid: string; host: string }) => void) | undefined,
  ) {}

  stateOf(mchid: string): BreakerState {
    const b = this.#breakers.get(`${mchid}@${this.host}`);
    return b ? STATE_NAMES[b.state] : 'closed';
  }

  /** The merchant's breaker, created on first use. */
  for(mchid: string): CircuitBreakerPolicy {
    const key = `${mchid}@${this.host}`;
    let b = this.#breakers.get(key);
    if (b === undefined) {
      b = circuitBreaker(
        handleWhen((err) => (err instanceof WechatPayTransportError && err.retryable) || (err instanceof WechatPayApiError && err.status >= 500)),
        { halfOpenAfter: this.options.halfOpenAfterMs, breaker: new ConsecutiveBreaker(this.options.consecutiveFailures) },
      );
      const host = this.host;
      b.onStateChange((s) => {
        const state = STATE_NAMES[s];
        this.emit({ type: 'breaker', mchid, host, state });
        if (s === CircuitState.Open) {
          try {
            this.onOpen?.({ mchid, host });
          } catch {
            // A listener's failure is not the caller's.
          }
        }
      });
      this.#breakers.set(key, b);
    }
    return b;
  }
}
