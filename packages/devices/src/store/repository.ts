import type { DeviceKeyRecord, DeviceKeySource, DeviceStoreEvents } from './types.js';
import { activate, revoke, rotate, type ActivateOptions, type IssuedDeviceKey, type RotateOptions } from './device-lifecycle.js';
import { importMany, type DeviceImportRow, type ImportOptions, type ImportSummary } from './device-import.js';
import { audit, auditLog, list, show, type AuditEntry, type AuditLogOptions, type DeviceInfo, type DevicePage, type ListDevicesOptions } from './device-queries.js';
import type { ChangeContext } from './input-rules.js';
import { load, serials } from './key-source.js';
import { changesAfter, changesWithin, latestChangeId, type ChangeIdRange, type DeviceChange, type DeviceChangeLog } from './change-log.js';
import { createProduct, getProductSecret, listProducts } from './products.js';
import { RegistryContext, type DeviceRepositoryOptions } from './registry-context.js';
import { rewrapAll, type RewrapOptions, type RewrapSummary } from './rewrap.js';

// The registry's public names, wherever they are defined.
export { DEVICE_KEY_BYTES, MAX_GRACE_SECONDS, PRODUCT_SECRET_BYTES, type ChangeContext } from './input-rules.js';
export type { DeviceRepositoryOptions } from './registry-context.js';
export type { ActivateOptions, IssuedDeviceKey, RotateOptions } from './device-lifecycle.js';
export type { AuditEntry, AuditLogOptions, DeviceInfo, DevicePage, ListDevicesOptions } from './device-queries.js';
export type { DeviceImportResult, DeviceImportRow, ImportOptions, ImportProgress, ImportSummary } from './device-import.js';
export type { RewrapFailure, RewrapOptions, RewrapSummary } from './rewrap.js';
export type { ChangeIdRange, DeviceChange, DeviceChangeLog } from './change-log.js';

/**
 * The device registry (一机一密): products with their secret, devices with their own 256-bit key,
 * rotation with a grace period, revocation, bulk import, an audit log, and master key rotation.
 * Keys are sealed with the MasterKeyRing before they reach the database and only leave this class
 * decrypted through activate/rotate/importMany (once, to the caller) and load (to the key cache).
 *
 * Every state change writes its audit row in the same transaction, then calls the onChange hook.
 * Concurrent writers are detected (optimistic check on key_version): the loser gets
 * DEVICE_CONCURRENT_MODIFICATION and nothing is changed.
 *
 * This class is the facade; each job lives in its module: products.ts, device-lifecycle.ts
 * (activate, rotate, revoke), device-queries.ts (metadata and audit reads), key-source.ts (what the
 * caches read), device-import.ts, rewrap.ts (master key rotation), over registry-context.ts.
 */
export class DeviceRepository implements DeviceKeySource, DeviceChangeLog {
  readonly #reg: RegistryContext;

  constructor(options: DeviceRepositoryOptions) {
    this.#reg = new RegistryContext(options);
  }

  /** Adds change hooks (e.g. the cache layer's invalidation publisher); returns a function that removes them. */
  subscribe(events: DeviceStoreEvents): () => void {
    return this.#reg.subscribe(events);
  }

  // --- products -----------------------------------------------------------------------------

