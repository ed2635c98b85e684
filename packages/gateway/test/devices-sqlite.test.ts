// The gateway device suite on SQLite (a temp file) with the shared Redis.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineDeviceSuite } from './devices-suite.js';
import { tempDir } from '../../../tests/support/gateway.js';

let dir: string | undefined;
defineDeviceSuite('SQLite', {
  async open() {
    dir = tempDir();
    return `sqlite:${join(dir, 'devices.db')}`;
  },
  async cleanup() {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});
