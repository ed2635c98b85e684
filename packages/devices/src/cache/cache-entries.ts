import { MAX_SECRET_BYTES, MIN_SECRET_BYTES } from '@wxseal/protocol';
import type { ClientCredential, ClientSecret } from '@wxseal/server';
import type { DeviceKeyRecord } from '../store/types.js';
import type { CachedDeviceKey } from './codec.js';

/**
 * What the caches hold. A record of the source is checked (fail closed on anything malformed) and
 * copied into a CachedDeviceKey, the value L2 stores encrypted; L1 keeps, per serial, either the
 * credentials built from that value with their times, or a short-lived "no such serial".
 */

export interface DeviceEntry {
  kind: 'device';
  credential: ClientCredential;
  /** The credential with the previous key too, used while its grace period runs. */
  withPrevious: ClientCredential | undefined;
  previousNotAfter: number;
  freshUntil: number;
  staleUntil: number;
  /** After a failed refresh: serve stale without retrying until then. */
  retryAt: number;
}
export interface UnknownEntry {
  kind: 'unknown';
  freshUntil: number;
}
export type L1Entry = DeviceEntry | UnknownEntry;

const validKey = (key: unknown): key is Uint8Array =>
  key instanceof Uint8Array && key.length >= MIN_SECRET_BYTES && key.length <= MAX_SECRET_BYTES;

/** The credential to answer with at `nowMs`: the previous key only while its grace period runs. */
export function credentialAt(entry: DeviceEntry, nowMs: number): ClientCredential {
  return entry.withPrevious !== undefined && Math.floor(nowMs / 1000) <= entry.previousNotAfter ? entry.withPrevious : entry.credential;
}

export function deviceEntry(serial: string, value: CachedDeviceKey, now: number, ttlMs: number, staleMs: number): DeviceEntry {
  const entry: DeviceEntry = {
    kind: 'device',
    credential: Object.freeze({ keyId: serial, secrets: Object.freeze([]), revoked: true }),
    withPrevious: undefined,
    previousNotAfter: 0,
    freshUntil: now + ttlMs,
    staleUntil: now + ttlMs + staleMs,
    retryAt: 0,
  };
  if (value.status === 'active' && value.currentKey) {
    const current: ClientSecret = Object.freeze({ id: 'current', secret: value.currentKey });
    entry.credential = Object.freeze({ keyId: serial, secrets: Object.freeze([current]) });
    if (value.previousKey && value.previousKeyNotAfter !== undefined) {
      const previous: ClientSecret = Object.freeze({ id: 'previous', secret: value.previousKey, notAfter: value.previousKeyNotAfter });
      entry.withPrevious = Object.freeze({ keyId: serial, secrets: Object.freeze([current, previous]) });
      entry.previousNotAfter = value.previousKeyNotAfter;
    }
  }
  return entry;
}

/** A record from the source, checked: one that is malformed or answers for another serial is a store failure (fail closed). */
export function checkRecord(serial: string, record: DeviceKeyRecord | undefined): DeviceKeyRecord | undefined {
  if (record === undefined || record === null) return undefined;
  if (typeof record !== 'object' || record.serial !== serial) throw new Error('the device key source answered for another serial');
  if (record.status !== 'active' && record.status !== 'revoked') throw new Error(`the device key source gave an unknown status for ${serial}`);
  if (record.status === 'active' && !validKey(record.currentKey)) throw new Error(`the device key source gave an invalid key for ${serial}`);
  return record;
}

/** What L1 and L2 keep of a record: copies of the keys (the source may reuse its buffers), none when revoked. */
export function cacheValueOf(record: DeviceKeyRecord, report: ((error: unknown) => void) | undefined): CachedDeviceKey {
  const value: CachedDeviceKey = {
    status: record.status,
    keyVersion: Number.isFinite(record.keyVersion) ? record.keyVersion : 0,
    updatedAt: Number.isFinite(record.updatedAt) ? record.updatedAt : 0,
  };
  if (record.status !== 'active') return value;
  value.currentKey = Buffer.from(record.currentKey);
  if (record.previousKey !== undefined && record.previousKey !== null) {
    if (validKey(record.previousKey) && Number.isFinite(record.previousKeyNotAfter)) {
      value.previousKey = Buffer.from(record.previousKey);
      value.previousKeyNotAfter = record.previousKeyNotAfter!;
    } else {
      // A previous key with no end to its grace period would stay valid forever: not served.
      report?.(new Error(`the previous key of ${record.serial} has no valid previousKeyNotAfter; it is not served`));
    }
  }
  return value;
}
