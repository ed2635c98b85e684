// The token this instance holds and what it knows about tokens: which are usable (unexpired and
// not rejected by WeChat), which are fresh (before their refresh time), and when the next
// background refresh may start.
import type { StoredAccessToken } from './store.js';

/** How many tokens rejected through invalidate() are remembered. */
const REJECTED_MEMORY = 8;

export class TokenCache {
  current: StoredAccessToken | undefined;
  /** No background refresh before this time (manager clock): set after a failure or a busy lock. */
  notBefore = 0;
  /** Tokens recently rejected through invalidate(): never adopted again from the store. */
  readonly #rejected: string[] = [];

  usable(rec: StoredAccessToken | undefined, now: number): rec is StoredAccessToken {
    return rec !== undefined && now < rec.expiresAt && !this.#rejected.includes(rec.token);
  }

  fresh(rec: StoredAccessToken | undefined, now: number): rec is StoredAccessToken {
    return this.usable(rec, now) && now < rec.refreshAt;
  }

  /** The best still-valid token known (store or memory), for serving while someone else refreshes. */
  bestUsable(stored: StoredAccessToken | undefined, now: number): StoredAccessToken | undefined {
    const candidates = [stored, this.current].filter((r): r is StoredAccessToken => this.usable(r, now));
    candidates.sort((a, b) => b.expiresAt - a.expiresAt);
    return candidates[0];
  }

  /** WeChat rejected `token`: remember it, and drop it from memory if held; true when it was. */
  reject(token: string): boolean {
    this.#rejected.push(token);
    if (this.#rejected.length > REJECTED_MEMORY) this.#rejected.shift();
    if (this.current?.token !== token) return false;
    this.current = undefined;
    this.notBefore = 0;
    return true;
  }

  /** A token WeChat just handed out: held from now on, and no longer counted as rejected. */
  accept(rec: StoredAccessToken): void {
    // WeChat just vouched for it (stable_token may hand back a token we were told was rejected).
    const i = this.#rejected.indexOf(rec.token);
    if (i >= 0) this.#rejected.splice(i, 1);
    this.current = rec;
    this.notBefore = 0;
  }
}
