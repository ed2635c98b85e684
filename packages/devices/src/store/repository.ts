import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { LIMITS, b64uDecodeStrict, b64uEncode } from '@wxseal/protocol';
import { deviceDatabaseInfo } from './database.js';
import { DeviceStoreError, isUniqueViolation, storeUnavailable, toStoreError, type DeviceStoreErrorCode } from './errors.js';
import type { MasterKeyRing, SealContext } from './master-keys.js';
import { toInt, toIntOrUndefined, type AuditAction, type DeviceDatabase } from './schema.js';
import type { DeviceChangeKind, DeviceKeyRecord, DeviceKeySource, DeviceStatus, DeviceStoreEvents } from './types.js';

/** Device keys and product secrets are 256-bit random values. */
export const DEVICE_KEY_BYTES = 32;
export const PRODUCT_SECRET_BYTES = 32;
/** Longest accepted grace period: one year. */
export const MAX_GRACE_SECONDS = 366 * 24 * 3600;

const MAX_ACTOR = 128;
const MAX_SOURCE = 128;
const MAX_REASON = 512;
const MAX_LIST_LIMIT = 1000;
const MAX_IMPORT_BATCH = 1000;

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

/** Who changes what, recorded in the audit log with the change. */
export interface ChangeContext {
  /** Who: an operator name, a service name ("activation-service"), "cli:alice"... (1-128 characters). */
  actor: string;
  /** Source address of the request that caused the change (IP address, host; up to 128 characters). */
  source?: string;
  /** Why (up to 512 characters). */
  reason?: string;
}

export interface ActivateOptions extends ChangeContext {
  /**
   * Allows activating a serial that is already provisioned (active or revoked): it then gets a new
   * key, exactly like a rotation. Default false: DEVICE_ALREADY_ACTIVE / DEVICE_REVOKED.
   */
  allowReactivation?: boolean;
  /** On re-activation of an active device: seconds the old key stays valid (default 0: none). */
  graceSeconds?: number;
  /**
   * The device key, when the activation protocol derives it (e.g. by key agreement) instead of
   * letting the registry draw it: 32 bytes. Default: 32 random bytes.
   */
  key?: Uint8Array;
}

export interface RotateOptions extends ChangeContext {
  /** Seconds the previous key stays valid (0: it stops working at once). At most one previous key is kept. */
  graceSeconds: number;
  /** The new key when the caller derives it (32 bytes). Default: 32 random bytes. */
  key?: Uint8Array;
}

/** A device key as issued: shown once, never stored in clear, never returned again. */
export interface IssuedDeviceKey {
  serial: string;
  productId: string;
  /** The 32-byte device key. */
  key: Buffer;
  keyVersion: number;
  /** Unix seconds, inclusive: the end of the previous key's grace period, when one is kept. */
  previousKeyNotAfter?: number;
  /** True when activate() replaced the key of an already provisioned serial. */
  reactivated: boolean;
}

/** A device's metadata. Never contains key material. */
export interface DeviceInfo {
  serial: string;
  productId: string;
  status: DeviceStatus;
  keyVersion: number;
  /** The master key that protects the row. */
  masterKeyId: string;
  /** Unix seconds, inclusive, when a previous key is stored (it may already have expired). */
  previousKeyNotAfter?: number;
  /** Unix ms. */
  activatedAt: number;
  rotatedAt?: number;
  revokedAt?: number;
  updatedAt: number;
}

export interface ListDevicesOptions {
  productId?: string;
  /**
   * Only serials starting with this (1-64 characters of A-Z a-z 0-9 . _ : -). A range on the
   * serial index (`serial >= prefix AND serial < prefix || '~'`), so it stays fast on any size.
   */
  serialPrefix?: string;
  status?: DeviceStatus;
  /** 1-1000, default 100. */
  limit?: number;
  /** nextCursor of the previous page. */
  cursor?: string;
}

export interface DevicePage {
  devices: DeviceInfo[];
  /** Present when more devices follow. */
  nextCursor?: string;
}

export interface AuditEntry {
  id: number;
  serial?: string;
  productId?: string;
  action: AuditAction;
  actor: string;
  reason?: string;
  source?: string;
  /** Key version after the change. */
  keyVersion?: number;
  /** Unix ms. */
  at: number;
}

export interface AuditLogOptions {
  /** Entries after this id (the last id of the previous page). */
  afterId?: number;
  /** 1-1000, default 100. */
  limit?: number;
}

/** One device to provision in bulk. */
export interface DeviceImportRow {
  serial: string;
  productId: string;
  /** The device key (32 bytes, or their base64url) when the factory made it; generated when absent. */
  key?: Uint8Array | string;
}

export interface ImportProgress {
  processed: number;
  imported: number;
  failed: number;
  /** Known when the rows were given as an array. */
  total?: number;
}

export interface ImportOptions extends ChangeContext {
  /** Rows per transaction (default 500, at most 1000). */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?(progress: ImportProgress): void;
}

export type DeviceImportResult =
  | {
      index: number;
      serial: string;
      ok: true;
      keyVersion: number;
      /** Present only when the key was generated by the import (shown once). */
      key?: Buffer;
    }
  | { index: number; serial: string; ok: false; code: DeviceStoreErrorCode; message: string };

