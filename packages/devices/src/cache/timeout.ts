/** Raised when a bounded call (Redis command, source load, Bloom rebuild step) took too long. */
export class CacheTimeoutError extends Error {
  override readonly name = 'CacheTimeoutError';
}

/**
 * Runs `run` and rejects with CacheTimeoutError after `ms`. Promise.race keeps a handler on the
 * losing promise, so a late failure is never unhandled; a dependency that throws synchronously is
 * handled like one that rejects.
 */
export async function withTimeout<T>(run: () => PromiseLike<T> | T, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CacheTimeoutError(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.resolve().then(run), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
