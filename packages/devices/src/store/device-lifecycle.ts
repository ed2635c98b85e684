import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { DeviceStoreError, isUniqueViolation, toStoreError } from './errors.js';
import { DEVICE_KEY_BYTES, callerKey, checkContext, checkGrace, checkId, type ChangeContext, type CheckedContext } from './input-rules.js';
import { META_COLUMNS, toInfo, type DeviceInfo } from './device-queries.js';
import { concurrent, currentKeySeal, previousKeySeal, type RegistryContext } from './registry-context.js';
import { toInt, type DeviceDatabase } from './schema.js';
import type { DeviceStatus } from './types.js';

/**
 * A device's life: activation (and re-activation), rotation with a grace period, revocation. Each
 * change is one transaction with its audit row, guarded by an optimistic check on key_version;
 * the change hooks run after it commits.
 */

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

/** DeviceRepository.activate(), documented there. */
export async function activate(reg: RegistryContext, serial: string, productId: string, options: ActivateOptions): Promise<IssuedDeviceKey> {
  checkId(serial, 'serial');
  checkId(productId, 'productId');
  const ctx = checkContext(options);
  const grace = checkGrace(options.graceSeconds ?? 0);
  const allow = options.allowReactivation === true;
  const key = callerKey(options.key) ?? randomBytes(DEVICE_KEY_BYTES);
  let issued: IssuedDeviceKey;
  try {
    issued = await reg.db.transaction().execute(async (trx) => {
      const product = await trx.selectFrom('wxseal_products').select('product_id').where('product_id', '=', productId).executeTakeFirst();
      if (!product) throw new DeviceStoreError('DEVICE_PRODUCT_NOT_FOUND', `product ${productId} does not exist`);
      const row = await selectDevice(trx, serial);
      const now = reg.nowMs();
      if (!row) {
        await trx
          .insertInto('wxseal_devices')
          .values(reg.newDeviceRow(serial, productId, key, now))
          .execute();
        await reg.audit(trx, { serial, productId, action: 'activate', ctx, keyVersion: 1, at: now });
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
      const out = await replaceKey(reg, trx, row, key, row.status === 'active' ? grace : 0, now, 'reactivate', ctx);
      return { serial, productId, key, keyVersion: out.keyVersion, ...out.extra, reactivated: true };
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      // Another activation of the same serial committed between our read and our insert.
      throw new DeviceStoreError(allow ? 'DEVICE_CONCURRENT_MODIFICATION' : 'DEVICE_ALREADY_ACTIVE', `device ${serial} was activated concurrently`);
    }
    throw toStoreError('activate', err);
  }
  await reg.emit(serial, issued.reactivated ? 'reactivate' : 'activate');
  return issued;
}

/** DeviceRepository.rotate(), documented there. */
export async function rotate(reg: RegistryContext, serial: string, options: RotateOptions): Promise<IssuedDeviceKey> {
  checkId(serial, 'serial');
  const ctx = checkContext(options);
  const grace = checkGrace(options?.graceSeconds);
  const key = callerKey(options.key) ?? randomBytes(DEVICE_KEY_BYTES);
  let issued: IssuedDeviceKey;
  try {
    issued = await reg.db.transaction().execute(async (trx) => {
      const row = await selectDevice(trx, serial);
      if (!row) throw new DeviceStoreError('DEVICE_NOT_FOUND', `device ${serial} does not exist`);
      if (row.status !== 'active') throw new DeviceStoreError('DEVICE_REVOKED', `device ${serial} is revoked`);
      const out = await replaceKey(reg, trx, row, key, grace, reg.nowMs(), 'rotate', ctx);
      return { serial, productId: row.product_id, key, keyVersion: out.keyVersion, ...out.extra, reactivated: false };
    });
  } catch (err) {
    throw toStoreError('rotate', err);
  }
  await reg.emit(serial, 'rotate');
  return issued;
}

/** DeviceRepository.revoke(), documented there. */
export async function revoke(reg: RegistryContext, serial: string, options: ChangeContext): Promise<DeviceInfo> {
  checkId(serial, 'serial');
  const ctx = checkContext(options);
  let info: DeviceInfo;
  try {
    info = await reg.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('wxseal_devices').select(META_COLUMNS).where('serial', '=', serial).executeTakeFirst();
      if (!row) throw new DeviceStoreError('DEVICE_NOT_FOUND', `device ${serial} does not exist`);
      if (row.status !== 'active') throw new DeviceStoreError('DEVICE_REVOKED', `device ${serial} is already revoked`);
      const version = toInt(row.key_version);
      const now = reg.nowMs();
      const changes = { status: 'revoked' as const, revoked_at: now, updated_at: now, previous_key_ct: null, previous_key_not_after: null };
      const result = await trx
        .updateTable('wxseal_devices')
        .set(changes)
        .where('serial', '=', serial)
        .where('key_version', '=', version)
        .where('status', '=', 'active')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) throw concurrent(serial);
      await reg.audit(trx, { serial, productId: row.product_id, action: 'revoke', ctx, keyVersion: version, at: now });
      return toInfo({ ...row, status: 'revoked', revoked_at: now, updated_at: now, previous_key_not_after: null });
    });
  } catch (err) {
    throw toStoreError('revoke', err);
  }
  await reg.emit(serial, 'revoke');
  return info;
}

async function selectDevice(trx: Transaction<DeviceDatabase>, serial: string): Promise<DeviceRow | undefined> {
  return trx
    .selectFrom('wxseal_devices')
    .select(['serial', 'product_id', 'status', 'key_version', 'current_key_ct', 'previous_key_ct', 'previous_key_not_after', 'master_key_id'])
    .where('serial', '=', serial)
    .executeTakeFirst();
}

/** Rotation and re-activation: new current key, optionally the old one as previous, version + 1. */
async function replaceKey(
  reg: RegistryContext,
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
    const old = reg.ring.open(row.master_key_id, row.current_key_ct, currentKeySeal(row.serial, version));
    previousCt = reg.ring.seal(old, previousKeySeal(row.serial, next));
    old.fill(0);
    notAfter = Math.floor(now / 1000) + graceSeconds;
  }
  const result = await trx
    .updateTable('wxseal_devices')
    .set({
      status: 'active',
      key_version: next,
      current_key_ct: reg.ring.seal(key, currentKeySeal(row.serial, next)),
      previous_key_ct: previousCt,
      previous_key_not_after: notAfter,
      master_key_id: reg.ring.activeId,
      ...(action === 'reactivate' ? { activated_at: now, revoked_at: null } : { rotated_at: now }),
      updated_at: now,
    })
    .where('serial', '=', row.serial)
    .where('key_version', '=', version)
    .where('status', '=', row.status)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw concurrent(row.serial);
  await reg.audit(trx, { serial: row.serial, productId: row.product_id, action, ctx, keyVersion: next, at: now });
  return { keyVersion: next, extra: notAfter === null ? {} : { previousKeyNotAfter: notAfter } };
}

