/**
 * @wxseal/server — verifies wxseal v1 requests (SPEC.md section 9) and seals or signs the responses.
 * Framework adapters live in `@wxseal/server/fastify`, `/express` and `/koa`; the Redis nonce store
 * in `@wxseal/server/redis`.
 */
export {
  BAD_SIGNATURE,
  Verifier,
  createVerifier,
  isVerificationFailure,
  isBodylessStatus,
  rejectionFor,
  sealVerifiedResponse,
  type HeaderSource,
  type ResponseInput,
  type VerifiedRequest,
  type VerifierDependency,
  type VerificationFailure,
  type VerifierOptions,
  type VerifyInput,
} from './verifier.js';
export {
  StaticKeyResolver,
  normalizeSecret,
  type ClientCredential,
  type ClientCredentialInput,
  type ClientSecret,
  type ClientSecretInput,
  type KeyResolver,
} from './keys/key-resolver.js';
export { SERVER_KEY_TYPES, SM_PRIMITIVES, ServerKeyRing, serverKeyIdFor, serverKeyTypeOf, type ServerKeyInput, type ServerKeyType, type Sm2PrivateKeyInput } from './keys/server-key-ring.js';
export { SessionKeyCache, type SessionKeyCacheOptions } from './keys/session-key-cache.js';
export type { NonceRecord, NonceStore } from './nonce/nonce-store.js';
export { MemoryNonceStore, type MemoryNonceStoreOptions } from './nonce/memory-nonce-store.js';
export {
  headersFromRaw,
  readRequestBody,
  sendWireResponse,
  verifyNodeRequest,
  type ReadBodyOptions,
  type VerifyNodeRequestOptions,
} from './node-http.js';
export { SERVER_ERRORS, type ServerErrorCode } from './errors.js';
export { WxsealError, isWxsealError, type Mode, type WechatIdentity, type WireErrorCode, type WireResponse } from '@wxseal/protocol';
