// The gateway device suite on PostgreSQL (127.0.0.1:5432, database `test`), in a schema of its
// own dropped at the end. Fails, never skips, when PostgreSQL is not reachable.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { defineDeviceSuite } from './devices-suite.js';

const URL_BASE = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `wxseal_gw_${randomBytes(6).toString('hex')}`;

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: URL_BASE, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(query);
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${URL_BASE} (${(err as Error).message}). Start it with \`npm run services\`; the gateway device tests fail rather than skip.`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

defineDeviceSuite('PostgreSQL', {
  async open() {
    await admin('select 1');
    return `${URL_BASE}?schema=${schema}`;
  },
  async cleanup() {
    await admin(`drop schema if exists "${schema}" cascade`);
  },
});