  /** Creates a product and returns its 32-byte secret (shown once). DEVICE_PRODUCT_EXISTS if the id is taken. */
  createProduct(productId: string, context: ChangeContext = { actor: 'system' }): Promise<Buffer> {
    return createProduct(this.#reg, productId, context);
  }

  /** The product secret, decrypted. DEVICE_PRODUCT_NOT_FOUND for an unknown product. */
  getProductSecret(productId: string): Promise<Buffer> {
    return getProductSecret(this.#reg, productId);
  }

  /** Product ids, in order. */
  listProducts(): Promise<string[]> {
    return listProducts(this.#reg);
  }

  // --- device lifecycle ---------------------------------------------------------------------

  /**
   * Provisions a device: a new random 256-bit key, returned once. A serial that is already
   * provisioned is refused (DEVICE_ALREADY_ACTIVE, or DEVICE_REVOKED) unless allowReactivation,
   * in which case it gets a new key as in a rotation (audit action `reactivate`; a revoked device
   * becomes active again, without any previous key). DEVICE_PRODUCT_NOT_FOUND, DEVICE_PRODUCT_MISMATCH.
   */
  activate(serial: string, productId: string, options: ActivateOptions): Promise<IssuedDeviceKey> {
    return activate(this.#reg, serial, productId, options);
  }

  /**
   * Gives an active device a new key (returned once). With graceSeconds > 0 the current key stays
   * valid as the previous key until now + graceSeconds (inclusive); an older previous key is
   * dropped. DEVICE_NOT_FOUND, DEVICE_REVOKED.
   */
  rotate(serial: string, options: RotateOptions): Promise<IssuedDeviceKey> {
    return rotate(this.#reg, serial, options);
  }

  /** Revokes a device: load() reports it revoked, and its previous key (if any) is dropped. DEVICE_NOT_FOUND, DEVICE_REVOKED. */
  revoke(serial: string, options: ChangeContext): Promise<DeviceInfo> {
    return revoke(this.#reg, serial, options);
  }

  // --- reading --------------------------------------------------------------------------------

  /** A device's metadata (never key material), or undefined for an unknown serial. */
  show(serial: string): Promise<DeviceInfo | undefined> {
    return show(this.#reg, serial);
  }

  /** Devices in serial order, filtered by product and/or status, a page at a time. Never key material. */
  list(options: ListDevicesOptions = {}): Promise<DevicePage> {
    return list(this.#reg, options);
  }

  /** Audit entries of one device, oldest first. */
  audit(serial: string, options: { limit?: number } = {}): Promise<AuditEntry[]> {
    return audit(this.#reg, serial, options);
  }

  /** The whole audit log (every device, product creations, rewraps), oldest first, a page at a time. */
  auditLog(options: AuditLogOptions = {}): Promise<AuditEntry[]> {
    return auditLog(this.#reg, options);
  }

  // --- DeviceKeySource --------------------------------------------------------------------------

  /**
   * The decrypted keys of a device for the verifier's cache: undefined for a serial never
   * provisioned (or not a valid key id), the previous key only while its grace period runs.
   * Rejects with WXSEAL_KEY_STORE_UNAVAILABLE (never hangs) when the database cannot answer, and
   * with DEVICE_KEY_DECRYPT_FAILED / DEVICE_MASTER_KEY_UNKNOWN when the row does not decrypt.
   */
  load(serial: string): Promise<DeviceKeyRecord | undefined> {
    return load(this.#reg, serial);
  }

  /** Every provisioned serial (active and revoked), in order, read a page at a time. */
  serials(): AsyncIterable<string> {
    return serials(this.#reg);
  }

  // --- DeviceChangeLog (what every gateway's DeviceChangeFeed reads) ----------------------------

  /** The highest audit id, 0 for an empty log. WXSEAL_KEY_STORE_UNAVAILABLE when the database cannot answer. */
  latestChangeId(): Promise<number> {
    return latestChangeId(this.#reg);
  }

  /** Audit rows (id, serial, action) with id > afterId, in id order, at most `limit` (1–10 000). */
  changesAfter(afterId: number, limit: number): Promise<DeviceChange[]> {
    return changesAfter(this.#reg, afterId, limit);
  }

  /** Audit rows whose id is in one of `ranges` (inclusive, at most 100), in id order, at most `limit`. */
  changesWithin(ranges: readonly ChangeIdRange[], limit: number): Promise<DeviceChange[]> {
    return changesWithin(this.#reg, ranges, limit);
  }

  // --- bulk provisioning ----------------------------------------------------------------------

  /**
   * Provisions many devices (factory lists), in batches of one transaction each. Every input row
   * gets a result, in input order: ok (with the generated key when none was given) or an error
   * code (DEVICE_INVALID_INPUT, DEVICE_PRODUCT_NOT_FOUND, DEVICE_EXISTS, DEVICE_DUPLICATE_KEY, DEVICE_STORE_UNAVAILABLE). A
   * bad row never stops the others; if the database fails, the rows not stored are reported as
   * DEVICE_STORE_UNAVAILABLE and the import stops, so it can be run again with them.
   */
  importMany(rows: Iterable<DeviceImportRow> | AsyncIterable<DeviceImportRow>, options: ImportOptions): Promise<ImportSummary> {
    return importMany(this.#reg, rows, options);
  }

  // --- master key rotation ----------------------------------------------------------------------

  /**
   * Re-encrypts every product secret and device key under `newMasterKeyId` (which the ring must
   * hold; make it the ring's active key first so new writes use it too). Works in batches, one
   * transaction and one `rewrap` audit entry each; rows already under the new key are skipped, so
   * it is idempotent and can be resumed after an interruption by running it again. When it returns
   * with no failures, the old master keys are no longer needed.
   */
  rewrapAll(newMasterKeyId: string, options: RewrapOptions = {}): Promise<RewrapSummary> {
    return rewrapAll(this.#reg, newMasterKeyId, options);
  }
}
