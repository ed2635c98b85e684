/** Admin logins (token or scrypt users), sessions with idle expiry, CSRF tokens and the login rate limit. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ControlPlaneStore } from '@wxseal/control-plane';
import type { AdminConfig } from './config.js';
import { DUMMY_HASH, parsePasswordHash, verifyPassword } from './passwords.js';

export const SESSION_COOKIE = 'wxseal_admin';
/** How much an idle deadline must gain before it is written again (at most a tenth of the TTL). */
const TOUCH_GRANULARITY_MS = 60_000;

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

/** What the sessions and login limits are kept in: the control-plane store, shared by the fleet. */
type SharedAdminState = Pick<ControlPlaneStore, 'sessions' | 'loginFailures' | 'users'>;

/**
 * Admin sessions in the shared store, so a session made through one instance works on every
 * instance behind the load balancer and a logout ends it everywhere. The store keeps a hash of the
 * session id, never the id itself. The idle deadline moves forward at most once a minute per
 * session (a write per admin request would be wasted work).
 */
export class SessionStore {
  constructor(
    private readonly store: SharedAdminState,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  async create(actor: string): Promise<Session> {
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      actor,
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt: this.now() + this.ttlMs,
    };
    await this.store.sessions.create({ token: session.id, user: actor, csrf: session.csrfToken, expiresAt: session.expiresAt });
    return session;
  }

  /** The live session of this id, its idle deadline pushed forward; undefined when unknown or expired. */
  async touch(id: string | undefined): Promise<Session | undefined> {
    if (id === undefined || id.length !== 43) return undefined;
    const row = await this.store.sessions.get(id);
    if (!row) return undefined;
    const now = this.now();
    if (row.expiresAt <= now) {
      await this.store.sessions.delete(id);
      return undefined;
    }
    let expiresAt = row.expiresAt;
    if (now + this.ttlMs - expiresAt >= Math.min(TOUCH_GRANULARITY_MS, this.ttlMs / 10)) {
      expiresAt = now + this.ttlMs;
      await this.store.sessions.touch(id, expiresAt);
    }
    return { id, actor: row.user, csrfToken: row.csrf, expiresAt };
  }

  async delete(id: string): Promise<void> {
    await this.store.sessions.delete(id);
  }
}

/** Failed logins per client address in a sliding window, counted over the whole fleet; past `maxFailures` every attempt is refused. */
export class LoginLimiter {
  constructor(
    private readonly store: SharedAdminState,
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  /** 0 when an attempt may be made, else the seconds to wait. */
  async retryAfter(address: string): Promise<number> {
    const { count, oldestAt } = await this.store.loginFailures.window(address, this.windowMs);
    if (count < this.maxFailures) return 0;
    // The oldest failure leaving the window frees one attempt.
    return Math.max(1, Math.ceil(((oldestAt ?? this.now()) + this.windowMs - this.now()) / 1000));
  }

  async fail(address: string): Promise<void> {
    await this.store.loginFailures.record(address);
  }
}

export type LoginInput = { token: string } | { user: string; password: string };

/**
 * Checks a login; resolves with the actor, or undefined when refused. Users are read from the
 * shared store (seeded from the config at start). Takes the same time for unknown users.
 */
export async function checkLogin(config: AdminConfig, store: SharedAdminState, input: LoginInput): Promise<string | undefined> {
  if ('token' in input) {
    const token = config.token;
    // Compared even without a configured token, so the answer takes as long either way.
    const ok = safeEqual(input.token, token ?? randomBytes(24).toString('base64url'));
    return ok && token !== undefined ? 'token' : undefined;
  }
  const user = await store.users.get(input.user);
  const hash = user ? parsePasswordHash(user.passwordHash) : undefined;
  const ok = await verifyPassword(input.password, hash ?? DUMMY_HASH);
  return ok && user && hash ? user.user : undefined;
}

export function sessionCookie(session: Session, ttlMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
