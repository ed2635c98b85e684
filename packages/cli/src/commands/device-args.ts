// Argument parsing for `wxseal device`, kept free of heavy imports: main.ts loads this file for
// every command, while the device registry itself is only loaded when a device command runs.
import { hostname, userInfo } from 'node:os';

/** Longest grace period the registry accepts (366 days), mirrored here to refuse it at parse time. */
export const MAX_GRACE_SECONDS = 366 * 24 * 3600;
/** Rows per transaction of `device import` and `device rewrap` (the registry's own bound is 1000). */
export const MAX_BATCH = 1000;
export const DEFAULT_BATCH = 500;

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * A duration in seconds: `3600`, `3600s`, `90m`, `12h`, `7d`, `2w`, or a sum such as `1d12h`.
 * Throws a RangeError with a short message for anything else.
 */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) return checkGrace(Number(value), text);
  if (!/^(\d+[smhdw])+$/.test(value)) throw new RangeError(`"${text}" is not a duration (e.g. 3600s, 90m, 12h, 7d, 1d12h)`);
  let seconds = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * (UNITS[unit as string] ?? 0);
  return checkGrace(seconds, text);
}

function checkGrace(seconds: number, text: string): number {
  if (!Number.isSafeInteger(seconds) || seconds > MAX_GRACE_SECONDS) throw new RangeError(`"${text}" is longer than the maximum grace period (366d)`);
  return seconds;
}

/** Seconds as the shortest exact `1d12h`-style text (`0s` for zero). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/** --batch: 1 to MAX_BATCH rows per transaction. */
export function parseBatch(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > MAX_BATCH) throw new RangeError(`must be an integer from 1 to ${MAX_BATCH}`);
  return n;
}

/** The default --actor: the OS user running the command (the audit log records who did what). */
export function osUser(env: Readonly<Record<string, string | undefined>> = process.env): string {
  try {
    const name = userInfo().username;
    if (name) return name;
  } catch {
    // no passwd entry for this uid (some containers): fall back to the environment
  }
  return env.USER || env.LOGNAME || env.USERNAME || 'unknown';
}

/** The audit `source` of a change made from this CLI: where it ran. */
export function cliSource(): string {
  return `cli@${hostname()}`.slice(0, 128);
}
