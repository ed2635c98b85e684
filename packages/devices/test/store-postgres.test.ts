// The device store behaviour suite on a real PostgreSQL at 127.0.0.1:5432 (database `test`, trust
// auth; start it with `npm run services`). Each test gets its own schema, named after a random
// run id, dropped at the end, so parallel runs never collide. These tests FAIL, never skip, when
// PostgreSQL is not reachable.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { openDeviceDatabase, type DeviceDatabase, type OpenDeviceDatabaseOptions } from '../src/store/index.js';
import { defineStoreSuite, dumpTables, freePort, reachableOnce, silentServer, type FreshDatabase } from './store-suite.js';

const URL_BASE = 'postgres://postgres@127.0.0.1:5432/test';
const run = `wxseal_t_${randomBytes(6).toString('hex')}`;
const schemas: string[] = [];
const servers: Array<{ close(): Promise<void> }> = [];

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: URL_BASE, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const ensureReachable = reachableOnce('PostgreSQL', URL_BASE, () => admin((c) => c.query('select 1')));

defineStoreSuite({
  name: 'PostgreSQL',
  async fresh(options: OpenDeviceDatabaseOptions = {}): Promise<FreshDatabase> {
    await ensureReachable();
    const schema = `${run}_${schemas.length + 1}`;
    schemas.push(schema);
    const url = `${URL_BASE}?schema=${schema}`;
    const db = openDeviceDatabase(url, options);
    return {
      url,
      schema,
      db,
      async dump(): Promise<Buffer> {
        // Every column of every table of the schema (the registry's and the migrator's).
        const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = ${schema} order by table_name`.execute(db);
        return dumpTables(db, tables.rows.map((t) => ({ schema, name: t.name })));
      },
    };
  },
  async unreachable(): Promise<string[]> {
    const hung = await silentServer();
    servers.push(hung);
    return [`postgres://postgres@127.0.0.1:${await freePort()}/test`, `postgres://postgres@127.0.0.1:${hung.port}/test`];
  },
  async stalledQuery(db: Kysely<DeviceDatabase>): Promise<unknown> {
    // statement_timeout lifted for this transaction: only the client-side timeout can end it.
    return db.transaction().execute(async (trx) => {
      await sql`set local statement_timeout = 0`.execute(trx);
      return sql`select pg_sleep(3)`.execute(trx);
    });
  },
  async cleanup(): Promise<void> {
    for (const s of servers) await s.close();
    if (schemas.length === 0) return;
    await admin(async (c) => {
      for (const schema of schemas) await c.query(`drop schema if exists "${schema}" cascade`);
    });
  },
});
