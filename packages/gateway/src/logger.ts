import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * Belt and braces: the gateway logs only chosen fields (route, method, path without query,
 * status, code, key id, durations, traceparent) and never bodies, secrets, identities or wxseal
 * headers. These paths are censored anyway, should any of them ever reach a log call.
 */
export const REDACT_PATHS: readonly string[] = [
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'privateKey',
  '*.privateKey',
  'password',
  '*.password',
  'body',
  '*.body',
  'plaintext',
  '*.plaintext',
  'identity',
  '*.identity',
  'openid',
  '*.openid',
  'unionid',
  '*.unionid',
  'headers.authorization',
  'headers.cookie',
  'headers["x-wxseal-openid"]',
  'headers["x-wxseal-unionid"]',
  'headers["wxseal-signature"]',
  'headers["wxseal-wrapped-key"]',
  'headers["wxseal-identity"]',
  'headers["wxseal-iv"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-wxseal-openid"]',
  '*.headers["x-wxseal-unionid"]',
  '*.headers["wxseal-signature"]',
  '*.headers["wxseal-wrapped-key"]',
  '*.headers["wxseal-identity"]',
  '*.headers["wxseal-iv"]',
];

/** The gateway's logger: a child of the caller's (or a new JSON logger on stdout) with redaction. */
export function gatewayLogger(parent: Logger | undefined, level: LogLevel): Logger {
  const redact = { paths: [...REDACT_PATHS], censor: '[redacted]' };
  if (parent) return parent.child({ component: 'wxseal-gateway' }, { redact });
  return pino({ level, redact, base: { pid: process.pid, hostname: hostname(), component: 'wxseal-gateway' } });
}

export type { Logger };

/**
 * Logs at most one line per `intervalMs` for a recurring failure (a dependency that is down fails
 * every request), with how many were folded in. `now` is the gateway's clock, in ms.
 */
export class Throttled {
  #last = 0;
  #suppressed = 0;
  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  run(log: (suppressed: number) => void): void {
    const now = this.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#last = now;
    const n = this.#suppressed;
    this.#suppressed = 0;
    log(n);
  }
}

/** An error as logged by the gateway's own operations: its code and message, never a stack. */
export function errSummary(err: unknown): { code?: string; message: string } {
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? { code, message } : { message };
}
