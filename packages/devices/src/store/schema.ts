import type { ColumnType, Generated } from 'kysely';

/** Table names; prefixed so the registry can share a database with the application. */
export const TABLES = {
  products: 'wxseal_products',
  devices: 'wxseal_devices',
  audit: 'wxseal_device_audit',
  migration: 'wxseal_devices_migration',
  migrationLock: 'wxseal_devices_migration_lock',
} as const;

/**
 * An integer column. Drivers differ in what they return for BIGINT (pg: a string, mysql2 and
 * better-sqlite3: a number), so reads go through toInt(); writes are plain numbers.
 */
export type IntColumn = ColumnType<number | string | bigint, number, number>;
export type NullableIntColumn = ColumnType<number | string | bigint | null, number | null, number | null>;

export interface ProductsTable {
  product_id: string;
  /** The product secret, sealed (purpose product-secret). */
  secret_ct: Buffer;
  master_key_id: string;
  /** Unix ms. */
  created_at: IntColumn;
  /** Unix ms. */
  updated_at: IntColumn;
}

export interface DevicesTable {
  serial: string;
  product_id: string;
  status: 'active' | 'revoked';
  key_version: IntColumn;
  /** The current device key, sealed (purpose device-key-current, version key_version). */
  current_key_ct: Buffer;
  /** The previous device key, sealed (purpose device-key-previous, version key_version - 1), during a grace period. */
  previous_key_ct: Buffer | null;
  /** Unix SECONDS, inclusive: the last second the previous key is accepted. */
  previous_key_not_after: NullableIntColumn;
  /** Master key that sealed both key columns. */
  master_key_id: string;
  /** Unix ms of the latest (re)activation or import. */
  activated_at: IntColumn;
  rotated_at: NullableIntColumn;
  revoked_at: NullableIntColumn;
  updated_at: IntColumn;
}

export type AuditAction = 'activate' | 'rotate' | 'revoke' | 'import' | 'rewrap' | 'reactivate' | 'create_product';

export interface AuditTable {
  id: Generated<number | string | bigint>;
  /** NULL for entries that are not about one device (create_product, rewrap). */
  serial: string | null;
  product_id: string | null;
  action: AuditAction;
  actor: string;
  reason: string | null;
  /** Source address of the request (IP, host, "cli"...). */
  source: string | null;
  /** The device's key version after the change. */
  key_version: NullableIntColumn;
  /** Unix ms. */
  at: IntColumn;
}

/** The Kysely database type of the registry. */
export interface DeviceDatabase {
  wxseal_products: ProductsTable;
  wxseal_devices: DevicesTable;
  wxseal_device_audit: AuditTable;
}

/** Reads an integer column whatever the driver returned. */
export function toInt(value: number | string | bigint): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new TypeError('integer column out of range');
  return n;
}

export function toIntOrUndefined(value: number | string | bigint | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : toInt(value);
}
