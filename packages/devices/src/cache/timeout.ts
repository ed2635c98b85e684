import { CodedError } from '@wxseal/protocol';
import { withTimeout as deadline } from '@wxseal/support';

/** Raised when a bounded call (Redis command, source load, Bloom rebuild step) took too long. */
export class CacheTimeoutError extends CodedError<'DEVICE_CACHE_TIMEOUT'> {
  override readonly name = 'CacheTimeoutError';
  constructor(message: string) {
    super('DEVICE_CACHE_TIMEOUT', message);
  }
}

/**
 * Runs `run` and rejects with CacheTimeoutError ("<what> did not answer within <ms> ms") after
 * `ms`: the shared deadline of @wxseal/support bound to the cache's error (a late failure is never
 * unhandled; a dependency that throws synchronously fails like one that rejects).
 */
export function withTimeout<T>(run: () => PromiseLike<T> | T, ms: number, what: string): Promise<T> {
  return deadline(run, ms, () => new CacheTimeoutError(`${what} did not answer within ${ms} ms`));
}