export interface ImportSummary {
  imported: number;
  failed: number;
  /** One result per input row, in input order. */
  results: DeviceImportResult[];
}

export interface RewrapOptions {
  actor?: string;
  source?: string;
  /** Rows per transaction (default 500). */
  batchSize?: number;
  onProgress?(progress: { products: number; devices: number; failures: number }): void;
}

export interface RewrapFailure {
  table: 'products' | 'devices';
  id: string;
  code: DeviceStoreErrorCode;
}

export interface RewrapSummary {
  masterKeyId: string;
  /** Rows re-encrypted by this call. */
  products: number;
  devices: number;
  /** Rows left under another master key: they did not decrypt, or changed while being rewrapped (run again). */
  failures: RewrapFailure[];
}

type DeviceRow = {
  serial: string;
  product_id: string;
  status: DeviceStatus;
  key_version: number | string | bigint;
  current_key_ct: Buffer;
  previous_key_ct: Buffer | null;
  previous_key_not_after: number | string | bigint | null;
  master_key_id: string;
};

const META_COLUMNS = [
  'serial',
  'product_id',
  'status',
  'key_version',
  'master_key_id',
  'previous_key_not_after',
  'activated_at',
  'rotated_at',
  'revoked_at',
  'updated_at',
] as const;

const invalid = (message: string): never => {
  throw new DeviceStoreError('INVALID_INPUT', message);
};

function checkId(value: unknown, what: string): string {
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

interface CheckedContext {
  actor: string;
  source: string | null;
  reason: string | null;
}

function checkContext(ctx: ChangeContext | undefined, fallbackActor?: string): CheckedContext {
  const actor = ctx?.actor ?? fallbackActor;
  if (typeof actor !== 'string' || actor === '' || actor.length > MAX_ACTOR) invalid(`actor must be 1-${MAX_ACTOR} characters`);
  return { actor: actor as string, source: optionalText(ctx?.source, MAX_SOURCE, 'source'), reason: optionalText(ctx?.reason, MAX_REASON, 'reason') };
}

function checkGrace(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_GRACE_SECONDS) {
    return invalid(`graceSeconds must be an integer from 0 to ${MAX_GRACE_SECONDS}`);
  }
  return value;
}

function checkLimit(value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) invalid(`limit must be an integer from 1 to ${max}`);
  return v;
}

function importKey(value: Uint8Array | string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const bytes = typeof value === 'string' ? b64uDecodeStrict(value) : value instanceof Uint8Array ? Buffer.from(value) : undefined;
  if (!bytes || bytes.length !== DEVICE_KEY_BYTES) {
    return invalid(`a device key must be ${DEVICE_KEY_BYTES} bytes (or their base64url without padding)`);
  }
  return bytes;
}

/** A key given by the caller: copied, so later changes by the caller do not leak in. */
function callerKey(value: Uint8Array | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array)) return invalid(`a device key must be ${DEVICE_KEY_BYTES} bytes`);
  return importKey(value);
}

const current = (serial: string, version: number): SealContext => ({ purpose: 'device-key-current', subject: serial, version });
const previous = (serial: string, version: number): SealContext => ({ purpose: 'device-key-previous', subject: serial, version: version - 1 });
const productSecret = (productId: string): SealContext => ({ purpose: 'product-secret', subject: productId, version: 1 });

function toInfo(row: {
  serial: string;
  product_id: string;
  status: DeviceStatus;
  key_version: number | string | bigint;
  master_key_id: string;
  previous_key_not_after: number | string | bigint | null;
  activated_at: number | string | bigint;
  rotated_at: number | string | bigint | null;
  revoked_at: number | string | bigint | null;
  updated_at: number | string | bigint;
}): DeviceInfo {
  const info: DeviceInfo = {
    serial: row.serial,
    productId: row.product_id,
    status: row.status,
    keyVersion: toInt(row.key_version),
    masterKeyId: row.master_key_id,
    activatedAt: toInt(row.activated_at),
    updatedAt: toInt(row.updated_at),
  };
  const notAfter = toIntOrUndefined(row.previous_key_not_after);
  if (notAfter !== undefined) info.previousKeyNotAfter = notAfter;
  const rotatedAt = toIntOrUndefined(row.rotated_at);
  if (rotatedAt !== undefined) info.rotatedAt = rotatedAt;
  const revokedAt = toIntOrUndefined(row.revoked_at);
  if (revokedAt !== undefined) info.revokedAt = revokedAt;
  return info;
}

function encodeCursor(serial: string): string {
  return b64uEncode(Buffer.from(serial, 'utf8'));
}

function decodeCursor(cursor: string): string {
  const bytes = b64uDecodeStrict(cursor);
  const serial = bytes?.toString('utf8');
  if (serial === undefined || !LIMITS.idPattern.test(serial)) return invalid('cursor is not a cursor of list()');
  return serial;
}

/**
 * The device registry (一机一密): products with their secret, devices with their own 256-bit key,
 * rotation with a grace period, revocation, bulk import, an audit log, and master key rotation.
 * Keys are sealed with the MasterKeyRing before they reach the database and only leave this class
 * decrypted through activate/rotate/importMany (once, to the caller) and load (to the key cache).
 *
 * Every state change writes its audit row in the same transaction, then calls the onChange hook.
 * Concurrent writers are detected (optimistic check on key_version): the loser gets
 * CONCURRENT_MODIFICATION and nothing is changed.
 */
