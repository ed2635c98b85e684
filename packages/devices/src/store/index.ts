/**
 * Storage layer of @wxseal/devices: the device registry over SQLite, PostgreSQL or MySQL/MariaDB,
 * with device keys and product secrets encrypted at rest under a master key ring.
 */
export type { DeviceChangeKind, DeviceKeyRecord, DeviceKeySource, DeviceStatus, DeviceStoreEvents } from './types.js';
export { DEVICE_ERRORS, DEVICE_STORE_ERROR_CODES, DeviceStoreError, isDeviceStoreError, type DeviceErrorCode, type DeviceStoreErrorCode } from './errors.js';
export { TABLES, type AuditAction, type AuditTable, type DeviceDatabase, type DevicesTable, type ProductsTable } from './schema.js';
export {
  detectDialect,
  deviceDatabaseInfo,
  openDeviceDatabase,
  type DeviceDatabaseInfo,
  type DeviceDialect,
  type OpenDeviceDatabaseOptions,
} from './database.js';
export { deviceMigrations, migrateDeviceDatabase, type MigrateDeviceDatabaseOptions, type MigrateDeviceDatabaseResult } from './migrations.js';
export {
  MASTER_KEYS_ENV,
  MASTER_KEY_BYTES,
  MASTER_KEY_FILE_ENV,
  MASTER_KEY_ID_PATTERN,
  MasterKeyRing,
  type MasterKeyRingInput,
  type SealContext,
  type SealPurpose,
} from './master-keys.js';
export {
  DEVICE_KEY_BYTES,
  DeviceRepository,
  MAX_GRACE_SECONDS,
  PRODUCT_SECRET_BYTES,
  type ActivateOptions,
  type AuditEntry,
  type AuditLogOptions,
  type ChangeContext,
  type ChangeIdRange,
  type DeviceChange,
  type DeviceChangeLog,
  type DeviceImportResult,
  type DeviceImportRow,
  type DeviceInfo,
  type DevicePage,
  type DeviceRepositoryOptions,
  type ImportOptions,
  type ImportProgress,
  type ImportSummary,
  type IssuedDeviceKey,
  type ListDevicesOptions,
  type RewrapFailure,
  type RewrapOptions,
  type RewrapSummary,
  type RotateOptions,
} from './repository.js';
