import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type RawBuilder } from 'kysely';
import { WxsealError } from '@wxseal/protocol';
import { detectDialect, deviceDatabaseInfo, type DeviceDialect } from './database.js';
import { storeUnavailable } from './errors.js';
import { TABLES, type DeviceDatabase } from './schema.js';

/** Column types that mean the same thing on the three databases. */
interface Types {
  /** A serial or product id: 1-64 ASCII characters, compared byte by byte. */
  id: RawBuilder<unknown>;
  /** A sealed value (61 bytes today). */
  blob: RawBuilder<unknown>;
  text(n: number): RawBuilder<unknown>;
}

function typesFor(dialect: DeviceDialect): Types {
  switch (dialect) {
    case 'sqlite':
      return { id: sql`text`, blob: sql`blob`, text: () => sql`text` };
    case 'postgres':
      // COLLATE "C": byte order and byte equality, as on SQLite and MySQL (utf8mb4_bin).
      return { id: sql`varchar(64) collate "C"`, blob: sql`bytea`, text: (n) => sql`varchar(${sql.raw(String(n))})` };
    case 'mysql':
      return { id: sql`varchar(64)`, blob: sql`varbinary(255)`, text: (n) => sql`varchar(${sql.raw(String(n))})` };
  }
}

/** MySQL/MariaDB: InnoDB, and a binary collation so `ABC` and `abc` are two serials as everywhere else. */
function tableOptions(dialect: DeviceDialect): RawBuilder<unknown> {
  return dialect === 'mysql' ? sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin` : sql``;
}

/**
 * The registry's migrations, defined in code (nothing is read from disk at run time). Names sort in
 * the order they run. Schema (version 0001):
 *
 * - wxseal_products(product_id PK, secret_ct, master_key_id, created_at, updated_at)
 * - wxseal_devices(serial PK, product_id FK, status active|revoked, key_version, current_key_ct,
 *   previous_key_ct, previous_key_not_after [Unix s], master_key_id, activated_at, rotated_at,
 *   revoked_at, updated_at [Unix ms])
 * - wxseal_device_audit(id auto-increment PK, serial, product_id, action, actor, reason, source,
 *   key_version, at [Unix ms])
 */
export function deviceMigrations(dialect: DeviceDialect): Record<string, Migration> {
  const t = typesFor(dialect);
  const options = tableOptions(dialect);
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable(TABLES.products)
          .addColumn('product_id', t.id, (c) => c.primaryKey())
          .addColumn('secret_ct', t.blob, (c) => c.notNull())
          .addColumn('master_key_id', t.text(32), (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .modifyEnd(options)
          .execute();

        await db.schema
          .createTable(TABLES.devices)
          .addColumn('serial', t.id, (c) => c.primaryKey())
          .addColumn('product_id', t.id, (c) => c.notNull())
          .addColumn('status', t.text(16), (c) => c.notNull())
          .addColumn('key_version', 'integer', (c) => c.notNull())
          .addColumn('current_key_ct', t.blob, (c) => c.notNull())
          .addColumn('previous_key_ct', t.blob)
          .addColumn('previous_key_not_after', 'bigint')
          .addColumn('master_key_id', t.text(32), (c) => c.notNull())
          .addColumn('activated_at', 'bigint', (c) => c.notNull())
          .addColumn('rotated_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addForeignKeyConstraint('wxseal_devices_product_fk', ['product_id'], TABLES.products, ['product_id'])
          .addCheckConstraint('wxseal_devices_status_ck', sql`status in ('active', 'revoked')`)
          .addCheckConstraint('wxseal_devices_version_ck', sql`key_version >= 1`)
          .modifyEnd(options)
          .execute();
        await db.schema.createIndex('wxseal_devices_product_idx').on(TABLES.devices).columns(['product_id', 'serial']).execute();

        let audit = db.schema.createTable(TABLES.audit);
        audit =
          dialect === 'sqlite'
            ? audit.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
            : dialect === 'postgres'
              ? audit.addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
              : audit.addColumn('id', 'bigint', (c) => c.primaryKey().autoIncrement());
        await audit
          .addColumn('serial', t.id)
          .addColumn('product_id', t.id)
          .addColumn('action', t.text(32), (c) => c.notNull())
          .addColumn('actor', t.text(128), (c) => c.notNull())
          .addColumn('reason', t.text(512))
          .addColumn('source', t.text(128))
          .addColumn('key_version', 'integer')
          .addColumn('at', 'bigint', (c) => c.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema.createIndex('wxseal_device_audit_serial_idx').on(TABLES.audit).columns(['serial', 'id']).execute();
      },
      async down(db: Kysely<unknown>): Promise<void> {
        await db.schema.dropTable(TABLES.audit).execute();
        await db.schema.dropTable(TABLES.devices).execute();
        await db.schema.dropTable(TABLES.products).execute();
      },
    },
  };
}

export interface MigrateDeviceDatabaseOptions {
  /** Needed only for a Kysely instance not made by openDeviceDatabase whose adapter is unusual. */
  dialect?: DeviceDialect;
  /**
   * PostgreSQL: the schema of the migration bookkeeping tables. Default: the schema given to
   * openDeviceDatabase, else current_schema().
   */
  schema?: string;
}

export interface MigrateDeviceDatabaseResult {
  /** Migrations applied by this call (empty when the database was up to date). */
  applied: string[];
}

/**
 * Brings the database up to the latest schema with Kysely's Migrator (which takes a lock, so
 * several instances starting at once are safe). Idempotent. Rejects with
 * WXSEAL_KEY_STORE_UNAVAILABLE when the database cannot be reached or a migration fails.
 */
export async function migrateDeviceDatabase(db: Kysely<DeviceDatabase>, options: MigrateDeviceDatabaseOptions = {}): Promise<MigrateDeviceDatabaseResult> {
  const dialect = options.dialect ?? detectDialect(db);
  let schema: string | undefined;
  if (dialect === 'postgres') {
    schema = options.schema ?? deviceDatabaseInfo(db)?.schema;
    if (schema === undefined) {
      // Kysely's Migrator looks for its table in every schema unless told which one.
      try {
        const row = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
        schema = row.rows[0]?.schema ?? undefined;
      } catch (err) {
        throw storeUnavailable('cannot reach the database to migrate it', err);
      }
      if (schema === undefined) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'PostgreSQL has no current schema (check search_path)');
    }
  }
  const migrations = deviceMigrations(dialect);
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: TABLES.migration,
    migrationLockTableName: TABLES.migrationLock,
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  try {
    outcome = await migrator.migrateToLatest();
  } catch (err) {
    throw storeUnavailable('migration failed', err);
  }
  if (outcome.error !== undefined) {
    const failed = outcome.results?.find((r) => r.status === 'Error')?.migrationName;
    const what = failed ? `migration ${failed} failed` : 'migration failed';
    throw storeUnavailable(what, outcome.error);
  }
  return { applied: (outcome.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
