// DeviceChangeFeed on SQLite: one database file per test in a temporary directory, written and read
// through two connections (two "processes").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineFeedSuite } from './feed-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-feed-'));
let n = 0;

defineFeedSuite({
  name: 'SQLite',
  concurrentWriters: false,
  async freshUrl() {
    return `sqlite:${join(dir, `devices-${++n}.db`)}`;
  },
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
});
