import type { Insertable, Kysely, Transaction } from 'kysely';
import { withTimeout } from '@wxseal/support';
import { deviceDatabaseInfo } from './database.js';
import { DeviceStoreError, storeUnavailable, toStoreError } from './errors.js';
import { checkLimit, invalid, type CheckedContext } from './input-rules.js';
import type { MasterKeyRing, SealContext } from './master-keys.js';
import type { AuditAction, DeviceDatabase, DevicesTable } from './schema.js';
import type { DeviceChangeKind, DeviceStoreEvents } from './types.js';

export interface DeviceRepositoryOptions {
  /** A database opened with openDeviceDatabase (or any Kysely on SQLite/PostgreSQL/MySQL) and migrated. */
  db: Kysely<DeviceDatabase>;
  /** Master keys: new ciphertexts use the active one; older ones are needed until rewrapAll has run. */
  masterKeys: MasterKeyRing;
  /** Called after each committed change (activate, reactivate, rotate, revoke, import). */
  events?: DeviceStoreEvents;
  /** Clock, Unix ms (default Date.now). Grace periods and timestamps use it. */
  now?: () => number;
  /**
   * Deadline of every read (load, serials pages, show, list, audit, getProductSecret), in ms: past
   * it the call rejects with WXSEAL_KEY_STORE_UNAVAILABLE even if the driver has not given up.
   * Default: connect + query timeout of openDeviceDatabase + 250 ms, else 10000.
   */
  readTimeoutMs?: number;
  /** Serials per page in serials() (default 1000). */
  pageSize?: number;
}

// What each sealed value is bound to (the associated data of its encryption): a ciphertext moved
// to another device, column, key version or product does not decrypt.
export const currentKeySeal = (serial: string, version: number): SealContext => ({ purpose: 'device-key-current', subject: serial, version });
export const previousKeySeal = (serial: string, version: number): SealContext => ({ purpose: 'device-key-previous', subject: serial, version: version - 1 });
export const productSecretSeal = (productId: string): SealContext => ({ purpose: 'product-secret', subject: productId, version: 1 });

export interface AuditRow {
  serial: string | null;
  productId: string | null;
  action: AuditAction;
  ctx: CheckedContext;
  keyVersion: number | null;
  at: number;
}

/**
 * What every part of the registry shares: the database, the master keys, the clock, reads under a
 * deadline, transactions, the audit row written inside them, and the change hooks called after
 * they commit.
 */
export class RegistryContext {
  readonly db: Kysely<DeviceDatabase>;
  readonly ring: MasterKeyRing;
  /** Serials per page of serials(). */
  readonly pageSize: number;
  readonly #now: () => number;
  readonly #readTimeoutMs: number;
  readonly #listeners = new Set<DeviceStoreEvents>();

  /** The row of a device provisioned now with key version 1 (activation and import alike). */
  newDeviceRow(serial: string, productId: string, key: Buffer, now: number): Insertable<DevicesTable> {
    return {
      serial,
      product_id: productId,
      status: 'active',
      key_version: 1,
      current_key_ct: this.ring.seal(key, currentKeySeal(serial, 1)),
      previous_key_ct: null,
      previous_key_not_after: null,
      master_key_id: this.ring.activeId,
      activated_at: now,
      rotated_at: null,
      revoked_at: null,
      updated_at: now,
    };
  }

  constructor(options: DeviceRepositoryOptions) {
    if (!options?.db || !options.masterKeys) invalid('DeviceRepository needs { db, masterKeys }');
    this.db = options.db;
    this.ring = options.masterKeys;
    this.#now = options.now ?? Date.now;
    const info = deviceDatabaseInfo(options.db);
    this.#readTimeoutMs = options.readTimeoutMs ?? (info ? info.connectTimeoutMs + info.queryTimeoutMs + 250 : 10_000);
    if (!Number.isFinite(this.#readTimeoutMs) || this.#readTimeoutMs <= 0) invalid('readTimeoutMs must be positive');
    this.pageSize = checkLimit(options.pageSize, 1000, 10_000);
    if (options.events) this.#listeners.add(options.events);
  }

  /** The clock in whole Unix ms. */
  nowMs(): number {
    return Math.floor(this.#now());
  }

  /** Runs a read under the read deadline; every failure that is not ours becomes WXSEAL_KEY_STORE_UNAVAILABLE. */
  async read<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(run, this.#readTimeoutMs, () => storeUnavailable(`${what} did not answer within ${this.#readTimeoutMs} ms`));
    } catch (err) {
      throw toStoreError(what, err);
    }
  }

  /** One transaction; failures that are not ours become WXSEAL_KEY_STORE_UNAVAILABLE (or DEVICE_CONCURRENT_MODIFICATION). */
  async transaction<T>(what: string, run: (trx: Transaction<DeviceDatabase>) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(run);
    } catch (err) {
      throw toStoreError(what, err);
    }
  }

  /** The audit row of a change, in the change's transaction. */
  async audit(trx: Transaction<DeviceDatabase>, entry: AuditRow): Promise<void> {
    await trx
      .insertInto('wxseal_device_audit')
      .values({
        serial: entry.serial,
        product_id: entry.productId,
        action: entry.action,
        actor: entry.ctx.actor,
        reason: entry.ctx.reason,
        source: entry.ctx.source,
        key_version: entry.keyVersion,
        at: entry.at,
      })
      .execute();
  }

  subscribe(events: DeviceStoreEvents): () => void {
    this.#listeners.add(events);
    return () => {
      this.#listeners.delete(events);
    };
  }

  /** Tells every listener about a committed change; a failing listener never fails the change. */
  async emit(serial: string, kind: DeviceChangeKind): Promise<void> {
    for (const listener of [...this.#listeners]) {
      if (!listener.onChange) continue;
      try {
        await listener.onChange(serial, kind);
      } catch (err) {
        try {
          listener.onError?.(err, serial, kind);
        } catch {
          // a failing error hook must not fail a committed change either
        }
      }
    }
  }
}

export function concurrent(serial: string): DeviceStoreError {
  return new DeviceStoreError('DEVICE_CONCURRENT_MODIFICATION', `device ${serial} was changed concurrently; retry`);
}
