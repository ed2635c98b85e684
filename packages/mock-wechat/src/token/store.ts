// access_token issuing and checking, for /cgi-bin/token (classic) and /cgi-bin/stable_token
// (stable). The two are isolated from each other, as on WeChat: fetching one never affects the other.
import { randomBytes } from 'node:crypto';

export type TokenKind = 'classic' | 'stable';

export interface TokenTimings {
  /** Lifetime of a token (WeChat: 7200 s). */
  ttlSeconds: number;
  /** classic: how long a superseded token stays valid after the next fetch (WeChat: 300 s). */
  previousTokenGraceSeconds: number;
  /** stable: a normal-mode call this close to expiry issues a new token (WeChat: 300 s). */
  stableRenewWindowSeconds: number;
  /** stable: force_refresh calls closer together than this do not refresh (WeChat: 30 s). */
  forceRefreshMinIntervalSeconds: number;
  /** stable: force_refresh calls per day before 45009 (WeChat: 20). */
  forceRefreshDailyLimit: number;
}

export const DEFAULT_TOKEN_TIMINGS: TokenTimings = {
  ttlSeconds: 7200,
  previousTokenGraceSeconds: 300,
  stableRenewWindowSeconds: 300,
  forceRefreshMinIntervalSeconds: 30,
  forceRefreshDailyLimit: 20,
};

interface TokenRecord {
  readonly token: string;
  readonly appid: string;
  readonly kind: TokenKind;
  readonly expiresAt: number;
  /** From this instant on the token answers 40001 (superseded, force-refreshed or invalidated). */
  revokedAt: number | undefined;
}

export type TokenCheck =
  | { ok: true; appid: string; kind: TokenKind }
  | { ok: false; errcode: 40001 | 40014 | 42001; detail: string };

export interface IssuedToken {
  access_token: string;
  expires_in: number;
}

export interface AppTokenStats {
  /** Successful /cgi-bin/token answers. */
  classicFetches: number;
  /** Successful /cgi-bin/stable_token answers (normal and force_refresh). */
  stableFetches: number;
  /** force_refresh calls that issued a new token. */
  forceRefreshes: number;
  /** Distinct tokens issued (both kinds). */
  issued: number;
}

interface AppTokens {
  classic: TokenRecord | undefined;
  stable: TokenRecord | undefined;
  lastForceRefreshAt: number | undefined;
  forceRefreshDay: number;
  forceRefreshCountToday: number;
  stats: AppTokenStats;
}

const MAX_RECORDS = 20_000;
const TOKEN_SHAPE = /^[0-9]{1,6}_[A-Za-z0-9_-]{16,512}$/;
/** WeChat's day (UTC+8) index of a Unix-ms instant, for the daily force_refresh quota. */
const dayOf = (ms: number) => Math.floor((ms + 8 * 3_600_000) / 86_400_000);

export class TokenStore {
  readonly #records = new Map<string, TokenRecord>();
  readonly #apps = new Map<string, AppTokens>();
  readonly #now: () => number;
  #timings: TokenTimings;
  #seq = 80;

  constructor(now: () => number, timings: Partial<TokenTimings> = {}) {
    this.#now = now;
    this.#timings = { ...DEFAULT_TOKEN_TIMINGS, ...timings };
    for (const [k, v] of Object.entries(this.#timings)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a non-negative number`);
    }
    if (this.#timings.ttlSeconds <= 0) throw new RangeError('ttlSeconds must be positive');
  }

  get timings(): TokenTimings {
    return { ...this.#timings };
  }

  #app(appid: string): AppTokens {
    let a = this.#apps.get(appid);
    if (!a) {
      a = {
        classic: undefined,
        stable: undefined,
        lastForceRefreshAt: undefined,
        forceRefreshDay: -1,
        forceRefreshCountToday: 0,
        stats: { classicFetches: 0, stableFetches: 0, forceRefreshes: 0, issued: 0 },
      };
      this.#apps.set(appid, a);
    }
    return a;
  }

  #mint(appid: string, kind: TokenKind, now: number): TokenRecord {
    this.#seq = this.#seq >= 999_999 ? 80 : this.#seq + 1;
    const token = `${this.#seq}_${randomBytes(96).toString('base64url')}`;
    const rec: TokenRecord = { token, appid, kind, expiresAt: now + this.#timings.ttlSeconds * 1000, revokedAt: undefined };
    this.#records.set(token, rec);
    while (this.#records.size > MAX_RECORDS) {
      const oldest = this.#records.keys().next().value;
      if (oldest === undefined) break;
      this.#records.delete(oldest);
    }
    this.#app(appid).stats.issued += 1;
    return rec;
  }

  static #usable(rec: TokenRecord | undefined, now: number): rec is TokenRecord {
    return rec !== undefined && now < rec.expiresAt && (rec.revokedAt === undefined || now < rec.revokedAt);
  }

  static #revoke(rec: TokenRecord | undefined, at: number): void {
    if (rec && (rec.revokedAt === undefined || rec.revokedAt > at)) rec.revokedAt = at;
  }

