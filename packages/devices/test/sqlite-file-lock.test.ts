// Two Kysely instances on one SQLite file in one process (two stores, or the control plane beside
// the device registry) must take turns: a transaction that awaits between its statements while the
// other instance writes used to end in SQLITE_BUSY, because better-sqlite3's busy wait blocked the
// very event loop the first transaction needed to commit.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { openDeviceDatabase } from '../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-sqlite-lock-'));
const open: Kysely<unknown>[] = [];
after(async () => {
  await Promise.all(open.map((db) => db.destroy()));
  rmSync(dir, { recursive: true, force: true });
});

function openBoth(file: string, queryTimeoutMs: number): [Kysely<unknown>, Kysely<unknown>] {
  // The same file named two ways: the lock is per resolved path.
  const a = openDeviceDatabase(`sqlite:${join(dir, file)}`, { queryTimeoutMs }) as unknown as Kysely<unknown>;
  const b = openDeviceDatabase(`sqlite:${dir}/./${file}`, { queryTimeoutMs }) as unknown as Kysely<unknown>;
  open.push(a, b);
  return [a, b];
}

test('a write from a second instance waits for the first instance’s open transaction instead of failing with SQLITE_BUSY', async () => {
  const [a, b] = openBoth('turns.db', 1000);
  await sql`create table t (n integer primary key, who text not null)`.execute(a);
  const order: string[] = [];
  const first = a.transaction().execute(async (trx) => {
    await sql`insert into t (n, who) values (1, 'a')`.execute(trx);
    order.push('a wrote 1');
    // Longer than b's busy timeout: without the shared lock b's write would fail after 1 s.
    await sleep(1500);
    await sql`insert into t (n, who) values (2, 'a')`.execute(trx);
    order.push('a committing');
  });
  await sleep(20);
  const second = sql`insert into t (n, who) values (3, 'b')`.execute(b).then(() => order.push('b wrote 3'));
  await Promise.all([first, second]);
  assert.deepEqual(order, ['a wrote 1', 'a committing', 'b wrote 3']);
  const rows = await sql<{ n: number; who: string }>`select n, who from t order by n`.execute(b);
  assert.deepEqual(rows.rows, [
    { n: 1, who: 'a' },
    { n: 2, who: 'a' },
    { n: 3, who: 'b' },
  ]);
});

test('a failing transaction releases the file for the other instance; destroying one instance leaves the other working', async () => {
  const [a, b] = openBoth('release.db', 1000);
  await sql`create table t (n integer primary key)`.execute(a);
  await assert.rejects(
    a.transaction().execute(async (trx) => {
      await sql`insert into t (n) values (1)`.execute(trx);
      await sql`insert into t (n) values (1)`.execute(trx); // unique violation → rollback
    }),
    /UNIQUE/,
  );
  await sql`insert into t (n) values (2)`.execute(b);
  await a.destroy();
  await sql`insert into t (n) values (3)`.execute(b);
  assert.deepEqual((await sql<{ n: number }>`select n from t order by n`.execute(b)).rows, [{ n: 2 }, { n: 3 }]);
});
