import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type RawBuilder } from 'kysely';
import { WxsealError } from '@wxseal/protocol';
import { controlPlaneDatabaseInfo, dialectOf, type ControlPlaneDialect } from './database.js';
import { unavailable } from './errors.js';
import { CP_TABLES as T, type ControlPlaneDatabase } from './schema.js';

interface Types {
  /** An id (key id, secret id, kid, user, instance id): ASCII compared byte by byte. */
  id: RawBuilder<unknown>;
  blob: RawBuilder<unknown>;
  text(n: number): RawBuilder<unknown>;
  /** Unbounded text (PEM, JSON). */
  long: RawBuilder<unknown>;
}

function typesFor(dialect: ControlPlaneDialect): Types {
  switch (dialect) {
    case 'sqlite':
      return { id: sql`text`, blob: sql`blob`, text: () => sql`text`, long: sql`text` };
    case 'postgres':
      // COLLATE "C": byte order and equality, as on SQLite and MariaDB (utf8mb4_bin).
      return { id: sql`varchar(128) collate "C"`, blob: sql`bytea`, text: (n) => sql`varchar(${sql.raw(String(n))})`, long: sql`text` };
    case 'mysql':
      return { id: sql`varchar(128)`, blob: sql`varbinary(4096)`, text: (n) => sql`varchar(${sql.raw(String(n))})`, long: sql`mediumtext` };
  }
}

