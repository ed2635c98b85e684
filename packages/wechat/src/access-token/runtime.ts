// What every part of one access_token manager shares: whose token it is, the clock, the counters,
// the event listener and the shutdown signal (close() aborts fetches and sleeps in progress).
import { AccessTokenError } from './errors.js';
import type { AccessTokenEvent, AccessTokenMode, AccessTokenStats } from './options.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event as a part of the manager reports it; the runtime adds `at`, `appid` and `mode`. */
export type TokenEventInput = DistributiveOmit<AccessTokenEvent, 'at' | 'appid' | 'mode'>;

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function closedError(): AccessTokenError {
  return new AccessTokenError('WECHAT_TOKEN_CLOSED', 'the access_token manager was closed');
}

export class TokenRuntime {
  readonly stats: AccessTokenStats = {
    fetches: 0,
    forcedFetches: 0,
    sharedReads: 0,
    invalidations: 0,
    failures: 0,
    retries: 0,
    staleServed: 0,
    storeUnavailable: 0,
    lockWaits: 0,
  };
  readonly #abort = new AbortController();
  #closed = false;

  constructor(
    readonly appid: string,
    readonly mode: AccessTokenMode,
    readonly now: () => number,
    private readonly onEvent: ((event: AccessTokenEvent) => void) | undefined,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Aborted by close(). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort(closedError());
  }

  assertOpen(): void {
    if (this.#closed) throw closedError();
  }

  emit(event: TokenEventInput): void {
    if (!this.onEvent) return;
    try {
      this.onEvent({ ...event, at: this.now(), appid: this.appid, mode: this.mode } as AccessTokenEvent);
    } catch {
      // A faulty listener must not break token delivery.
    }
  }

  /** Waits `ms` (real time); rejects with WECHAT_TOKEN_CLOSED when the manager closes meanwhile. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = this.#abort.signal;
      if (signal.aborted) return reject(closedError());
      const onAbort = () => {
        clearTimeout(t);
        reject(closedError());
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
