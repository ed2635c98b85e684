/**
 * @wxseal/control-plane — the state a gateway fleet shares, in one SQL database (SQLite for a single
 * node, PostgreSQL or MariaDB for a fleet): client secrets and server keys (sealed under the master
 * key ring), admin users and sessions, login failures, the audit log and heartbeats; and the sync
 * that applies every change on every instance within a poll interval, sooner when Redis pub/sub or
 * PostgreSQL LISTEN/NOTIFY announces it.
 */
export { CONTROL_ERRORS, ControlPlaneError, isControlPlaneError, type ControlErrorCode } from './errors.js';
export { CP_TABLES, type ChangeKind, type ControlPlaneDatabase } from './schema.js';
export { controlPlaneDatabaseInfo, openControlPlaneDatabase, type ControlPlaneDialect } from './database.js';
export { controlPlaneMigrations, migrateControlPlaneDatabase, migrateControlPlaneDatabaseWithResult, type MigrateControlPlaneResult } from './migrations.js';
export {
  ControlPlaneStore,
  isSm2PublicKeyPem,
  isSm2ServerKey,
  readChangeVersion,
  type AddedSecret,
  type AddedServerKey,
  type AuditEntryInput,
  type AuditQuery,
  type AuditRow,
  type ChangeNotifier,
  type ClientOverlay,
  type ControlPlaneStoreOptions,
  type CredentialOverlay,
  type Heartbeat,
  type InstanceRow,
  type ServerKeyMaterial,
  type Sm2ServerKey,
} from './store.js';
export { redisChangeNotifier, type RedisChangeNotifierOptions } from './redis.js';
export { ControlPlaneSync, type ControlPlaneSyncOptions, type SyncComponent } from './sync.js';
export { openControlPlane, type OpenControlPlane, type OpenControlPlaneOptions } from './tool.js';
