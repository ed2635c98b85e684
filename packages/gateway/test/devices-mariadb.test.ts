// The gateway device suite on MariaDB (127.0.0.1:3306, root). openDeviceDatabase has no table
// prefix, so the run gets a database of its own, dropped at the end. Fails, never skips, when
// MariaDB is not reachable.
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { defineDeviceSuite } from './devices-suite.js';

const ADMIN_URL = 'mysql://root@127.0.0.1:3306/test';
const database = `wxseal_gw_${randomBytes(6).toString('hex')}`;

async function admin(query: string): Promise<void> {
  let c;
  try {
    c = await createConnection({ uri: ADMIN_URL, connectTimeout: 3000 });
  } catch (err) {
    throw new Error(`MariaDB is not reachable at ${ADMIN_URL} (${(err as Error).message}). Start it with \`npm run services\`; the gateway device tests fail rather than skip.`);
  }
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

defineDeviceSuite('MariaDB', {
  async open() {
    await admin(`create database \`${database}\``);
    return `mysql://root@127.0.0.1:3306/${database}`;
  },
  async cleanup() {
    await admin(`drop database if exists \`${database}\``);
  },
});
