import { Kysely } from 'kysely';
import { detectDialect, deviceDatabaseInfo, openDeviceDatabase, type DeviceDatabase, type DeviceDatabaseInfo, type DeviceDialect, type OpenDeviceDatabaseOptions } from '@wxseal/devices';
import type { ControlPlaneDatabase } from './schema.js';

export type ControlPlaneDialect = DeviceDialect;

/**
 * Opens the control-plane database named by a URL (the same URLs, options and bounds as the device
 * registry's openDeviceDatabase: `sqlite:/path/file.db`, `postgres://…[?schema=name]`,
 * `mysql://…` / `mariadb://…`). Nothing connects until the first query; every statement is bounded
 * and a database that is down rejects with WXSEAL_KEY_STORE_UNAVAILABLE. The control plane may share
 * the device database (its tables are prefixed `wxseal_cp_`). Run migrateControlPlaneDatabase()
 * before use; `db.destroy()` closes the pool.
 */
export function openControlPlaneDatabase(url: string, options: OpenDeviceDatabaseOptions = {}): Kysely<ControlPlaneDatabase> {
  // The driver set-up is the device registry's; only the table typing differs.
  return openDeviceDatabase(url, options) as unknown as Kysely<ControlPlaneDatabase>;
}

/** What openControlPlaneDatabase knows about a database it opened (dialect, schema, bounds, display URL). */
export function controlPlaneDatabaseInfo(db: Kysely<ControlPlaneDatabase>): DeviceDatabaseInfo | undefined {
  return deviceDatabaseInfo(db as unknown as Kysely<DeviceDatabase>);
}

export function dialectOf(db: Kysely<ControlPlaneDatabase>): ControlPlaneDialect {
  return detectDialect(db as unknown as Kysely<DeviceDatabase>);
}
