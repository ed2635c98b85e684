// What the API client needs from an access_token manager; kept apart so the client can be given
// a fixed token (tests, tokens managed elsewhere) or the shared, Redis-backed manager.

export interface AccessTokenSource {
  /** A token believed valid now (from memory, the shared store or WeChat). */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>;
  /**
   * WeChat rejected `token` (40001 / 40014 / 42001): forget it, locally and in any shared store,
   * but only if it is still the current one, so an instance holding a stale token never wipes a
   * fresh one another instance just fetched.
   */
  invalidate(token: string): Promise<void>;
}

/** A source that always returns the same token (its invalidation is a no-op). */
export function staticAccessToken(token: string): AccessTokenSource {
  if (typeof token !== 'string' || token.length === 0) throw new TypeError('token must be a non-empty string');
  return {
    getAccessToken: async () => token,
    invalidate: async () => undefined,
  };
}
