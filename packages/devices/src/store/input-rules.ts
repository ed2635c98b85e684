import { LIMITS } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { DeviceStoreError } from './errors.js';

/** What the registry accepts from its callers; every refusal is DeviceStoreError('DEVICE_INVALID_INPUT'). */

/** Device keys and product secrets are 256-bit random values. */
export const DEVICE_KEY_BYTES = 32;
export const PRODUCT_SECRET_BYTES = 32;
/** Longest accepted grace period: one year. */
export const MAX_GRACE_SECONDS = 366 * 24 * 3600;

const MAX_ACTOR = 128;
const MAX_SOURCE = 128;
const MAX_REASON = 512;
/** Largest page of list() and auditLog(). */
export const MAX_LIST_LIMIT = 1000;
/** Largest batch of importMany() and rewrapAll(). */
export const MAX_BATCH = 1000;

/** Who changes what, recorded in the audit log with the change. */
export interface ChangeContext {
  /** Who: an operator name, a service name ("activation-service"), "cli:alice"... (1-128 characters). */
  actor: string;
  /** Source address of the request that caused the change (IP address, host; up to 128 characters). */
  source?: string;
  /** Why (up to 512 characters). */
  reason?: string;
}

/** A ChangeContext as the audit table stores it. */
export interface CheckedContext {
  actor: string;
  source: string | null;
  reason: string | null;
}

export const invalid = (message: string): never => {
  throw new DeviceStoreError('DEVICE_INVALID_INPUT', message);
};

/** A serial or product id: the key id syntax of SPEC section 2. */
export function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !LIMITS.idPattern.test(value)) {
    return invalid(`${what} must be 1-64 characters of A-Z a-z 0-9 . _ : -`);
  }
  return value;
}

function optionalText(value: unknown, max: number, what: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > max) return invalid(`${what} must be text of at most ${max} characters`);
  return value;
}

export function checkContext(ctx: ChangeContext | undefined, fallbackActor?: string): CheckedContext {
  const actor = ctx?.actor ?? fallbackActor;
  if (typeof actor !== 'string' || actor === '' || actor.length > MAX_ACTOR) invalid(`actor must be 1-${MAX_ACTOR} characters`);
  return { actor: actor as string, source: optionalText(ctx?.source, MAX_SOURCE, 'source'), reason: optionalText(ctx?.reason, MAX_REASON, 'reason') };
}

export function checkGrace(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_GRACE_SECONDS) {
    return invalid(`graceSeconds must be an integer from 0 to ${MAX_GRACE_SECONDS}`);
  }
  return value;
}

export function checkLimit(value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) invalid(`limit must be an integer from 1 to ${max}`);
  return v;
}

/** A device key of an import row: 32 bytes, or their base64url. */
export function importKey(value: Uint8Array | string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const bytes = typeof value === 'string' ? b64uDecodeStrict(value) : value instanceof Uint8Array ? Buffer.from(value) : undefined;
  if (!bytes || bytes.length !== DEVICE_KEY_BYTES) {
    return invalid(`a device key must be ${DEVICE_KEY_BYTES} bytes (or their base64url without padding)`);
  }
  return bytes;
}

/** A key given by the caller: copied, so later changes by the caller do not leak in. */
export function callerKey(value: Uint8Array | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array)) return invalid(`a device key must be ${DEVICE_KEY_BYTES} bytes`);
  return importKey(value);
}
