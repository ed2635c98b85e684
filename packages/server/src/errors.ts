import type { ErrorCatalogue } from '@wxseal/protocol';

/**
 * The WXSEAL_ codes @wxseal/server adds to the protocol's: failures of a verifier's dependencies
 * that it reports through `onDependencyError` and never sends (the client gets the store's 503
 * rejection, WXSEAL_KEY_STORE_UNAVAILABLE or WXSEAL_NONCE_STORE_UNAVAILABLE).
 */
export const SERVER_ERRORS = {
  WXSEAL_DEPENDENCY_TIMEOUT: {
    meaning: 'The key resolver or the nonce store did not answer within its timeout; the request was rejected with that store\'s 503 code.',
    action: 'Check the store\'s health and latency (Redis, the credential database); raise keyResolverTimeoutMs / nonceStoreTimeoutMs only if the store is slow by design.',
  },
} as const satisfies ErrorCatalogue;

export type ServerErrorCode = keyof typeof SERVER_ERRORS;
