// access_token management: AccessTokenManager (implements AccessTokenSource) and its stores.
export { AccessTokenManager } from './manager.js';
export {
  CLASSIC_TOKEN_PATH,
  FORCE_REFRESH_MIN_INTERVAL_MS,
  STABLE_TOKEN_PATH,
  type AccessTokenEvent,
  type AccessTokenManagerOptions,
  type AccessTokenMode,
  type AccessTokenRetryOptions,
  type AccessTokenStats,
  type StoreOperation,
} from './options.js';
export { ACCESS_TOKEN_ERRORS, ACCESS_TOKEN_ERROR_CODES, AccessTokenError, isAccessTokenError, type AccessTokenErrorCode } from './errors.js';
export { MemoryTokenStore, type StoredAccessToken, type TokenStore, type TokenStoreSetOptions } from './store.js';
export { RedisTokenStore, type RedisTokenClient, type RedisTokenStoreOptions } from './redis-store.js';
