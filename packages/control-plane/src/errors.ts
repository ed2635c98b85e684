import { CodedError, WxsealError, isWxsealError, type ErrorCatalogue } from '@wxseal/protocol';

/**
 * The CONTROL_ codes: refusals of the control-plane store. Outages are not among them: a database
 * that is down, unreachable or hung gives WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE'), as the device
 * registry does. The gateway's admin API maps these to its ADMIN_ codes.
 */
export const CONTROL_ERRORS = {
  CONTROL_NOT_FOUND: {
    meaning: 'The control-plane store has no such row: an admin-added secret, a server key, a session (the message names which).',
    action: 'Check the id (list the credentials or server keys again); another instance may have removed it.',
  },
  CONTROL_CONFLICT: {
    meaning: 'The change conflicts with the stored state: the id already exists, or the secret or key is already retired.',
    action: 'Look at the current state (another instance or the CLI may have made the same change) and retry if still needed.',
  },
  CONTROL_INVALID_INPUT: {
    meaning: 'A malformed argument to the control-plane store: an id that is empty, too long or not printable ASCII, a secret of a bad length, a limit out of range (the message says which).',
    action: 'Fix the argument the message names.',
  },
} as const satisfies ErrorCatalogue;

export type ControlErrorCode = keyof typeof CONTROL_ERRORS;

/** A refusal of the control-plane store, with a stable `code`. Messages never contain secrets. */
export class ControlPlaneError extends CodedError<ControlErrorCode> {
  override readonly name = 'ControlPlaneError';
}

export function isControlPlaneError(err: unknown, code?: ControlErrorCode): err is ControlPlaneError {
  return err instanceof ControlPlaneError && (code === undefined || err.code === code);
}

/** A short, secret-free description of a driver error: its code or errno, else its class. */
export function describeCause(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; errno?: unknown; message?: unknown; name?: unknown };
    if (typeof e.code === 'string' && e.code !== '') return e.code;
    if (typeof e.errno === 'number') return `errno ${e.errno}`;
    if (typeof e.message === 'string' && e.message !== '') return e.message.slice(0, 120);
    if (typeof e.name === 'string') return e.name;
  }
  return String(err).slice(0, 120);
}

/** WXSEAL_KEY_STORE_UNAVAILABLE with the cause attached (for logs) and a short reason in the message. */
export function unavailable(what: string, cause?: unknown): WxsealError {
  if (isWxsealError(cause, 'WXSEAL_KEY_STORE_UNAVAILABLE')) return cause;
  const detail = cause === undefined ? '' : ` (${describeCause(cause)})`;
  return new WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE', `control plane unavailable: ${what}${detail}`, { cause });
}

/** Keeps typed errors (ours, the protocol's, the master key ring's), turns anything else into WXSEAL_KEY_STORE_UNAVAILABLE. */
export function toStoreError(what: string, err: unknown): Error {
  if (err instanceof CodedError) return err;
  return unavailable(what, err);
}

/** True for a unique / primary-key violation on SQLite, PostgreSQL or MySQL/MariaDB. */
export function isUniqueViolation(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; errno?: unknown };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'ER_DUP_ENTRY' || e.errno === 1062;
}

export const invalidInput = (message: string): never => {
  throw new ControlPlaneError('CONTROL_INVALID_INPUT', message);
};
