import {
  CompiledQuery,
  Kysely,
  MysqlAdapter,
  MysqlDialect,
  PostgresAdapter,
  PostgresDialect,
  SqliteAdapter,
  type DatabaseConnection,
  type MysqlPool,
  type MysqlPoolConnection,
  type MysqlQueryResult,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
  type SqliteDatabase,
} from 'kysely';
import type { Pool as PgPool, PoolClient as PgPoolClient } from 'pg';
import type { Pool as MysqlDriverPool, PoolConnection as MysqlDriverConnection } from 'mysql2';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { WxsealError } from '@wxseal/protocol';
import { redactUrl } from '@wxseal/support';
import { storeUnavailable } from './errors.js';
import { FileLockedSqliteDialect } from './sqlite-file-lock.js';
import type { DeviceDatabase } from './schema.js';

export type DeviceDialect = 'sqlite' | 'postgres' | 'mysql';

export interface OpenDeviceDatabaseOptions {
  /**
   * Bound on opening a connection and on waiting for a free pooled one (ms, default 2000). A
   * database that is down or unreachable gives WXSEAL_KEY_STORE_UNAVAILABLE within about this time.
   */
  connectTimeoutMs?: number;
  /**
   * Bound on every statement (ms, default 5000): enforced by the client (the connection is dropped
   * and the query rejects with WXSEAL_KEY_STORE_UNAVAILABLE) and, where the server supports it, by
   * the server too (PostgreSQL statement_timeout, MariaDB max_statement_time, InnoDB lock wait).
   * For SQLite it is the busy timeout (how long to wait for a lock held by another process).
   */
  queryTimeoutMs?: number;
  /** Connections per pool (PostgreSQL, MySQL/MariaDB; default 10). */
  poolSize?: number;
  /**
   * PostgreSQL only: the schema holding the tables (set as search_path on every connection; created
   * by the migrations if missing). Same as `?schema=` in the URL. Lowercase letters, digits and `_`.
   */
  schema?: string;
}

/** What openDeviceDatabase knows about a database it opened. */
export interface DeviceDatabaseInfo {
  dialect: DeviceDialect;
  /** PostgreSQL schema given by option or URL, if any. */
  schema?: string;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  /** The URL without its password, for logs. */
  displayUrl: string;
}

const infos = new WeakMap<object, DeviceDatabaseInfo>();

/** The DeviceDatabaseInfo of a Kysely instance made by openDeviceDatabase, else undefined. */
export function deviceDatabaseInfo(db: Kysely<DeviceDatabase>): DeviceDatabaseInfo | undefined {
  return infos.get(db);
}

/** The dialect of any Kysely instance (from openDeviceDatabase's record, else from its adapter). */
export function detectDialect(db: Kysely<DeviceDatabase>): DeviceDialect {
  const known = infos.get(db);
  if (known) return known.dialect;
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  throw new WxsealError('WXSEAL_CONFIG_INVALID', 'unsupported Kysely dialect: the device store works on SQLite, PostgreSQL and MySQL/MariaDB');
}

const configError = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

/**
 * The database drivers are optional peer dependencies of this package (only the one a URL names is
 * needed; @wxseal/cli brings better-sqlite3). A missing one is WXSEAL_CONFIG_INVALID naming the
 * package to install, raised when the URL is opened rather than at the first query.
 */
const DRIVERS = { sqlite: 'better-sqlite3', postgres: 'pg', mysql: 'mysql2' } as const satisfies Record<DeviceDialect, string>;

function driverMissing(dialect: DeviceDialect, cause?: unknown): WxsealError {
  const pkg = DRIVERS[dialect];
  return new WxsealError(
    'WXSEAL_CONFIG_INVALID',
    `the ${dialect === 'mysql' ? 'MySQL/MariaDB' : dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'} database needs the ${pkg} package, which is not installed: npm install ${pkg}`,
    cause === undefined ? undefined : { cause },
  );
}

function isModuleMissing(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    typeof e === 'object' && e !== null && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' && e.message.includes(`'${pkg}'`)
  );
}

/** Throws driverMissing when the dialect's driver cannot be resolved from here. */
function requireDriver(dialect: DeviceDialect): void {
  try {
    createRequire(import.meta.url).resolve(DRIVERS[dialect]);
  } catch (err) {
    throw driverMissing(dialect, err);
  }
}

