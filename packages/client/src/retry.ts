import { randomInt } from 'node:crypto';

/** Methods whose repetition has no further effect (RFC 9110 9.2.2): safe to resend after sending. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base * 2^(retry-1))], so
 * that clients which failed together do not come back together. `retry` counts from 1.
 */
export function backoffDelayMs(retry: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retry - 1, 30));
  return ceiling <= 0 ? 0 : randomInt(0, Math.floor(ceiling) + 1);
}

/** Retry-After as milliseconds from now (delta-seconds or HTTP-date); undefined when absent or malformed. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^[0-9]{1,10}$/.test(trimmed)) return Number(trimmed) * 1000;
  // Every HTTP-date form starts with a day name; Date.parse alone would accept '-5' (year -5).
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
