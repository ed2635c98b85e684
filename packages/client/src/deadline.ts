import { performance } from 'node:perf_hooks';
import { WxsealError } from '@wxseal/protocol';
import { MAX_TIMER_MS } from './options.js';

/**
 * One call's deadline and cancellation: the caller's AbortSignal and the call's timeout folded into
 * one internal signal. Built by hand because Node 16.13 has neither AbortSignal.timeout (16.14)
 * nor AbortSignal.any (20.3), nor AbortSignal#reason (17.2): the reason is kept here instead.
 */
export class CallScope {
  private readonly controller = new AbortController();
  private readonly startedAt = performance.now();
  private readonly deadlineAt: number;
  private readonly timer: ReturnType<typeof setTimeout>;
  private failure: WxsealError | undefined;
  private readonly callerSignal: AbortSignal | undefined;
  private readonly onCallerAbort = (): void => this.abort(abortedError());

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    this.deadlineAt = this.startedAt + timeoutMs;
    this.callerSignal = callerSignal;
    this.timer = setTimeout(() => this.abort(new WxsealError('WXSEAL_TIMEOUT', `the call did not complete within ${timeoutMs} ms`)), Math.min(timeoutMs, MAX_TIMER_MS));
    if (callerSignal) {
      if (callerSignal.aborted) this.abort(abortedError());
      else callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
    }
  }

  /** Aborted when the deadline passes or the caller aborts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** WXSEAL_TIMEOUT or WXSEAL_ABORTED once the scope is aborted. */
  get reason(): WxsealError | undefined {
    return this.failure;
  }

  elapsedMs(): number {
    return Math.round(performance.now() - this.startedAt);
  }

  remainingMs(): number {
    return Math.max(0, this.deadlineAt - performance.now());
  }

  /** Waits `ms`, or rejects with the scope's reason as soon as it is aborted. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const signal = this.controller.signal;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.failure ?? abortedError());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.min(ms, MAX_TIMER_MS));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Releases the timer and the listener on the caller's signal (which may outlive the call). */
  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  private abort(error: WxsealError): void {
    if (this.failure) return;
    this.failure = error;
    clearTimeout(this.timer);
    this.controller.abort();
  }
}

function abortedError(): WxsealError {
  return new WxsealError('WXSEAL_ABORTED', 'the call was aborted by the caller');
}
