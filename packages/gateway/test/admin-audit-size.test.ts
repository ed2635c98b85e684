// A large audit log (300 000 entries, written straight to the file): the first page, a page after a
// cursor (same instance, and a fresh instance after a "restart") and a filtered page read only a
// few chunks — measured by counting the bytes through an injected reader, not by timing.
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog, type AuditLogOptions, type AuditRecord } from '../src/admin/audit.js';

const N = 300_000;
const CHUNK = 64 * 1024;
const ACTIONS = ['session.login', 'device.revoke', 'device.provision', 'credential.secret.add'];
/** Entry ids that are `certificates.refresh`: rare, so a filter on it must scan far. */
const rare = (id: number): boolean => id % 100_000 === 7;

function record(id: number): AuditRecord {
  return {
    id,
    at: new Date(1_700_000_000_000 + id * 1000).toISOString(),
    actor: id % 3 === 0 ? 'alice' : 'token',
    action: rare(id) ? 'certificates.refresh' : ACTIONS[id % ACTIONS.length]!,
    target: `SN-${String(id).padStart(8, '0')}`,
    reason: 'scheduled maintenance window',
    outcome: id % 17 === 0 ? 'refused' : 'ok',
    client: '127.0.0.1',
    ...(id % 17 === 0 ? { detail: { code: 'ADMIN_CSRF', status: 403 } } : {}),
  };
}

describe('audit log size', () => {
  let dir: string;
  let bytes = 0;
  let size = 0;
  const options: AuditLogOptions = {
    read: (fd, b, o, l, p) => {
      const n = readSync(fd, b, o, l, p);
      bytes += n;
      return n;
    },
  };
  const measure = <T>(fn: () => T): { result: T; read: number } => {
    bytes = 0;
    const result = fn();
    return { result, read: bytes };
  };
  const ids = (r: { entries: AuditRecord[] }): number[] => r.entries.map((e) => e.id);
  const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from - i);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wxseal-audit-size-'));
    const fd = openSync(join(dir, 'audit.jsonl'), 'w', 0o600);
    try {
      const batch: string[] = [];
      for (let id = 1; id <= N; id++) {
        batch.push(JSON.stringify(record(id)));
        if (batch.length === 10_000 || id === N) {
          writeSync(fd, `${batch.join('\n')}\n`);
          batch.length = 0;
        }
      }
    } finally {
      closeSync(fd);
    }
    size = statSync(join(dir, 'audit.jsonl')).size;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('first page and cursor pages read a few chunks of a 300 000-entry log', () => {
    const opened = measure(() => new AuditLog(dir, () => 0, options));
    const log = opened.result;
    try {
      assert.ok(size > 50 * 1024 * 1024, `the log is large (${size} bytes)`);
      assert.ok(opened.read <= CHUNK + 1, `opening reads the last chunk only (${opened.read} bytes)`);

      const first = measure(() => log.query({ limit: 50 }));
      assert.deepEqual(ids(first.result), range(N, 50), 'the newest 50');
      assert.equal(first.result.nextCursor, String(N - 49), 'cursor = the last id');
      assert.ok(first.read <= 2 * CHUNK, `first page: ${first.read} bytes`);

      const second = measure(() => log.query({ limit: 50, before: Number(first.result.nextCursor) }));
      assert.deepEqual(ids(second.result), range(N - 50, 50), 'the next 50');
      assert.ok(second.read <= 2 * CHUNK, `page after a cursor: ${second.read} bytes`);

      const max = measure(() => log.query({ limit: 200, before: Number(second.result.nextCursor) }));
      assert.deepEqual(ids(max.result), range(N - 100, 200), 'a 200 page');
      assert.ok(max.read <= 2 * CHUNK, `200 page after a cursor: ${max.read} bytes`);

      // a deep cursor nothing has read near yet: bisection by id, then a chunk
      const deep = measure(() => log.query({ limit: 50, before: 123_456 }));
      assert.deepEqual(ids(deep.result), range(123_455, 50), 'a deep page');
      assert.ok(deep.read <= 2 * CHUNK + 32 * 4096, `deep cursor page: ${deep.read} bytes`);
      const afterDeep = measure(() => log.query({ limit: 50, before: Number(deep.result.nextCursor) }));
      assert.deepEqual(ids(afterDeep.result), range(123_405, 50), 'the page after it');
      assert.ok(afterDeep.read <= 2 * CHUNK, `page after the deep cursor: ${afterDeep.read} bytes`);

      // appends keep the index current: new entries on top, old cursors still cheap
      const written = log.write({ actor: 'alice', action: 'session.logout', outcome: 'ok', client: '::1' });
      assert.equal(written.id, N + 1, 'ids continue');
      const top = measure(() => log.query({ limit: 2 }));
      assert.deepEqual(ids(top.result), [N + 1, N], 'the appended entry first');
      assert.ok(top.read <= CHUNK, `first page after an append: ${top.read} bytes`);
      const again = measure(() => log.query({ limit: 50, before: Number(first.result.nextCursor) }));
      assert.deepEqual(ids(again.result), range(N - 50, 50), 'an old cursor after an append');
      assert.ok(again.read <= 2 * CHUNK, `old cursor after an append: ${again.read} bytes`);

      // a filter on a rare action: bounded scan, partial page with a cursor, continuation works
      const rarePage = measure(() => log.query({ limit: 50, action: 'certificates.refresh' }));
      assert.ok(rarePage.read <= 8 * 1024 * 1024 + 2 * CHUNK, `a filtered call scans at most about 8 MiB (${rarePage.read} bytes)`);
      assert.equal(rarePage.result.entries.length, 0, 'no rare entry in the newest 8 MiB');
      assert.ok(rarePage.result.nextCursor !== undefined, 'a cursor to continue');
      const found: number[] = [];
      let cursor: string | undefined = rarePage.result.nextCursor;
      let calls = 1;
      while (cursor !== undefined) {
        const page = measure(() => log.query({ limit: 50, action: 'certificates.refresh', before: Number(cursor) }));
        assert.ok(page.read <= 8 * 1024 * 1024 + 2 * CHUNK, `each continuation is bounded too (${page.read} bytes)`);
        found.push(...ids(page.result));
        cursor = page.result.nextCursor;
        calls++;
      }
      assert.deepEqual(found, [200_007, 100_007, 7], 'every rare entry, newest first');
      assert.ok(calls >= Math.ceil(size / (8 * 1024 * 1024)), `the scan was split over calls (${calls})`);
      console.log(
        `audit size test: ${N} entries, ${size} bytes; bytes read: open ${opened.read}, first page ${first.read}, cursor page ${second.read}, ` +
          `200 page ${max.read}, deep cursor ${deep.read}, after it ${afterDeep.read}, first filtered call ${rarePage.read} (${calls} calls to exhaust)`,
      );
    } finally {
      log.close();
    }
  });

  test('a fresh instance (after a restart) continues from a cursor without scanning from the end', () => {
    const log = new AuditLog(dir, () => 0, options);
    try {
      const page = measure(() => log.query({ limit: 50, before: 250_000 }));
      assert.deepEqual(ids(page.result), range(249_999, 50), 'the page below the cursor');
      assert.ok(page.read <= 2 * CHUNK + 32 * 4096, `cursor page on a fresh instance: ${page.read} bytes`);
      console.log(`audit size test: ${N} entries, ${size} bytes; cursor page on a fresh instance read ${page.read} bytes`);
    } finally {
      log.close();
    }
  });
});
