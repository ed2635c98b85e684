// The three databases the control-plane suites run on. Each fresh() is an empty database of its
// own (a SQLite file, a PostgreSQL schema, a MariaDB database) named after a random run id and
// dropped by cleanup(), so parallel runs never share rows. PostgreSQL (127.0.0.1:5432, trust, db
// `test`) and MariaDB (127.0.0.1:3306, root) must be up (`npm run services`): these tests FAIL,
// never skip, without them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { sql, type Kysely } from 'kysely';
import { openControlPlaneDatabase, type ControlPlaneDatabase, type ControlPlaneDialect } from '../src/index.js';

export interface Target {
  name: string;
  dialect: ControlPlaneDialect;
  /** A new, empty database; returns the URL to open it with (as often as a test needs). */
  fresh(): Promise<string>;
  /** Where a TCP proxy must forward to reach this database (undefined for SQLite). */
  hostPort?: { host: string; port: number };
  cleanup(): Promise<void>;
}

const run = `wxseal_cp_t_${randomBytes(5).toString('hex')}`;

export function sqliteTarget(): Target {
  let dir: string | undefined;
  let n = 0;
  return {
    name: 'SQLite',
    dialect: 'sqlite',
    async fresh() {
      dir ??= mkdtempSync(join(tmpdir(), 'wxseal-cp-'));
      return `sqlite:${join(dir, `cp-${++n}.db`)}`;
    },
    async cleanup() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function withDb<T>(url: string, fn: (db: Kysely<ControlPlaneDatabase>) => Promise<T>): Promise<T> {
  const db = openControlPlaneDatabase(url, { connectTimeoutMs: 3000, poolSize: 1 });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

export function postgresTarget(): Target {
  const base = 'postgres://postgres@127.0.0.1:5432/test';
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    dialect: 'postgres',
    hostPort: { host: '127.0.0.1', port: 5432 },
    async fresh() {
      const schema = `${run}_${schemas.length + 1}`;
      schemas.push(schema);
      await withDb(base, (db) => sql`create schema ${sql.id(schema)}`.execute(db));
      return `${base}?schema=${schema}`;
    },
    async cleanup() {
      if (schemas.length === 0) return;
      await withDb(base, async (db) => {
        for (const s of schemas) await sql`drop schema if exists ${sql.id(s)} cascade`.execute(db);
      });
    },
  };
}

export function mariadbTarget(): Target {
  const base = 'mysql://root@127.0.0.1:3306/test';
  const databases: string[] = [];
  return {
    name: 'MariaDB',
    dialect: 'mysql',
    hostPort: { host: '127.0.0.1', port: 3306 },
    async fresh() {
      const database = `${run}_${databases.length + 1}`;
      databases.push(database);
      await withDb(base, (db) => sql`create database ${sql.id(database)}`.execute(db));
      return `mysql://root@127.0.0.1:3306/${database}`;
    },
    async cleanup() {
      if (databases.length === 0) return;
      await withDb(base, async (db) => {
        for (const d of databases) await sql`drop database if exists ${sql.id(d)}`.execute(db);
      });
    },
  };
}

/** The same URL through another host:port (a proxy). */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.host = `127.0.0.1:${port}`;
  return u.toString();
}

/**
 * A TCP proxy in front of a database that a test can cut (every connection dropped, new ones
 * refused at once) and restore: the database "goes away" without touching the shared server.
 */
export async function tcpProxy(target: { host: string; port: number }): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = createConnection(target);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    async close() {
      up = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Waits until `condition` holds, polling every few ms; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}
