// The device store behaviour suite on SQLite (better-sqlite3): one database file per test, in a
// temporary directory. The "dump" is every byte of the database files (main file, WAL, shm).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { openDeviceDatabase, type OpenDeviceDatabaseOptions } from '../src/store/index.js';
import { defineStoreSuite, type FreshDatabase } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-store-'));
let n = 0;

defineStoreSuite({
  name: 'SQLite',
  async fresh(options: OpenDeviceDatabaseOptions = {}): Promise<FreshDatabase> {
    const name = `devices-${++n}.db`;
    const url = `sqlite:${join(dir, name)}`;
    const db = openDeviceDatabase(url, options);
    return {
      url,
      db,
      async dump(): Promise<Buffer> {
        // The raw files, as a copied disk or backup would hold them (WAL and shm included).
        return Buffer.concat(readdirSync(dir).filter((f) => f.startsWith(name)).map((f) => readFileSync(join(dir, f))));
      },
    };
  },
  async unreachable(): Promise<string[]> {
    return [`sqlite:${join(dir, `missing-${randomUUID()}`, 'devices.db')}`];
  },
  async cleanup(): Promise<void> {
    rmSync(dir, { recursive: true, force: true });
  },
});
