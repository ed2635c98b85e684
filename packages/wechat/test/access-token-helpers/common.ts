// Shared bits of the access_token tests: a controllable clock, event capture, waiting for a condition.
import assert from 'node:assert/strict';
import type { AccessTokenEvent } from '../../src/access-token/index.js';

export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function fakeClock(start = 1_700_000_000_000): FakeClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

export interface EventLog {
  events: AccessTokenEvent[];
  onEvent: (e: AccessTokenEvent) => void;
  of<T extends AccessTokenEvent['type']>(type: T): Extract<AccessTokenEvent, { type: T }>[];
}

export function eventLog(): EventLog {
  const events: AccessTokenEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    of: <T extends AccessTokenEvent['type']>(type: T) => events.filter((e): e is Extract<AccessTokenEvent, { type: T }> => e.type === type),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds, at most `ms` (a correctness wait, not a performance assertion). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** Serialises events and errors to check that neither the secret nor any token leaks into them. */
export function describeForLeakCheck(values: unknown[]): string {
  return values
    .map((v) => {
      if (v instanceof Error) return `${v.name} ${v.message} ${v.stack ?? ''} ${v.cause instanceof Error ? v.cause.message : ''}`;
      return JSON.stringify(v, (_k, x: unknown) => (x instanceof Error ? `${x.name}: ${x.message}` : x));
    })
    .join('\n');
}
