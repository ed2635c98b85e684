// Typed errors of the fleet sync store and its encrypted envelope. A user of the store may inject
// its own error factory (WeChat Pay keeps its WECHATPAY_LIFECYCLE_SYNC_* codes); these are the
// codes everyone else gets. Messages name subjects, keys of the store and reasons, never a payload.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';

/** The FLEET_SYNC_ codes. */
export const FLEET_SYNC_ERRORS = {
  FLEET_SYNC_UNAVAILABLE: {
    meaning: 'Redis or etcd (the fleet\'s shared store: published material, leadership, signals) did not answer in time or refused the operation.',
    action: 'Check Redis / etcd and the network to them; each instance keeps the material it holds meanwhile and catches up when the store answers again.',
  },
  FLEET_SYNC_REJECTED: {
    meaning: 'Material read from the shared store was refused (it does not decrypt or verify with this instance\'s fleet key, names another subject, is older than what was accepted, is malformed or too large), or the receiver refused it.',
    action: 'Check that every instance has the same fleet sync key; a value written by anyone else is ignored and the material in use stays.',
  },
  FLEET_SYNC_CONFIG: {
    meaning: 'The sync configuration is unusable (store kind, client, endpoints, subject or fleet key).',
    action: 'Fix the option the message names; the fleet key is 32 random bytes in base64 (openssl rand -base64 32), the same on every instance.',
  },
} as const satisfies ErrorCatalogue;

export type FleetSyncErrorCode = keyof typeof FLEET_SYNC_ERRORS;

export class FleetSyncError extends CodedError<FleetSyncErrorCode> {
  override readonly name = 'FleetSyncError';
}

export function isFleetSyncError(err: unknown, code?: FleetSyncErrorCode): err is FleetSyncError {
  return err instanceof FleetSyncError && (code === undefined || err.code === code);
}

/** What went wrong, in the store's terms; a factory maps it to the caller's own code. */
export type SyncFailureKind = 'unavailable' | 'rejected' | 'config';

/** Builds the error a store raises; injected so that each user keeps its own codes. */
export type SyncErrorFactory = (kind: SyncFailureKind, message: string, options?: { cause?: unknown }) => Error;

const CODES: Readonly<Record<SyncFailureKind, FleetSyncErrorCode>> = {
  unavailable: 'FLEET_SYNC_UNAVAILABLE',
  rejected: 'FLEET_SYNC_REJECTED',
  config: 'FLEET_SYNC_CONFIG',
};

/** The default factory: FleetSyncError with the FLEET_SYNC_ code of the kind. */
export const fleetSyncErrors: SyncErrorFactory = (kind, message, options) => new FleetSyncError(CODES[kind], message, options);
