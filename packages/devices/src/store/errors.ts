import { CodedError, WxsealError, isWxsealError, type ErrorCatalogue } from '@wxseal/protocol';

/**
 * The DEVICE_ codes: the device registry's own refusals, and the cache's timeout. Outages are not
 * among the refusals: they are WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE'), the code a verifier
 * answers with (503).
 */
export const DEVICE_ERRORS = {
  DEVICE_NOT_FOUND: {
    meaning: 'The serial was never provisioned.',
    action: 'Check the serial; provision it (wxseal device activate, or import) if it should exist.',
  },
  DEVICE_ALREADY_ACTIVE: {
    meaning: 'activate() on a serial that is already active, without allowReactivation.',
    action: 'Rotate the device\'s key instead, or activate with allowReactivation (--allow-reactivation) to issue a new one.',
  },
  DEVICE_REVOKED: {
    meaning: 'The device is revoked: rotation refused, activation refused without allowReactivation, or revoked twice.',
    action: 'Reactivate the device (allowReactivation) if it should come back; otherwise nothing to do.',
  },
  DEVICE_EXISTS: {
    meaning: 'importMany(): the serial is already provisioned (or appears twice in the input).',
    action: 'Nothing for a re-run import (the row is skipped); otherwise remove the duplicate row.',
  },
  DEVICE_PRODUCT_MISMATCH: {
    meaning: 'activate() of a known serial under another product.',
    action: 'Use the product the serial was provisioned under (wxseal device show <serial>).',
  },
  DEVICE_PRODUCT_NOT_FOUND: {
    meaning: 'No product has this id.',
    action: 'Create the product first (wxseal device product create), or check the id.',
  },
  DEVICE_PRODUCT_EXISTS: {
    meaning: 'createProduct() of an id that already exists.',
    action: 'Use the existing product, or pick another id.',
  },
  DEVICE_INVALID_INPUT: {
    meaning: 'A malformed argument: serial or product id syntax, key length, grace period, text too long (the message says which).',
    action: 'Fix the argument the message names (serials: 1-64 of A-Z a-z 0-9 . _ : -; keys: 32 bytes).',
  },
  DEVICE_DUPLICATE_KEY: {
    meaning: 'importMany(): the same device key appears twice in the input.',
    action: 'Give every device its own key; generated keys never collide.',
  },
  DEVICE_CONCURRENT_MODIFICATION: {
    meaning: 'Another writer changed the row between this operation\'s read and its write; nothing was changed.',
    action: 'Retry the operation (after looking at the device\'s new state).',
  },
  DEVICE_MASTER_KEY_UNKNOWN: {
    meaning: 'A row is encrypted under a master key id the MasterKeyRing does not hold.',
    action: 'Add that master key to the ring (WXSEAL_DEVICE_MASTER_KEYS or the key file); never delete a master key before `wxseal device rewrap` moved every row off it.',
  },
  DEVICE_KEY_DECRYPT_FAILED: {
    meaning: 'A ciphertext does not decrypt: wrong master key under that id, or the row was tampered with or moved.',
    action: 'Check that the master key under that id is the one the rows were written with; restore the row from a backup if it was altered.',
  },
  DEVICE_STORE_UNAVAILABLE: {
    meaning: 'importMany(): the row was not stored because the database failed (the cause is in the message).',
    action: 'Check the database, then run the import again (stored rows are skipped).',
  },
  DEVICE_CACHE_TIMEOUT: {
    meaning: 'A bounded call of the device key cache (Redis command, source load, Bloom rebuild step) took too long.',
    action: 'Check Redis and the database latency; the lookup is answered WXSEAL_KEY_STORE_UNAVAILABLE (503) meanwhile.',
  },
} as const satisfies ErrorCatalogue;

export type DeviceErrorCode = keyof typeof DEVICE_ERRORS;

/** The codes a DeviceStoreError carries (every DEVICE_ code but the cache's timeout). */
export type DeviceStoreErrorCode = Exclude<DeviceErrorCode, 'DEVICE_CACHE_TIMEOUT'>;

export const DEVICE_STORE_ERROR_CODES = (Object.keys(DEVICE_ERRORS) as DeviceErrorCode[]).filter(
  (c): c is DeviceStoreErrorCode => c !== 'DEVICE_CACHE_TIMEOUT',
) as readonly DeviceStoreErrorCode[];

/** A refusal of the device registry, with a stable `code`. Messages never contain key material. */
export class DeviceStoreError extends CodedError<DeviceStoreErrorCode> {
  override readonly name = 'DeviceStoreError';
}

export function isDeviceStoreError(err: unknown, code?: DeviceStoreErrorCode): err is DeviceStoreError {
  return err instanceof DeviceStoreError && (code === undefined || err.code === code);
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
export function storeUnavailable(what: string, cause?: unknown): WxsealError {
  if (isWxsealError(cause, 'WXSEAL_KEY_STORE_UNAVAILABLE')) return cause;
  const detail = cause === undefined ? '' : ` (${describeCause(cause)})`;
  return new WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE', `device store unavailable: ${what}${detail}`, { cause });
}

/** Keeps our own typed errors, turns anything else (driver, network, SQL) into WXSEAL_KEY_STORE_UNAVAILABLE. */
export function toStoreError(what: string, err: unknown): Error {
  if (err instanceof DeviceStoreError || err instanceof WxsealError) return err;
  if (isConflict(err)) return new DeviceStoreError('DEVICE_CONCURRENT_MODIFICATION', `${what}: the database reported a conflict with a concurrent change; retry`, { cause: err });
  return storeUnavailable(what, err);
}

/** Deadlock or serialization failure: the transaction lost a race and was rolled back. */
export function isConflict(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; errno?: unknown };
  return e.code === '40P01' || e.code === '40001' || e.code === 'ER_LOCK_DEADLOCK' || e.errno === 1213;
}

/** True for a unique / primary-key violation on SQLite, PostgreSQL or MySQL/MariaDB. */
export function isUniqueViolation(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; errno?: unknown };
  return (
    e.code === '23505' || // PostgreSQL unique_violation
    e.code === 'ER_DUP_ENTRY' ||
    e.errno === 1062 || // MySQL / MariaDB
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}