/** import() of the dialect's driver; its absence is driverMissing. */
async function importDriver<T>(dialect: DeviceDialect, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw isModuleMissing(err, DRIVERS[dialect]) ? driverMissing(dialect, err) : err;
  }
}

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) configError(`${name} must be a positive number of milliseconds`);
  return Math.ceil(v);
}

/**
 * Opens the device database named by a URL and returns a Kysely instance:
 * - `sqlite:/path/to/file.db`, `sqlite:relative.db`, `sqlite::memory:` — better-sqlite3, the default
 *   for embedded use (WAL journal, foreign keys on);
 * - `postgres://user:pass@host:5432/db[?schema=name]` (or `postgresql://`) — a pg Pool;
 * - `mysql://user:pass@host:3306/db` or `mariadb://…` — a mysql2 pool.
 *
 * Every query is bounded (see OpenDeviceDatabaseOptions): a database that is down rejects with
 * WxsealError('WXSEAL_KEY_STORE_UNAVAILABLE') quickly instead of hanging. Nothing connects until the
 * first query. Run migrateDeviceDatabase() before use; call `db.destroy()` to close the pool.
 */
export function openDeviceDatabase(url: string, options: OpenDeviceDatabaseOptions = {}): Kysely<DeviceDatabase> {
  if (typeof url !== 'string' || url === '') return configError('the device database URL is empty');
  const connectTimeoutMs = positive(options.connectTimeoutMs, 2000, 'connectTimeoutMs');
  const queryTimeoutMs = positive(options.queryTimeoutMs, 5000, 'queryTimeoutMs');
  const poolSize = options.poolSize ?? 10;
  if (!Number.isSafeInteger(poolSize) || poolSize < 1) configError('poolSize must be a positive integer');

  const scheme = url.slice(0, url.indexOf(':') + 1).toLowerCase();
  let db: Kysely<DeviceDatabase>;
  let info: DeviceDatabaseInfo;
  if (scheme === 'sqlite:') {
    if (options.schema !== undefined) configError('the schema option is for PostgreSQL only');
    const path = sqlitePath(url);
    requireDriver('sqlite');
    db = new Kysely<DeviceDatabase>({ dialect: new FileLockedSqliteDialect({ database: () => openSqlite(path, queryTimeoutMs) }, path === ':memory:' ? path : resolve(path)) });
    info = { dialect: 'sqlite', connectTimeoutMs, queryTimeoutMs, displayUrl: url };
  } else if (scheme === 'postgres:' || scheme === 'postgresql:') {
    const parsed = parseUrl(url);
    const fromUrl = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    if (options.schema !== undefined && fromUrl !== undefined && options.schema !== fromUrl) {
      configError('the schema option and ?schema= in the URL differ');
    }
    const schema = options.schema ?? fromUrl;
    if (schema !== undefined && !SCHEMA_PATTERN.test(schema)) configError('a schema name is 1-63 lowercase letters, digits and _');
    const connectionString = parsed.toString();
    requireDriver('postgres');
    db = new Kysely<DeviceDatabase>({
      dialect: new PostgresDialect({
        pool: async () => {
          const pg = (await importDriver('postgres', () => import('pg'))).default;
          const pool = new pg.Pool({
            connectionString,
            max: poolSize,
            connectionTimeoutMillis: connectTimeoutMs,
            idleTimeoutMillis: 30_000,
            keepAlive: true,
            statement_timeout: queryTimeoutMs,
            idle_in_transaction_session_timeout: Math.max(60_000, queryTimeoutMs * 4),
            application_name: 'wxseal-devices',
            ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
          });
          // An idle client losing its connection (server restart) must not crash the process.
          pool.on('error', () => undefined);
          return guardPgPool(pool, queryTimeoutMs);
        },
      }),
    });
    info = { dialect: 'postgres', connectTimeoutMs, queryTimeoutMs, displayUrl: redactUrl(parsed) };
    if (schema !== undefined) info.schema = schema;
  } else if (scheme === 'mysql:' || scheme === 'mariadb:') {
    if (options.schema !== undefined) configError('the schema option is for PostgreSQL only; put the MySQL database in the URL');
    const parsed = parseUrl(url);
    for (const key of parsed.searchParams.keys()) configError(`unsupported MySQL URL parameter ${key}`);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    const lockWait = Math.max(1, Math.ceil(queryTimeoutMs / 1000));
    requireDriver('mysql');
    db = new Kysely<DeviceDatabase>({
      dialect: new MysqlDialect({
        pool: async () => {
          const { createPool } = await importDriver('mysql', () => import('mysql2'));
          const pool = createPool({
            host: parsed.hostname.replace(/^\[|\]$/g, ''),
            port: parsed.port === '' ? 3306 : Number(parsed.port),
            user: decodeURIComponent(parsed.username),
            password: decodeURIComponent(parsed.password),
            ...(database !== '' ? { database } : {}),
            charset: 'utf8mb4',
            connectionLimit: poolSize,
            maxIdle: poolSize,
            idleTimeout: 30_000,
            waitForConnections: true,
            queueLimit: 0,
            connectTimeout: connectTimeoutMs,
            enableKeepAlive: true,
            supportBigNumbers: true,
          });
          return guardMysqlPool(pool, connectTimeoutMs, queryTimeoutMs);
        },
        onCreateConnection: async (connection: DatabaseConnection) => {
          // Server-side bounds as well, best effort: MariaDB knows max_statement_time (seconds),
          // MySQL max_execution_time (ms, SELECT only). The client-side timer applies regardless.
          const seconds = (queryTimeoutMs / 1000).toFixed(3);
          try {
            await connection.executeQuery(CompiledQuery.raw(`SET SESSION innodb_lock_wait_timeout = ${lockWait}, max_statement_time = ${seconds}`));
          } catch {
            try {
              await connection.executeQuery(CompiledQuery.raw(`SET SESSION innodb_lock_wait_timeout = ${lockWait}, max_execution_time = ${queryTimeoutMs}`));
            } catch {
              // neither variable: the client-side timeout still holds
            }
          }
        },
      }),
    });
    info = { dialect: 'mysql', connectTimeoutMs, queryTimeoutMs, displayUrl: redactUrl(parsed) };
  } else {
    return configError('the device database URL must start with sqlite:, postgres://, mysql:// or mariadb://');
  }
  infos.set(db, info);
  return db;
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    return configError('the device database URL is not a valid URL');
  }
}

