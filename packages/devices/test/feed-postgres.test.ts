// DeviceChangeFeed on a real PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth): one schema
// per test, named after a random run id, dropped at the end. FAILS, never skips, without PostgreSQL.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { defineFeedSuite } from './feed-suite.js';

const URL_BASE = 'postgres://postgres@127.0.0.1:5432/test';
const run = `wxseal_feed_${randomBytes(6).toString('hex')}`;
const schemas: string[] = [];

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: URL_BASE, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

defineFeedSuite({
  name: 'PostgreSQL',
  concurrentWriters: true,
  server: { host: '127.0.0.1', port: 5432, urlVia: (url, port) => url.replace('127.0.0.1:5432', `127.0.0.1:${port}`) },
  async freshUrl() {
    await admin('select 1');
    const schema = `${run}_${schemas.length + 1}`;
    schemas.push(schema);
    return `${URL_BASE}?schema=${schema}`;
  },
  async cleanup() {
    for (const schema of schemas) await admin(`drop schema if exists "${schema}" cascade`);
  },
});
