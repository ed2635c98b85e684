import type { ColumnType } from 'kysely';

/** Table names (all prefixed, so the control plane can share a database with the device registry). */
export const CP_TABLES = {
  changes: 'wxseal_cp_changes',
  clientSecrets: 'wxseal_cp_client_secrets',
  serverKeys: 'wxseal_cp_server_keys',
  settings: 'wxseal_cp_settings',
  adminUsers: 'wxseal_cp_admin_users',
  adminSessions: 'wxseal_cp_admin_sessions',
  loginFailures: 'wxseal_cp_login_failures',
  audit: 'wxseal_cp_audit',
  instances: 'wxseal_cp_instances',
  migration: 'wxseal_cp_migration',
  migrationLock: 'wxseal_cp_migration_lock',
} as const;

/**
 * BIGINT columns come back as strings from pg, as numbers (or strings past 2^53) from mysql2 and as
 * numbers from better-sqlite3: reads go through toInt(); writes are plain numbers.
 */
export type IntColumn = ColumnType<number | string | bigint, number, number>;
export type NullableIntColumn = ColumnType<number | string | bigint | null, number | null, number | null>;
export type SerialColumn = ColumnType<number | string | bigint, never, never>;
/** A sealed value: Buffer on every driver. */
export type BlobColumn = ColumnType<Uint8Array | null, Uint8Array | null, Uint8Array | null>;

export type ChangeKind = 'credentials' | 'server-keys' | 'admin-users';

export interface ChangesTable {
  seq: SerialColumn;
  kind: string;
  subject: string | null;
  at: IntColumn;
  origin: string;
}

export interface ClientSecretsTable {
  key_id: string;
  secret_id: string;
  source: 'admin' | 'config-retired';
  secret_ct: BlobColumn;
  master_key_id: string | null;
  created_at: IntColumn;
  retired_at: NullableIntColumn;
}

export interface ServerKeysTable {
  kid: string;
  source: 'admin' | 'config-retired';
  private_key_ct: BlobColumn;
  master_key_id: string | null;
  public_key_pem: string | null;
  created_at: IntColumn;
  retired_at: NullableIntColumn;
}

export interface SettingsTable {
  name: string;
  value: string;
}

export interface AdminUsersTable {
  user: string;
  password_hash: string;
  source: 'config' | 'admin';
  created_at: IntColumn;
  disabled_at: NullableIntColumn;
}

export interface AdminSessionsTable {
  id_hash: string;
  user: string;
  /**
   * The CSRF token in clear: it is handed back to the session's owner (so it cannot be a hash) and
   * is worthless without the session token, of which only the hash is stored.
   */
  csrf: string;
  created_at: IntColumn;
  expires_at: IntColumn;
}

export interface LoginFailuresTable {
  id: SerialColumn;
  client: string;
  at: IntColumn;
}

export interface AuditTable {
  id: SerialColumn;
  at: IntColumn;
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  outcome: 'ok' | 'refused' | 'failed';
  client: string;
  detail_json: string | null;
  instance_id: string;
}

export interface InstancesTable {
  instance_id: string;
  started_at: IntColumn;
  heartbeat_at: IntColumn;
  version: IntColumn;
  staleness_ms: IntColumn;
  stats_json: string | null;
}

export interface ControlPlaneDatabase {
  wxseal_cp_changes: ChangesTable;
  wxseal_cp_client_secrets: ClientSecretsTable;
  wxseal_cp_server_keys: ServerKeysTable;
  wxseal_cp_settings: SettingsTable;
  wxseal_cp_admin_users: AdminUsersTable;
  wxseal_cp_admin_sessions: AdminSessionsTable;
  wxseal_cp_login_failures: LoginFailuresTable;
  wxseal_cp_audit: AuditTable;
  wxseal_cp_instances: InstancesTable;
}

export function toInt(value: number | string | bigint): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new TypeError('integer column out of range');
  return n;
}

export function toIntOrUndefined(value: number | string | bigint | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : toInt(value);
}