export class DeviceRepository implements DeviceKeySource {
  readonly #db: Kysely<DeviceDatabase>;
  readonly #ring: MasterKeyRing;
  readonly #now: () => number;
  readonly #readTimeoutMs: number;
  readonly #pageSize: number;
  readonly #listeners = new Set<DeviceStoreEvents>();

  constructor(options: DeviceRepositoryOptions) {
    if (!options?.db || !options.masterKeys) invalid('DeviceRepository needs { db, masterKeys }');
    this.#db = options.db;
    this.#ring = options.masterKeys;
    this.#now = options.now ?? Date.now;
    const info = deviceDatabaseInfo(options.db);
    this.#readTimeoutMs = options.readTimeoutMs ?? (info ? info.connectTimeoutMs + info.queryTimeoutMs + 250 : 10_000);
    if (!Number.isFinite(this.#readTimeoutMs) || this.#readTimeoutMs <= 0) invalid('readTimeoutMs must be positive');
    this.#pageSize = checkLimit(options.pageSize, 1000, 10_000);
    if (options.events) this.#listeners.add(options.events);
  }

  /** Adds change hooks (e.g. the cache layer's invalidation publisher); returns a function that removes them. */
  subscribe(events: DeviceStoreEvents): () => void {
    this.#listeners.add(events);
    return () => {
      this.#listeners.delete(events);
    };
  }

  // --- products -----------------------------------------------------------------------------

  /** Creates a product and returns its 32-byte secret (shown once). PRODUCT_EXISTS if the id is taken. */
  async createProduct(productId: string, context: ChangeContext = { actor: 'system' }): Promise<Buffer> {
    checkId(productId, 'productId');
    const ctx = checkContext(context);
    const secret = randomBytes(PRODUCT_SECRET_BYTES);
    const now = this.#nowMs();
    const sealed = this.#ring.seal(secret, productSecret(productId));
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto('wxseal_products')
          .values({ product_id: productId, secret_ct: sealed, master_key_id: this.#ring.activeId, created_at: now, updated_at: now })
          .execute();
        await this.#audit(trx, { serial: null, productId, action: 'create_product', ctx, keyVersion: null, at: now });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceStoreError('PRODUCT_EXISTS', `product ${productId} already exists`);
      throw toStoreError('createProduct', err);
    }
    return secret;
  }

  /** The product secret, decrypted. PRODUCT_NOT_FOUND for an unknown product. */
  async getProductSecret(productId: string): Promise<Buffer> {
    checkId(productId, 'productId');
    const row = await this.#read('getProductSecret', () =>
      this.#db.selectFrom('wxseal_products').select(['secret_ct', 'master_key_id']).where('product_id', '=', productId).executeTakeFirst(),
    );
    if (!row) throw new DeviceStoreError('PRODUCT_NOT_FOUND', `product ${productId} does not exist`);
    return this.#ring.open(row.master_key_id, row.secret_ct, productSecret(productId));
  }

  /** Product ids, in order. */
  async listProducts(): Promise<string[]> {
    const rows = await this.#read('listProducts', () => this.#db.selectFrom('wxseal_products').select('product_id').orderBy('product_id').execute());
    return rows.map((r) => r.product_id);
  }

  // --- device lifecycle ---------------------------------------------------------------------

  /**
   * Provisions a device: a new random 256-bit key, returned once. A serial that is already
   * provisioned is refused (DEVICE_ALREADY_ACTIVE, or DEVICE_REVOKED) unless allowReactivation,
   * in which case it gets a new key as in a rotation (audit action `reactivate`; a revoked device
   * becomes active again, without any previous key). PRODUCT_NOT_FOUND, DEVICE_PRODUCT_MISMATCH.
   */
  async activate(serial: string, productId: string, options: ActivateOptions): Promise<IssuedDeviceKey> {
    checkId(serial, 'serial');
    checkId(productId, 'productId');
    const ctx = checkContext(options);
    const grace = checkGrace(options.graceSeconds ?? 0);
    const allow = options.allowReactivation === true;
    const key = callerKey(options.key) ?? randomBytes(DEVICE_KEY_BYTES);
    let issued: IssuedDeviceKey;
    try {
      issued = await this.#db.transaction().execute(async (trx) => {
        const product = await trx.selectFrom('wxseal_products').select('product_id').where('product_id', '=', productId).executeTakeFirst();
        if (!product) throw new DeviceStoreError('PRODUCT_NOT_FOUND', `product ${productId} does not exist`);
        const row = await this.#selectDevice(trx, serial);
        const now = this.#nowMs();
        if (!row) {
          await trx
            .insertInto('wxseal_devices')
            .values({
              serial,
              product_id: productId,
              status: 'active',
              key_version: 1,
              current_key_ct: this.#ring.seal(key, current(serial, 1)),
              previous_key_ct: null,
              previous_key_not_after: null,
              master_key_id: this.#ring.activeId,
              activated_at: now,
              rotated_at: null,
              revoked_at: null,
              updated_at: now,
            })
            .execute();
          await this.#audit(trx, { serial, productId, action: 'activate', ctx, keyVersion: 1, at: now });
          return { serial, productId, key, keyVersion: 1, reactivated: false };
        }
        if (row.product_id !== productId) {
          throw new DeviceStoreError('DEVICE_PRODUCT_MISMATCH', `device ${serial} belongs to another product`);
        }
        if (!allow) {
          throw row.status === 'active'
            ? new DeviceStoreError('DEVICE_ALREADY_ACTIVE', `device ${serial} is already active`)
            : new DeviceStoreError('DEVICE_REVOKED', `device ${serial} is revoked`);
        }
        // A revoked device's old key is never revived as a previous key.
        const out = await this.#replaceKey(trx, row, key, row.status === 'active' ? grace : 0, now, 'reactivate', ctx);
        return { serial, productId, key, keyVersion: out.keyVersion, ...out.extra, reactivated: true };
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        // Another activation of the same serial committed between our read and our insert.
        throw new DeviceStoreError(allow ? 'CONCURRENT_MODIFICATION' : 'DEVICE_ALREADY_ACTIVE', `device ${serial} was activated concurrently`);
      }
      throw toStoreError('activate', err);
    }
    await this.#emit(serial, issued.reactivated ? 'reactivate' : 'activate');
    return issued;
  }

  /**
   * Gives an active device a new key (returned once). With graceSeconds > 0 the current key stays
   * valid as the previous key until now + graceSeconds (inclusive); an older previous key is
   * dropped. DEVICE_NOT_FOUND, DEVICE_REVOKED.
   */
  async rotate(serial: string, options: RotateOptions): Promise<IssuedDeviceKey> {
    checkId(serial, 'serial');
    const ctx = checkContext(options);
    const grace = checkGrace(options?.graceSeconds);
    const key = callerKey(options.key) ?? randomBytes(DEVICE_KEY_BYTES);
    let issued: IssuedDeviceKey;
    try {
      issued = await this.#db.transaction().execute(async (trx) => {
        const row = await this.#selectDevice(trx, serial);
        if (!row) throw new DeviceStoreError('DEVICE_NOT_FOUND', `device ${serial} does not exist`);
        if (row.status !== 'active') throw new DeviceStoreError('DEVICE_REVOKED', `device ${serial} is revoked`);
        const out = await this.#replaceKey(trx, row, key, grace, this.#nowMs(), 'rotate', ctx);
        return { serial, productId: row.product_id, key, keyVersion: out.keyVersion, ...out.extra, reactivated: false };
      });
    } catch (err) {
      throw toStoreError('rotate', err);
    }
    await this.#emit(serial, 'rotate');
    return issued;
  }

  /** Revokes a device: load() reports it revoked, and its previous key (if any) is dropped. DEVICE_NOT_FOUND, DEVICE_REVOKED. */
  async revoke(serial: string, options: ChangeContext): Promise<DeviceInfo> {
    checkId(serial, 'serial');
    const ctx = checkContext(options);
    let info: DeviceInfo;
    try {
      info = await this.#db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('wxseal_devices').select(META_COLUMNS).where('serial', '=', serial).executeTakeFirst();
        if (!row) throw new DeviceStoreError('DEVICE_NOT_FOUND', `device ${serial} does not exist`);
        if (row.status !== 'active') throw new DeviceStoreError('DEVICE_REVOKED', `device ${serial} is already revoked`);
        const version = toInt(row.key_version);
        const now = this.#nowMs();
        const changes = { status: 'revoked' as const, revoked_at: now, updated_at: now, previous_key_ct: null, previous_key_not_after: null };
        const result = await trx
          .updateTable('wxseal_devices')
          .set(changes)
          .where('serial', '=', serial)
          .where('key_version', '=', version)
          .where('status', '=', 'active')
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) throw concurrent(serial);
        await this.#audit(trx, { serial, productId: row.product_id, action: 'revoke', ctx, keyVersion: version, at: now });
        return toInfo({ ...row, status: 'revoked', revoked_at: now, updated_at: now, previous_key_not_after: null });
      });
    } catch (err) {
      throw toStoreError('revoke', err);
    }
    await this.#emit(serial, 'revoke');
    return info;
  }

  // --- reading --------------------------------------------------------------------------------

  /** A device's metadata (never key material), or undefined for an unknown serial. */
  async show(serial: string): Promise<DeviceInfo | undefined> {
    if (typeof serial !== 'string' || !LIMITS.idPattern.test(serial)) return undefined;
    const row = await this.#read('show', () => this.#db.selectFrom('wxseal_devices').select(META_COLUMNS).where('serial', '=', serial).executeTakeFirst());
    return row && toInfo(row);
  }

  /** Devices in serial order, filtered by product and/or status, a page at a time. Never key material. */
  async list(options: ListDevicesOptions = {}): Promise<DevicePage> {
    const limit = checkLimit(options.limit, 100, MAX_LIST_LIMIT);
    if (options.productId !== undefined) checkId(options.productId, 'productId');
    if (options.status !== undefined && options.status !== 'active' && options.status !== 'revoked') invalid('status must be active or revoked');
    const prefix = options.serialPrefix === undefined || options.serialPrefix === '' ? undefined : checkId(options.serialPrefix, 'serialPrefix');
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const rows = await this.#read('list', () => {
      let q = this.#db.selectFrom('wxseal_devices').select(META_COLUMNS);
      if (options.productId !== undefined) q = q.where('product_id', '=', options.productId);
      if (options.status !== undefined) q = q.where('status', '=', options.status);
      if (after !== undefined) q = q.where('serial', '>', after);
      // '~' (0x7e) sorts after every character a serial may hold, in the byte order of all three databases.
      if (prefix !== undefined) q = q.where('serial', '>=', prefix).where('serial', '<', `${prefix}~`);
      return q.orderBy('serial').limit(limit + 1).execute();
    });
    const page: DevicePage = { devices: rows.slice(0, limit).map(toInfo) };
    const last = page.devices[page.devices.length - 1];
    if (rows.length > limit && last) page.nextCursor = encodeCursor(last.serial);
    return page;
  }

  /** Audit entries of one device, oldest first. */
  async audit(serial: string, options: { limit?: number } = {}): Promise<AuditEntry[]> {
    checkId(serial, 'serial');
    const limit = checkLimit(options.limit, 1000, 10_000);
    const rows = await this.#read('audit', () =>
      this.#db.selectFrom('wxseal_device_audit').selectAll().where('serial', '=', serial).orderBy('id').limit(limit).execute(),
    );
    return rows.map(toAuditEntry);
  }

  /** The whole audit log (every device, product creations, rewraps), oldest first, a page at a time. */
  async auditLog(options: AuditLogOptions = {}): Promise<AuditEntry[]> {
    const limit = checkLimit(options.limit, 100, MAX_LIST_LIMIT);
    const afterId = options.afterId;
    if (afterId !== undefined && (!Number.isSafeInteger(afterId) || afterId < 0)) invalid('afterId must be a non-negative integer');
    const rows = await this.#read('auditLog', () => {
      let q = this.#db.selectFrom('wxseal_device_audit').selectAll();
      if (afterId !== undefined) q = q.where('id', '>', afterId);
      return q.orderBy('id').limit(limit).execute();
    });
    return rows.map(toAuditEntry);
  }

  // --- DeviceKeySource --------------------------------------------------------------------------

  /**
   * The decrypted keys of a device for the verifier's cache: undefined for a serial never
   * provisioned (or not a valid key id), the previous key only while its grace period runs.
   * Rejects with WXSEAL_KEY_STORE_UNAVAILABLE (never hangs) when the database cannot answer, and
   * with KEY_DECRYPT_FAILED / MASTER_KEY_UNKNOWN when the row does not decrypt.
   */
  async load(serial: string): Promise<DeviceKeyRecord | undefined> {
    if (typeof serial !== 'string' || !LIMITS.idPattern.test(serial)) return undefined;
    const row = await this.#read('load', () =>
      this.#db
        .selectFrom('wxseal_devices')
        .select(['serial', 'status', 'key_version', 'current_key_ct', 'previous_key_ct', 'previous_key_not_after', 'master_key_id', 'updated_at'])
        .where('serial', '=', serial)
        .executeTakeFirst(),
    );
    if (!row) return undefined;
    const version = toInt(row.key_version);
    const record: DeviceKeyRecord = {
      serial: row.serial,
      status: row.status,
      currentKey: this.#ring.open(row.master_key_id, row.current_key_ct, current(serial, version)),
      keyVersion: version,
      updatedAt: toInt(row.updated_at),
    };
    const notAfter = toIntOrUndefined(row.previous_key_not_after);
    if (row.previous_key_ct && notAfter !== undefined && notAfter >= Math.floor(this.#nowMs() / 1000)) {
      record.previousKey = this.#ring.open(row.master_key_id, row.previous_key_ct, previous(serial, version));
      record.previousKeyNotAfter = notAfter;
    }
    return record;
  }

  /** Every provisioned serial (active and revoked), in order, read a page at a time. */
  async *serials(): AsyncIterable<string> {
    let after: string | undefined;
    for (;;) {
      const from = after;
      const rows = await this.#read('serials', () => {
        let q = this.#db.selectFrom('wxseal_devices').select('serial');
        if (from !== undefined) q = q.where('serial', '>', from);
        return q.orderBy('serial').limit(this.#pageSize).execute();
      });
      for (const row of rows) yield row.serial;
      if (rows.length < this.#pageSize) return;
      after = rows[rows.length - 1]?.serial;
    }
  }

  // --- bulk provisioning ----------------------------------------------------------------------

  /**
   * Provisions many devices (factory lists), in batches of one transaction each. Every input row
   * gets a result, in input order: ok (with the generated key when none was given) or an error
   * code (INVALID_INPUT, PRODUCT_NOT_FOUND, DEVICE_EXISTS, DUPLICATE_KEY, STORE_UNAVAILABLE). A
   * bad row never stops the others; if the database fails, the rows not stored are reported as
   * STORE_UNAVAILABLE and the import stops, so it can be run again with them.
   */
  async importMany(rows: Iterable<DeviceImportRow> | AsyncIterable<DeviceImportRow>, options: ImportOptions): Promise<ImportSummary> {
    const ctx = checkContext(options);
    const batchSize = checkLimit(options.batchSize, 500, MAX_IMPORT_BATCH);
    const total = Array.isArray(rows) ? rows.length : undefined;
    const results: DeviceImportResult[] = [];
    const seenSerials = new Set<string>();
    const seenKeys = new Set<string>();
    const knownProducts = new Set<string>();
    let imported = 0;
    let failed = 0;
    let outage: unknown;
    let batch: PendingImport[] = [];
    let reported = 0;

    const fail = (index: number, serial: string, code: DeviceStoreErrorCode, message: string): void => {
      results[index] = { index, serial, ok: false, code, message };
      failed++;
    };

    const flush = async (): Promise<void> => {
      const pending = batch;
      batch = [];
      if (pending.length === 0) {
        // nothing to store
      } else if (outage !== undefined) {
        for (const p of pending) fail(p.index, p.serial, 'STORE_UNAVAILABLE', 'not attempted: the database failed earlier in this import');
      } else {
        const stored: PendingImport[] = [];
        const succeed = (p: PendingImport): void => {
          results[p.index] = p.generated
            ? { index: p.index, serial: p.serial, ok: true, keyVersion: 1, key: p.key }
            : { index: p.index, serial: p.serial, ok: true, keyVersion: 1 };
          imported++;
          stored.push(p);
        };
        try {
          await this.#importBatch(pending, ctx, knownProducts, fail, succeed);
        } catch (err) {
          outage = err;
          const reason = toStoreError('importMany', err).message;
          for (const p of pending) if (results[p.index] === undefined) fail(p.index, p.serial, 'STORE_UNAVAILABLE', reason);
        }
        for (const p of stored) await this.#emit(p.serial, 'import');
      }
      if (imported + failed === reported) return;
      reported = imported + failed;
      const progress: ImportProgress = { processed: reported, imported, failed };
      if (total !== undefined) progress.total = total;
      options.onProgress?.(progress);
    };

    let index = 0;
    for await (const input of rows) {
      const i = index++;
      const serial = typeof input?.serial === 'string' ? input.serial : String(input?.serial);
      try {
        checkId(input?.serial, 'serial');
        checkId(input?.productId, 'productId');
        const given = importKey(input.key);
        if (seenSerials.has(serial)) {
          fail(i, serial, 'DEVICE_EXISTS', `serial ${serial} appears more than once in the import`);
          continue;
        }
        const key = given ?? randomBytes(DEVICE_KEY_BYTES);
        const fingerprint = createHash('sha256').update(key).digest('base64');
        if (seenKeys.has(fingerprint)) {
          fail(i, serial, 'DUPLICATE_KEY', 'this device key is also given to another row of the import');
          continue;
        }
        seenSerials.add(serial);
        seenKeys.add(fingerprint);
        batch.push({ index: i, serial, productId: input.productId, key, generated: given === undefined });
      } catch (err) {
        if (err instanceof DeviceStoreError) fail(i, serial, err.code, err.message);
        else throw err;
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    return { imported, failed, results };
  }

  async #importBatch(
    pending: PendingImport[],
    ctx: CheckedContext,
    knownProducts: Set<string>,
    fail: (index: number, serial: string, code: DeviceStoreErrorCode, message: string) => void,
    succeed: (row: PendingImport) => void,
  ): Promise<void> {
    const unknown = [...new Set(pending.map((p) => p.productId).filter((id) => !knownProducts.has(id)))];
    if (unknown.length > 0) {
      const found = await this.#db.selectFrom('wxseal_products').select('product_id').where('product_id', 'in', unknown).execute();
      for (const row of found) knownProducts.add(row.product_id);
    }
    const existing = new Set(
      (await this.#db.selectFrom('wxseal_devices').select('serial').where('serial', 'in', pending.map((p) => p.serial)).execute()).map((r) => r.serial),
    );
    const good: PendingImport[] = [];
    for (const p of pending) {
      if (!knownProducts.has(p.productId)) fail(p.index, p.serial, 'PRODUCT_NOT_FOUND', `product ${p.productId} does not exist`);
      else if (existing.has(p.serial)) fail(p.index, p.serial, 'DEVICE_EXISTS', `device ${p.serial} is already provisioned`);
      else good.push(p);
    }
    if (good.length === 0) return;
    try {
      await this.#db.transaction().execute((trx) => this.#insertImported(trx, good, ctx));
      for (const p of good) succeed(p);
      return;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    // A serial was provisioned concurrently: store the rows one by one to tell which. A failure
    // other than a duplicate propagates; the rows stored before it are already reported.
    for (const p of good) {
      try {
        await this.#db.transaction().execute((trx) => this.#insertImported(trx, [p], ctx));
        succeed(p);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        fail(p.index, p.serial, 'DEVICE_EXISTS', `device ${p.serial} is already provisioned`);
      }
    }
  }

  async #insertImported(trx: Transaction<DeviceDatabase>, rows: PendingImport[], ctx: CheckedContext): Promise<void> {
    const now = this.#nowMs();
    await trx
      .insertInto('wxseal_devices')
      .values(
        rows.map((p) => ({
          serial: p.serial,
          product_id: p.productId,
          status: 'active' as const,
          key_version: 1,
          current_key_ct: this.#ring.seal(p.key, current(p.serial, 1)),
          previous_key_ct: null,
          previous_key_not_after: null,
          master_key_id: this.#ring.activeId,
          activated_at: now,
          rotated_at: null,
          revoked_at: null,
          updated_at: now,
        })),
      )
      .execute();
    await trx
      .insertInto('wxseal_device_audit')
      .values(
        rows.map((p) => ({
          serial: p.serial,
          product_id: p.productId,
          action: 'import' as const,
          actor: ctx.actor,
          reason: ctx.reason,
          source: ctx.source,
          key_version: 1,
          at: now,
        })),
      )
      .execute();
  }

  // --- master key rotation ----------------------------------------------------------------------

  /**
   * Re-encrypts every product secret and device key under `newMasterKeyId` (which the ring must
   * hold; make it the ring's active key first so new writes use it too). Works in batches, one
   * transaction and one `rewrap` audit entry each; rows already under the new key are skipped, so
   * it is idempotent and can be resumed after an interruption by running it again. When it returns
   * with no failures, the old master keys are no longer needed.
   */
  async rewrapAll(newMasterKeyId: string, options: RewrapOptions = {}): Promise<RewrapSummary> {
    if (!this.#ring.has(newMasterKeyId)) throw new DeviceStoreError('MASTER_KEY_UNKNOWN', `master key ${newMasterKeyId} is not in the ring`);
    const ctx = checkContext({ actor: options.actor ?? 'rewrap', ...(options.source !== undefined ? { source: options.source } : {}) });
    const batchSize = checkLimit(options.batchSize, 500, MAX_IMPORT_BATCH);
    const summary: RewrapSummary = { masterKeyId: newMasterKeyId, products: 0, devices: 0, failures: [] };
    const progress = (): void => options.onProgress?.({ products: summary.products, devices: summary.devices, failures: summary.failures.length });
    {
      // Products.
      let after = '';
      for (;;) {
        const from = after;
        const done = await this.#transaction('rewrapAll', async (trx) => {
          const rows = await trx
            .selectFrom('wxseal_products')
            .select(['product_id', 'secret_ct', 'master_key_id'])
            .where('master_key_id', '<>', newMasterKeyId)
            .where('product_id', '>', from)
            .orderBy('product_id')
            .limit(batchSize)
            .execute();
          let changed = 0;
          const now = this.#nowMs();
          for (const row of rows) {
            const ctxSeal = productSecret(row.product_id);
            let plain: Buffer;
            try {
              plain = this.#ring.open(row.master_key_id, row.secret_ct, ctxSeal);
            } catch (err) {
              summary.failures.push({ table: 'products', id: row.product_id, code: err instanceof DeviceStoreError ? err.code : 'KEY_DECRYPT_FAILED' });
              continue;
            }
            const sealed = this.#ring.seal(plain, ctxSeal, newMasterKeyId);
            plain.fill(0);
            const r = await trx
              .updateTable('wxseal_products')
              .set({ secret_ct: sealed, master_key_id: newMasterKeyId, updated_at: now })
              .where('product_id', '=', row.product_id)
              .where('master_key_id', '=', row.master_key_id)
              .executeTakeFirst();
            if (Number(r.numUpdatedRows) === 1) changed++;
            else summary.failures.push({ table: 'products', id: row.product_id, code: 'CONCURRENT_MODIFICATION' });
          }
          if (changed > 0) {
            await this.#audit(trx, { serial: null, productId: null, action: 'rewrap', ctx: { ...ctx, reason: `${changed} product secrets re-encrypted under master key ${newMasterKeyId}` }, keyVersion: null, at: now });
          }
          summary.products += changed;
          return rows.length < batchSize ? undefined : rows[rows.length - 1]?.product_id;
        });
        progress();
        if (done === undefined) break;
        after = done;
      }
      // Devices.
      after = '';
      for (;;) {
        const from = after;
        const done = await this.#transaction('rewrapAll', async (trx) => {
          const rows = await trx
            .selectFrom('wxseal_devices')
            .select(['serial', 'key_version', 'current_key_ct', 'previous_key_ct', 'master_key_id'])
            .where('master_key_id', '<>', newMasterKeyId)
            .where('serial', '>', from)
            .orderBy('serial')
            .limit(batchSize)
            .execute();
          let changed = 0;
          const now = this.#nowMs();
          for (const row of rows) {
            const version = toInt(row.key_version);
            let cur: Buffer;
            let prev: Buffer | undefined;
            try {
              cur = this.#ring.open(row.master_key_id, row.current_key_ct, current(row.serial, version));
              prev = row.previous_key_ct ? this.#ring.open(row.master_key_id, row.previous_key_ct, previous(row.serial, version)) : undefined;
            } catch (err) {
              summary.failures.push({ table: 'devices', id: row.serial, code: err instanceof DeviceStoreError ? err.code : 'KEY_DECRYPT_FAILED' });
              continue;
            }
            const curCt = this.#ring.seal(cur, current(row.serial, version), newMasterKeyId);
            const prevCt = prev ? this.#ring.seal(prev, previous(row.serial, version), newMasterKeyId) : null;
            cur.fill(0);
            prev?.fill(0);
            const r = await trx
              .updateTable('wxseal_devices')
              .set({ current_key_ct: curCt, previous_key_ct: prevCt, master_key_id: newMasterKeyId })
              .where('serial', '=', row.serial)
              .where('master_key_id', '=', row.master_key_id)
              .where('key_version', '=', version)
              .executeTakeFirst();
            if (Number(r.numUpdatedRows) === 1) changed++;
            else summary.failures.push({ table: 'devices', id: row.serial, code: 'CONCURRENT_MODIFICATION' });
          }
          if (changed > 0) {
            await this.#audit(trx, { serial: null, productId: null, action: 'rewrap', ctx: { ...ctx, reason: `${changed} device rows re-encrypted under master key ${newMasterKeyId}` }, keyVersion: null, at: now });
          }
          summary.devices += changed;
          return rows.length < batchSize ? undefined : rows[rows.length - 1]?.serial;
        });
        progress();
        if (done === undefined) break;
        after = done;
      }
    }
    return summary;
  }

  // --- internals --------------------------------------------------------------------------------

  /** One transaction; failures that are not ours become WXSEAL_KEY_STORE_UNAVAILABLE (or CONCURRENT_MODIFICATION). */
  async #transaction<T>(what: string, run: (trx: Transaction<DeviceDatabase>) => Promise<T>): Promise<T> {
    try {
      return await this.#db.transaction().execute(run);
    } catch (err) {
      throw toStoreError(what, err);
    }
  }

  #nowMs(): number {
    return Math.floor(this.#now());
  }

  async #selectDevice(trx: Transaction<DeviceDatabase>, serial: string): Promise<DeviceRow | undefined> {
    return trx
      .selectFrom('wxseal_devices')
      .select(['serial', 'product_id', 'status', 'key_version', 'current_key_ct', 'previous_key_ct', 'previous_key_not_after', 'master_key_id'])
      .where('serial', '=', serial)
      .executeTakeFirst();
  }

  /** Rotation and re-activation: new current key, optionally the old one as previous, version + 1. */
  async #replaceKey(
    trx: Transaction<DeviceDatabase>,
    row: DeviceRow,
    key: Buffer,
    graceSeconds: number,
    now: number,
    action: 'rotate' | 'reactivate',
    ctx: CheckedContext,
  ): Promise<{ keyVersion: number; extra: { previousKeyNotAfter?: number } }> {
    const version = toInt(row.key_version);
    const next = version + 1;
    let previousCt: Buffer | null = null;
    let notAfter: number | null = null;
    if (graceSeconds > 0) {
      const old = this.#ring.open(row.master_key_id, row.current_key_ct, current(row.serial, version));
      previousCt = this.#ring.seal(old, previous(row.serial, next));
      old.fill(0);
      notAfter = Math.floor(now / 1000) + graceSeconds;
    }
    const result = await trx
      .updateTable('wxseal_devices')
      .set({
        status: 'active',
        key_version: next,
        current_key_ct: this.#ring.seal(key, current(row.serial, next)),
        previous_key_ct: previousCt,
        previous_key_not_after: notAfter,
        master_key_id: this.#ring.activeId,
        ...(action === 'reactivate' ? { activated_at: now, revoked_at: null } : { rotated_at: now }),
        updated_at: now,
      })
      .where('serial', '=', row.serial)
      .where('key_version', '=', version)
      .where('status', '=', row.status)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw concurrent(row.serial);
    await this.#audit(trx, { serial: row.serial, productId: row.product_id, action, ctx, keyVersion: next, at: now });
    return { keyVersion: next, extra: notAfter === null ? {} : { previousKeyNotAfter: notAfter } };
  }

  async #audit(
    trx: Transaction<DeviceDatabase>,
    entry: { serial: string | null; productId: string | null; action: AuditAction; ctx: CheckedContext; keyVersion: number | null; at: number },
  ): Promise<void> {
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

  /** Runs a read under the read deadline; every failure that is not ours becomes WXSEAL_KEY_STORE_UNAVAILABLE. */
  async #read<T>(what: string, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(storeUnavailable(`${what} did not answer within ${this.#readTimeoutMs} ms`)), this.#readTimeoutMs);
    });
    try {
      return await Promise.race([run(), deadline]);
    } catch (err) {
      throw toStoreError(what, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async #emit(serial: string, kind: DeviceChangeKind): Promise<void> {
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

interface PendingImport {
  index: number;
  serial: string;
  productId: string;
  key: Buffer;
  generated: boolean;
}

function concurrent(serial: string): DeviceStoreError {
  return new DeviceStoreError('CONCURRENT_MODIFICATION', `device ${serial} was changed concurrently; retry`);
}

function toAuditEntry(row: {
  id: number | string | bigint;
  serial: string | null;
  product_id: string | null;
  action: AuditAction;
  actor: string;
  reason: string | null;
  source: string | null;
  key_version: number | string | bigint | null;
  at: number | string | bigint;
}): AuditEntry {
  const entry: AuditEntry = { id: toInt(row.id), action: row.action, actor: row.actor, at: toInt(row.at) };
  if (row.serial !== null) entry.serial = row.serial;
  if (row.product_id !== null) entry.productId = row.product_id;
  if (row.reason !== null) entry.reason = row.reason;
  if (row.source !== null) entry.source = row.source;
  const version = toIntOrUndefined(row.key_version);
  if (version !== undefined) entry.keyVersion = version;
  return entry;
}
