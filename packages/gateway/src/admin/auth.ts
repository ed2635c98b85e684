/** Admin logins (token or scrypt users), sessions with idle expiry, CSRF tokens and the login rate limit. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminConfig } from './config.js';
import { DUMMY_HASH, verifyPassword } from './passwords.js';

export const SESSION_COOKIE = 'wxseal_admin';
const MAX_SESSIONS = 10_000;
const MAX_TRACKED_ADDRESSES = 10_000;

export interface Session {
  readonly id: string;
  readonly actor: string;
  readonly csrfToken: string;
  /** Unix ms; pushed forward by every authenticated request (idle expiry). */
  expiresAt: number;
}

/** Constant-time comparison of two strings of any length (hashed first, so lengths do not leak). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

export class SessionStore {
  readonly #sessions = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  create(actor: string): Session {
    const now = this.now();
    if (this.#sessions.size >= MAX_SESSIONS) this.#prune(now);
    // Still full: the oldest session goes (Map order is creation order).
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      actor,
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt: now + this.ttlMs,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session of this id, its idle deadline pushed forward; undefined when unknown or expired. */
  touch(id: string | undefined): Session | undefined {
    if (id === undefined || id.length !== 43) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const now = this.now();
    if (session.expiresAt <= now) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.expiresAt = now + this.ttlMs;
    return session;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }

  get size(): number {
    return this.#sessions.size;
  }

  #prune(now: number): void {
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
  }
}

/** Failed logins per client address in a sliding window; past `maxFailures` every attempt is refused. */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** 0 when an attempt may be made, else the seconds to wait. */
  retryAfter(address: string): number {
    const list = this.#recent(address);
    if (list.length < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((list[0]! + this.windowMs - this.now()) / 1000));
  }

  fail(address: string): void {
    const list = this.#recent(address);
    list.push(this.now());
    this.#failures.delete(address);
    this.#failures.set(address, list.slice(-this.maxFailures));
    if (this.#failures.size > MAX_TRACKED_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value!);
  }

  #recent(address: string): number[] {
    const since = this.now() - this.windowMs;
    const list = (this.#failures.get(address) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(address);
    return list;
  }
}

export type LoginInput = { token: string } | { user: string; password: string };

/** Checks a login; resolves with the actor, or undefined when refused. Takes the same time for unknown users. */
export async function checkLogin(config: AdminConfig, input: LoginInput): Promise<string | undefined> {
  if ('token' in input) {
    const token = config.token;
    // Compared even without a configured token, so the answer takes as long either way.
    const ok = safeEqual(input.token, token ?? randomBytes(24).toString('base64url'));
    return ok && token !== undefined ? 'token' : undefined;
  }
  const user = config.users.find((u) => u.name === input.user);
  const ok = await verifyPassword(input.password, user?.passwordHash ?? DUMMY_HASH);
  return ok && user ? user.name : undefined;
}

export function sessionCookie(session: Session, ttlMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
