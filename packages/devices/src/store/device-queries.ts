import { LIMITS } from '@wxseal/protocol';
import { b64uDecodeStrict, b64uEncode } from '@wxseal/protocol/primitives';
import { MAX_LIST_LIMIT, checkId, checkLimit, invalid } from './input-rules.js';
import type { RegistryContext } from './registry-context.js';
import { toInt, toIntOrUndefined, type AuditAction } from './schema.js';
import type { DeviceStatus } from './types.js';

/** The registry's metadata reads: devices and the audit log, never key material. */

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

/** Every column but the keys. */
export const META_COLUMNS = [
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

/** A row of META_COLUMNS as the API shows it. */
export function toInfo(row: {
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

/** DeviceRepository.show(), documented there. */
export async function show(reg: RegistryContext, serial: string): Promise<DeviceInfo | undefined> {
  if (typeof serial !== 'string' || !LIMITS.idPattern.test(serial)) return undefined;
  const row = await reg.read('show', () => reg.db.selectFrom('wxseal_devices').select(META_COLUMNS).where('serial', '=', serial).executeTakeFirst());
  return row && toInfo(row);
}

/** DeviceRepository.list(), documented there. */
export async function list(reg: RegistryContext, options: ListDevicesOptions = {}): Promise<DevicePage> {
  const limit = checkLimit(options.limit, 100, MAX_LIST_LIMIT);
  if (options.productId !== undefined) checkId(options.productId, 'productId');
  if (options.status !== undefined && options.status !== 'active' && options.status !== 'revoked') invalid('status must be active or revoked');
  const prefix = options.serialPrefix === undefined || options.serialPrefix === '' ? undefined : checkId(options.serialPrefix, 'serialPrefix');
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  const rows = await reg.read('list', () => {
    let q = reg.db.selectFrom('wxseal_devices').select(META_COLUMNS);
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

/** DeviceRepository.audit(), documented there. */
export async function audit(reg: RegistryContext, serial: string, options: { limit?: number } = {}): Promise<AuditEntry[]> {
  checkId(serial, 'serial');
  const limit = checkLimit(options.limit, 1000, 10_000);
  const rows = await reg.read('audit', () =>
    reg.db.selectFrom('wxseal_device_audit').selectAll().where('serial', '=', serial).orderBy('id').limit(limit).execute(),
  );
  return rows.map(toAuditEntry);
}

/** DeviceRepository.auditLog(), documented there. */
export async function auditLog(reg: RegistryContext, options: AuditLogOptions = {}): Promise<AuditEntry[]> {
  const limit = checkLimit(options.limit, 100, MAX_LIST_LIMIT);
  const afterId = options.afterId;
  if (afterId !== undefined && (!Number.isSafeInteger(afterId) || afterId < 0)) invalid('afterId must be a non-negative integer');
  const rows = await reg.read('auditLog', () => {
    let q = reg.db.selectFrom('wxseal_device_audit').selectAll();
    if (afterId !== undefined) q = q.where('id', '>', afterId);
    return q.orderBy('id').limit(limit).execute();
  });
  return rows.map(toAuditEntry);
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
