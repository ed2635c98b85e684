// DeviceChangeFeed's bookkeeping of missing ids, on an in-memory change log and an injected clock:
// ids that show up late are applied, ids that never do (rolled-back inserts) are given up after
// gapTimeoutMs, ids below the starting point that were still uncommitted at start are not lost, and
// a burst larger than a page is read in one check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeviceChangeFeed, type BloomRebuildResult, type ChangeIdRange, type DeviceChange, type DeviceChangeKind, type DeviceChangeLog, type DeviceChangeTarget } from '../src/index.js';

class MemoryLog implements DeviceChangeLog {
  readonly rows = new Map<number, DeviceChange>();
  queries = 0;
  commit(id: number, serial = `S-${id}`, action: DeviceChange['action'] = 'activate'): void {
    this.rows.set(id, { id, serial, action });
  }
  #sorted(): DeviceChange[] {
    return [...this.rows.values()].sort((a, b) => a.id - b.id);
  }
  async latestChangeId(): Promise<number> {
    this.queries++;
    return Math.max(0, ...this.rows.keys());
  }
  async changesAfter(afterId: number, limit: number): Promise<DeviceChange[]> {
    this.queries++;
    return this.#sorted().filter((r) => r.id > afterId).slice(0, limit);
  }
  async changesWithin(ranges: readonly ChangeIdRange[], limit: number): Promise<DeviceChange[]> {
    this.queries++;
    return this.#sorted().filter((r) => ranges.some((g) => g.from <= r.id && r.id <= g.to)).slice(0, limit);
  }
}

class Target implements DeviceChangeTarget {
  readonly applied: Array<[DeviceChangeKind, string]> = [];
  applyChange(kind: DeviceChangeKind, serial: string): void {
    this.applied.push([kind, serial]);
  }
  guardFreshness(): void {}
  flushL1(): void {}
  async rebuildBloom(): Promise<BloomRebuildResult> {
    return { serials: 0, carriedOver: 0, durationMs: 0 };
  }
}

function setup(options: { pageSize?: number } = {}) {
  const log = new MemoryLog();
  const target = new Target();
  let ms = 0;
  const clock = { advance: (d: number) => (ms += d) };
  const feed = new DeviceChangeFeed({ log, resolver: target, pollIntervalMs: 3_600_000, gapTimeoutMs: 10_000, now: () => ms, ...options });
  return { log, target, feed, clock, serials: () => target.applied.map(([, s]) => s) };
}

test('a late id is applied; an id that never commits is given up after gapTimeoutMs', async () => {
  const { log, feed, clock, serials } = setup();
  log.commit(1);
  await feed.start();
  log.commit(3); // 2 is held by an open transaction
  log.commit(5); // 4 too
  await feed.checkNow();
  assert.deepEqual(serials(), ['S-3', 'S-5']);
  assert.equal(feed.stats().openGaps, 2);

  clock.advance(5_000);
  log.commit(2);
  await feed.checkNow();
  assert.deepEqual(serials(), ['S-3', 'S-5', 'S-2']);
  assert.equal(feed.stats().gapsFilled, 1);
  assert.equal(feed.stats().openGaps, 1);

  clock.advance(6_000); // 4 rolled back: past gapTimeoutMs it is no longer asked for
  await feed.checkNow();
  assert.equal(feed.stats().openGaps, 0);
  assert.equal(feed.stats().gapsExpired, 1);
  const queries = log.queries;
  await feed.checkNow();
  assert.equal(log.queries, queries + 1, 'no gap left: one query per check');
  await feed.close();
});

test('an id below the starting point, still uncommitted at start, is applied when it commits', async () => {
  const { log, feed, serials } = setup();
  for (const id of [1, 2, 4, 5]) log.commit(id); // 3 is open while the feed starts from MAX(id) = 5
  await feed.start();
  assert.equal(feed.stats().lastId, 5);
  assert.equal(feed.stats().openGaps, 1);
  await feed.checkNow();
  assert.deepEqual(serials(), []);
  log.commit(3, 'LATE', 'revoke');
  await feed.checkNow();
  assert.deepEqual(serials(), ['LATE']);
  await feed.close();
});

test('a burst larger than a page is read in one check; rows about no device are skipped', async () => {
  const { log, feed, target } = setup({ pageSize: 7 });
  await feed.start();
  for (let id = 1; id <= 50; id++) log.commit(id);
  log.rows.set(51, { id: 51, serial: undefined, action: 'rewrap' });
  await feed.checkNow();
  assert.equal(target.applied.length, 50);
  assert.equal(feed.stats().lastId, 51);
  assert.equal(feed.stats().applied, 50);
  await feed.close();
});
