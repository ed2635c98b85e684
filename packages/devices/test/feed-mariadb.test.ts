// DeviceChangeFeed on a real MariaDB at 127.0.0.1:3306 (root, no password): one database per test,
// named after a random run id, dropped at the end. FAILS, never skips, without MariaDB.
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { defineFeedSuite } from './feed-suite.js';

const ADMIN_URL = 'mysql://root@127.0.0.1:3306/test';
const run = `wxseal_feed_${randomBytes(6).toString('hex')}`;
const databases: string[] = [];

async function admin(query: string): Promise<void> {
  const c = await createConnection({ uri: ADMIN_URL, connectTimeout: 3000 });
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

defineFeedSuite({
  name: 'MariaDB',
  concurrentWriters: true,
  server: { host: '127.0.0.1', port: 3306, urlVia: (url, port) => url.replace('127.0.0.1:3306', `127.0.0.1:${port}`) },
  async freshUrl() {
    const database = `${run}_${databases.length + 1}`;
    databases.push(database);
    await admin(`create database \`${database}\``);
    return `mysql://root@127.0.0.1:3306/${database}`;
  },
  async cleanup() {
    for (const database of databases) await admin(`drop database if exists \`${database}\``);
  },
});