function tableOptions(dialect: ControlPlaneDialect): RawBuilder<unknown> {
  return dialect === 'mysql' ? sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin` : sql``;
}

/**
 * The control plane's migrations, in code. Every statement is `if not exists`, so a migration that
 * two processes start at once on SQLite (where Kysely takes no lock) ends with the same tables; on
 * PostgreSQL and MariaDB Kysely's Migrator serializes them with an advisory lock.
 */
export function controlPlaneMigrations(dialect: ControlPlaneDialect): Record<string, Migration> {
  const t = typesFor(dialect);
  const options = tableOptions(dialect);
  const serial = (db: Kysely<unknown>, table: string, column: string) => {
    const create = db.schema.createTable(table).ifNotExists();
    return dialect === 'sqlite'
      ? create.addColumn(column, 'integer', (c) => c.primaryKey().autoIncrement())
      : dialect === 'postgres'
        ? create.addColumn(column, 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
        : create.addColumn(column, 'bigint', (c) => c.primaryKey().autoIncrement());
  };
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await serial(db, T.changes, 'seq')
          .addColumn('kind', t.text(32), (c) => c.notNull())
          .addColumn('subject', t.text(256))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('origin', t.text(128), (c) => c.notNull())
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(T.clientSecrets)
          .ifNotExists()
          .addColumn('key_id', t.id, (c) => c.notNull())
          .addColumn('secret_id', t.id, (c) => c.notNull())
          .addColumn('source', t.text(16), (c) => c.notNull())
          .addColumn('secret_ct', t.blob)
          .addColumn('master_key_id', t.text(32))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('retired_at', 'bigint')
          .addPrimaryKeyConstraint('wxseal_cp_client_secrets_pk', ['key_id', 'secret_id'])
          .addCheckConstraint('wxseal_cp_client_secrets_source_ck', sql`source in ('admin', 'config-retired')`)
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(T.serverKeys)
          .ifNotExists()
          .addColumn('kid', t.id, (c) => c.primaryKey())
          .addColumn('source', t.text(16), (c) => c.notNull())
          .addColumn('private_key_ct', t.blob)
          .addColumn('master_key_id', t.text(32))
          .addColumn('public_key_pem', t.long)
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('retired_at', 'bigint')
          .addCheckConstraint('wxseal_cp_server_keys_source_ck', sql`source in ('admin', 'config-retired')`)
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(T.settings)
          .ifNotExists()
          .addColumn('name', t.id, (c) => c.primaryKey())
          .addColumn('value', t.long, (c) => c.notNull())
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(T.adminUsers)
          .ifNotExists()
          .addColumn('user', t.id, (c) => c.primaryKey())
          .addColumn('password_hash', t.text(512), (c) => c.notNull())
          .addColumn('source', t.text(16), (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('disabled_at', 'bigint')
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(T.adminSessions)
          .ifNotExists()
          .addColumn('id_hash', sql`char(64)`, (c) => c.primaryKey())
          .addColumn('user', t.id, (c) => c.notNull())
          .addColumn('csrf', t.text(128), (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema.createIndex('wxseal_cp_admin_sessions_exp_idx').ifNotExists().on(T.adminSessions).column('expires_at').execute();

        await serial(db, T.loginFailures, 'id')
          .addColumn('client', t.id, (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema.createIndex('wxseal_cp_login_failures_idx').ifNotExists().on(T.loginFailures).columns(['client', 'at']).execute();
        await db.schema.createIndex('wxseal_cp_login_failures_at_idx').ifNotExists().on(T.loginFailures).column('at').execute();

        await serial(db, T.audit, 'id')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', t.text(128), (c) => c.notNull())
          .addColumn('action', t.text(64), (c) => c.notNull())
          .addColumn('target', t.text(256))
          .addColumn('reason', t.text(1024))
          .addColumn('outcome', t.text(16), (c) => c.notNull())
          .addColumn('client', t.text(128), (c) => c.notNull())
          .addColumn('detail_json', t.long)
          .addColumn('instance_id', t.text(128), (c) => c.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema.createIndex('wxseal_cp_audit_actor_idx').ifNotExists().on(T.audit).columns(['actor', 'id']).execute();
        await db.schema.createIndex('wxseal_cp_audit_action_idx').ifNotExists().on(T.audit).columns(['action', 'id']).execute();

        await db.schema
          .createTable(T.instances)
          .ifNotExists()
          .addColumn('instance_id', t.id, (c) => c.primaryKey())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('staleness_ms', 'bigint', (c) => c.notNull())
          .addColumn('stats_json', t.long)
          .modifyEnd(options)
          .execute();
      },
      async down(db: Kysely<unknown>): Promise<void> {
        for (const table of [T.instances, T.audit, T.loginFailures, T.adminSessions, T.adminUsers, T.settings, T.serverKeys, T.clientSecrets, T.changes]) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      },
    },
  };
}

export interface MigrateControlPlaneResult {
  /** Migrations applied by this call (empty when the database was up to date). */
  applied: string[];
}

/**
 * Brings the database up to the latest schema with Kysely's Migrator. Idempotent and safe when
 * several instances start at once (Migrator's lock on PostgreSQL/MariaDB; on SQLite a run that lost
 * the race to another process is retried and then finds the work done). Rejects with
 * WXSEAL_KEY_STORE_UNAVAILABLE when the database cannot be reached or a migration fails.
 */
export async function migrateControlPlaneDatabase(db: Kysely<ControlPlaneDatabase>): Promise<void> {
  await migrateControlPlaneDatabaseWithResult(db);
}

/** migrateControlPlaneDatabase, telling which migrations this call applied. */
export async function migrateControlPlaneDatabaseWithResult(db: Kysely<ControlPlaneDatabase>): Promise<MigrateControlPlaneResult> {
  const dialect = dialectOf(db);
  let schema: string | undefined;
  if (dialect === 'postgres') {
    schema = controlPlaneDatabaseInfo(db)?.schema;
    if (schema === undefined) {
      // Kysely's Migrator looks for its table in every schema unless told which one.
      try {
        const row = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
        schema = row.rows[0]?.schema ?? undefined;
      } catch (err) {
        throw unavailable('cannot reach the database to migrate it', err);
      }
      if (schema === undefined) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'PostgreSQL has no current schema (check search_path)');
    }
  }
  const migrations = controlPlaneMigrations(dialect);
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: T.migration,
    migrationLockTableName: T.migrationLock,
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  let lastError: unknown;
  // SQLite only: two processes may both see a migration as pending; the loser's bookkeeping insert
  // fails, and its retry finds the migration recorded.
  const attempts = dialect === 'sqlite' ? 3 : 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
    try {
      outcome = await migrator.migrateToLatest();
    } catch (err) {
      lastError = unavailable('migration failed', err);
      continue;
    }
    if (outcome.error === undefined) {
      return { applied: (outcome.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
    }
    const failed = outcome.results?.find((r) => r.status === 'Error')?.migrationName;
    lastError = unavailable(failed ? `migration ${failed} failed` : 'migration failed', outcome.error);
  }
  throw lastError;
}