  /** /cgi-bin/token: always a new token; the previous one keeps working for the grace period. */
  issueClassic(appid: string): IssuedToken {
    const now = this.#now();
    const a = this.#app(appid);
    TokenStore.#revoke(a.classic, now + this.#timings.previousTokenGraceSeconds * 1000);
    a.classic = this.#mint(appid, 'classic', now);
    a.stats.classicFetches += 1;
    return { access_token: a.classic.token, expires_in: this.#timings.ttlSeconds };
  }

  /**
   * /cgi-bin/stable_token. Normal mode: the current token while it has more than the renew window
   * left, else a new one (the old one stays valid until its own expiry). force_refresh: a new token
   * and the previous one stops working at once; calls closer than the minimum interval do not
   * refresh (the current token is answered); beyond the daily limit → 45009.
   */
  issueStable(appid: string, forceRefresh: boolean): IssuedToken | { errcode: 45009 } {
    const now = this.#now();
    const a = this.#app(appid);
    const t = this.#timings;
    const answer = (rec: TokenRecord): IssuedToken => {
      a.stats.stableFetches += 1;
      return { access_token: rec.token, expires_in: Math.max(0, Math.floor((rec.expiresAt - now) / 1000)) };
    };
    if (forceRefresh) {
      const day = dayOf(now);
      if (a.forceRefreshDay !== day) {
        a.forceRefreshDay = day;
        a.forceRefreshCountToday = 0;
      }
      if (a.forceRefreshCountToday >= t.forceRefreshDailyLimit) return { errcode: 45009 };
      const tooSoon = a.lastForceRefreshAt !== undefined && now - a.lastForceRefreshAt < t.forceRefreshMinIntervalSeconds * 1000;
      if (tooSoon && TokenStore.#usable(a.stable, now)) return answer(a.stable);
      a.forceRefreshCountToday += 1;
      a.lastForceRefreshAt = now;
      a.stats.forceRefreshes += 1;
      TokenStore.#revoke(a.stable, now);
      a.stable = this.#mint(appid, 'stable', now);
      return answer(a.stable);
    }
    if (TokenStore.#usable(a.stable, now) && a.stable.expiresAt - now > t.stableRenewWindowSeconds * 1000) return answer(a.stable);
    // Renewal: the old token (if any) lives out its remaining (≤ window) lifetime.
    a.stable = this.#mint(appid, 'stable', now);
    return answer(a.stable);
  }

  /** Checks an access_token given to an API. */
  check(token: string): TokenCheck {
    if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return { ok: false, errcode: 40014, detail: 'malformed access_token' };
    const rec = this.#records.get(token);
    if (!rec) return { ok: false, errcode: 40001, detail: 'unknown access_token' };
    const now = this.#now();
    if (rec.revokedAt !== undefined && rec.revokedAt <= rec.expiresAt && now >= rec.revokedAt) {
      return { ok: false, errcode: 40001, detail: 'access_token superseded or invalidated' };
    }
    if (now >= rec.expiresAt) return { ok: false, errcode: 42001, detail: 'access_token expired' };
    return { ok: true, appid: rec.appid, kind: rec.kind };
  }

  /** Makes every token of `appid` answer 40001 from now on; the next fetch issues new ones. */
  invalidate(appid: string): number {
    const now = this.#now();
    let n = 0;
    for (const rec of this.#records.values()) {
      if (rec.appid !== appid || !TokenStore.#usable(rec, now)) continue;
      rec.revokedAt = now;
      n += 1;
    }
    const a = this.#apps.get(appid);
    if (a) {
      a.classic = undefined;
      a.stable = undefined;
    }
    return n;
  }

  /** The token the next normal-mode fetch would answer, if one is valid now. */
  current(appid: string, kind: TokenKind = 'stable'): string | undefined {
    const a = this.#apps.get(appid);
    const rec = kind === 'stable' ? a?.stable : a?.classic;
    return TokenStore.#usable(rec, this.#now()) ? rec.token : undefined;
  }

  stats(appid: string): AppTokenStats {
    return { ...this.#app(appid).stats };
  }

  /** Resets the daily force_refresh quota (what WeChat's clear_quota does for this API). */
  resetForceRefreshQuota(appid: string): void {
    const a = this.#app(appid);
    a.forceRefreshCountToday = 0;
    a.lastForceRefreshAt = undefined;
  }
}
