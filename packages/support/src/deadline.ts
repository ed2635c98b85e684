export interface WithTimeoutOptions {
  /**
   * Lets the process exit while the deadline is pending (`timer.unref()`). For background work
   * (cluster sync) that must not hold a shutting-down process open; a caller that awaits a request
   * on its behalf keeps the default (false).
   */
  unref?: boolean;
}

/**
 * Runs `run` and rejects with `onTimeout()` when it has not settled after `ms`; each caller keeps
 * its own error type, code and message. The timer is cleared as soon as either side wins.
 *
 * A dependency that throws synchronously fails like one that rejects. A synchronous answer (an
 * in-memory store, a static resolver) cannot be late: it is returned without arming a timer, which
 * saves a timer and two promises on every request such a dependency answers. A late failure of the
 * work after the deadline is handled here, never an unhandled rejection. The work itself is not
 * cancelled: a caller that can cancel does so when this rejects.
 */
export function withTimeout<T>(run: () => PromiseLike<T> | T, ms: number, onTimeout: () => Error, options?: WithTimeoutOptions): Promise<T> {
  let result: PromiseLike<T> | T;
  try {
    result = run();
  } catch (err) {
    return Promise.reject(err);
  }
  if (!isThenable(result)) return Promise.resolve(result);
  const pending = result;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    if (options?.unref) timer.unref();
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function isThenable<T>(value: PromiseLike<T> | T): value is PromiseLike<T> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