function sqlitePath(url: string): string {
  let rest = url.slice('sqlite:'.length);
  if (rest === ':memory:') return rest;
  if (rest.startsWith('//')) rest = rest.slice(2); // sqlite:///abs/path → /abs/path
  if (rest === '') configError('the sqlite URL names no file (use sqlite:/path/file.db or sqlite::memory:)');
  return rest;
}

async function openSqlite(path: string, busyTimeoutMs: number): Promise<SqliteDatabase> {
  const { default: Database } = await importDriver('sqlite', () => import('better-sqlite3'));
  try {
    const db = new Database(path, { timeout: busyTimeoutMs });
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    throw storeUnavailable('cannot open the SQLite database', err);
  }
}

// --- PostgreSQL: a pool whose every query is bounded ---------------------------------------------

function guardPgPool(pool: PgPool, queryTimeoutMs: number): PostgresPool {
  const wrappers = new WeakMap<PgPoolClient, PostgresPoolClient>();
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: PgPoolClient;
      try {
        // connectionTimeoutMillis bounds both a new connection and the wait for a free one.
        client = await pool.connect();
      } catch (err) {
        throw storeUnavailable('cannot connect to PostgreSQL', err);
      }
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = guardPgClient(client, queryTimeoutMs);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

function guardPgClient(client: PgPoolClient, queryTimeoutMs: number): PostgresPoolClient {
  // A checked-out client that loses its connection emits 'error'; the query rejects anyway.
  client.on('error', () => undefined);
  let dropped = false;
  const query = <R>(sqlText: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> =>
    new Promise<PostgresQueryResult<R>>((resolve, reject) => {
      if (dropped) {
        // e.g. the ROLLBACK Kysely sends after a statement timed out inside a transaction
        reject(storeUnavailable('the PostgreSQL connection was dropped after a timeout'));
        return;
      }
      const timer = setTimeout(() => {
        // The connection may be stuck (network partition): drop it rather than return it to the pool.
        dropped = true;
        client.release(new Error('wxseal: query timeout'));
        destroySocket((client as unknown as { connection?: unknown }).connection);
        reject(storeUnavailable(`PostgreSQL query timed out after ${queryTimeoutMs} ms`));
      }, queryTimeoutMs);
      client.query(sqlText, parameters as unknown[]).then(
        (result) => {
          clearTimeout(timer);
          resolve(result as unknown as PostgresQueryResult<R>);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(isConnectionError(err) ? storeUnavailable('PostgreSQL query failed', err) : err);
        },
      );
    });
  return {
    query: query as PostgresPoolClient['query'],
    release(): void {
      if (!dropped) client.release();
    },
  };
}

// --- MySQL / MariaDB: bounded acquire and bounded queries ----------------------------------------

function guardMysqlPool(pool: MysqlDriverPool, connectTimeoutMs: number, queryTimeoutMs: number): MysqlPool {
  const wrappers = new WeakMap<MysqlDriverConnection, MysqlPoolConnection>();
  return {
    getConnection(callback: (error: unknown, connection: MysqlPoolConnection) => void): void {
      let settled = false;
      // mysql2 bounds a new connection (connectTimeout) but not the wait for a free one.
      const timer = setTimeout(() => {
        settled = true;
        callback(storeUnavailable(`no MySQL connection within ${connectTimeoutMs} ms`), undefined as unknown as MysqlPoolConnection);
      }, connectTimeoutMs + 250);
      pool.getConnection((err, connection) => {
        if (settled) {
          if (!err && connection) connection.release();
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (err || !connection) {
          callback(storeUnavailable('cannot connect to MySQL', err), undefined as unknown as MysqlPoolConnection);
          return;
        }
        let wrapper = wrappers.get(connection);
        if (!wrapper) {
          wrapper = guardMysqlConnection(connection, queryTimeoutMs);
          wrappers.set(connection, wrapper);
        }
        callback(null, wrapper);
      });
    },
    end(callback: (error: unknown) => void): void {
      pool.end(callback);
    },
  };
}

function guardMysqlConnection(connection: MysqlDriverConnection, queryTimeoutMs: number): MysqlPoolConnection {
  type Callback = (error: unknown, result: MysqlQueryResult) => void;
  const raw = connection as unknown as {
    query(sqlText: string, parameters: unknown[], callback?: Callback): unknown;
  };
  let dropped = false;
  function query(sqlText: string, parameters: unknown[], callback?: Callback): unknown {
    if (!callback) return raw.query(sqlText, parameters); // streaming form, not used by the store
    if (dropped) {
      // e.g. the ROLLBACK Kysely sends after a statement timed out inside a transaction
      process.nextTick(() => callback(storeUnavailable('the MySQL connection was dropped after a timeout'), undefined as unknown as MysqlQueryResult));
      return undefined;
    }
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      dropped = true;
      // destroy() removes the connection from the pool (a later release() is then a no-op) but only
      // half-closes the socket; a peer that is gone would keep it open, so close it outright.
      connection.destroy();
      destroySocket(connection);
      callback(storeUnavailable(`MySQL query timed out after ${queryTimeoutMs} ms`), undefined as unknown as MysqlQueryResult);
    }, queryTimeoutMs);
    raw.query(sqlText, parameters, (err, result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      callback(err && isConnectionError(err) ? storeUnavailable('MySQL query failed', err) : err, result);
    });
    return undefined;
  }
  return {
    query: query as MysqlPoolConnection['query'],
    release: () => connection.release(),
  };
}

/** Closes the socket under a driver connection at once (its `stream`), if it has one. */
function destroySocket(holder: unknown): void {
  const stream = (holder as { stream?: { destroy?: () => void } } | undefined)?.stream;
  if (stream && typeof stream.destroy === 'function') stream.destroy();
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57014', // query_canceled (statement_timeout)
  '08000',
  '08003',
  '08006',
  'ER_STATEMENT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
]);

/** Errors that mean "the database cannot answer now", as opposed to a refusal of the statement. */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; fatal?: unknown; errno?: unknown; message?: unknown };
  if (typeof e.code === 'string' && CONNECTION_ERROR_CODES.has(e.code)) return true;
  if (e.fatal === true) return true;
  if (e.errno === 1969 || e.errno === 3024) return true; // MariaDB / MySQL statement time exceeded
  return typeof e.message === 'string' && /Connection terminated|connection is closed|Client has encountered a connection error/i.test(e.message);
}
