import { WxsealError, isWxsealError } from '@wxseal/protocol';

/**
 * Stable codes of the device registry's own refusals. Outages are not among them: they are
 * WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE'), the code a verifier answers with (503).
 */
export const DEVICE_STORE_ERROR_CODES = [
  /** The serial was never provisioned. */
  'DEVICE_NOT_FOUND',
  /** activate() on a serial that is already active, without allowReactivation. */
  'DEVICE_ALREADY_ACTIVE',
  /** The device is revoked: rotate() refused, activate() refused without allowReactivation, revoke() twice. */
  'DEVICE_REVOKED',
  /** importMany(): the serial is already provisioned (or appears twice in the input). */
  'DEVICE_EXISTS',
  /** activate() of a known serial under another product. */
  'DEVICE_PRODUCT_MISMATCH',
  'PRODUCT_NOT_FOUND',
  'PRODUCT_EXISTS',
  /** A malformed argument: serial or product id syntax, key length, grace period, text too long. */
  'INVALID_INPUT',
  /** importMany(): the same device key appears twice in the input. */
  'DUPLICATE_KEY',
  /** Another writer changed the row between our read and our write; retry the operation. */
  'CONCURRENT_MODIFICATION',
  /** A row is encrypted under a master key id the MasterKeyRing does not hold. */
  'MASTER_KEY_UNKNOWN',
  /** A ciphertext does not decrypt: wrong master key, or the row was tampered with or moved. */
  'KEY_DECRYPT_FAILED',
  /** importMany(): the row was not stored because the database failed (see the cause in the message). */
  'STORE_UNAVAILABLE',
] as const;

export type DeviceStoreErrorCode = (typeof DEVICE_STORE_ERROR_CODES)[number];

/** A refusal of the device registry, with a stable `code`. Messages never contain key material. */
export class DeviceStoreError extends Error {
  override readonly name = 'DeviceStoreError';
  readonly code: DeviceStoreErrorCode;

  constructor(code: DeviceStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message);
    this.code = code;
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
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
  if (isConflict(err)) return new DeviceStoreError('CONCURRENT_MODIFICATION', `${what}: the database reported a conflict with a concurrent change; retry`, { cause: err });
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
