// The device store behaviour suite on a real MariaDB (or MySQL) at 127.0.0.1:3306 (root, no
// password; start it with `npm run services`). Each test gets its own database, named after a
// random run id, dropped at the end, so parallel runs never collide. These tests FAIL, never skip,
// when MariaDB is not reachable.
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { sql, type Kysely } from 'kysely';
import { openDeviceDatabase, type DeviceDatabase, type OpenDeviceDatabaseOptions } from '../src/store/index.js';
import { defineStoreSuite, dumpTables, freePort, reachableOnce, silentServer, type FreshDatabase } from './store-suite.js';

const ADMIN_URL = 'mysql://root@127.0.0.1:3306/test';
const run = `wxseal_t_${randomBytes(6).toString('hex')}`;
const databases: string[] = [];
const servers: Array<{ close(): Promise<void> }> = [];

async function admin<T>(fn: (c: Connection) => Promise<T>): Promise<T> {
  const c = await createConnection({ uri: ADMIN_URL, connectTimeout: 3000 });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const ensureReachable = reachableOnce('MariaDB', ADMIN_URL, () => admin((c) => c.query('select 1')));

defineStoreSuite({
  name: 'MariaDB',
  async fresh(options: OpenDeviceDatabaseOptions = {}): Promise<FreshDatabase> {
    await ensureReachable();
    const database = `${run}_${databases.length + 1}`;
    databases.push(database);
    await admin((c) => c.query(`create database \`${database}\``));
    const url = `mysql://root@127.0.0.1:3306/${database}`;
    const db = openDeviceDatabase(url, options);
    return {
      url,
      db,
      async dump(): Promise<Buffer> {
        // Every column of every table of the database (the registry's and the migrator's).
        const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = database() order by table_name`.execute(db);
        return dumpTables(db, tables.rows.map((t) => ({ name: t.name })));
      },
    };
  },
  async unreachable(): Promise<string[]> {
    const hung = await silentServer();
    servers.push(hung);
    return [`mysql://root@127.0.0.1:${await freePort()}/test`, `mariadb://root@127.0.0.1:${hung.port}/test`];
  },
  async stalledQuery(db: Kysely<DeviceDatabase>): Promise<unknown> {
    // max_statement_time lifted for this statement: only the client-side timeout can end it.
    return sql`set statement max_statement_time = 0 for select sleep(3)`.execute(db);
  },
  async cleanup(): Promise<void> {
    for (const s of servers) await s.close();
    if (databases.length === 0) return;
    await admin(async (c) => {
      for (const database of databases) await c.query(`drop database if exists \`${database}\``);
    });
  },
});
