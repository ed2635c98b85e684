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
 * `run` is called in a microtask (Promise.resolve().then), so a dependency that throws
 * synchronously fails like one that rejects. Promise.race keeps a handler on the losing promise,
 * so a late failure of the work after the deadline is never an unhandled rejection. The work
 * itself is not cancelled: a caller that can cancel does so when this rejects.
 */
export async function withTimeout<T>(
  run: () => PromiseLike<T> | T,
  ms: number,
  onTimeout: () => Error,
  options?: WithTimeoutOptions,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    if (options?.unref) timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve().then(run), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
