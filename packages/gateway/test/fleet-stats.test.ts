// The fleet view of the admin stats: snapshots merge by sums, per-code rejections, summed latency
// histograms (not averaged percentiles) and minute-aligned series; FleetStats counts the live
// instances, uses this instance's live counters, shows one instance on demand, and degrades to the
// local view with a reason when the directory fails or hangs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdminError } from '../src/admin/http.js';
import { FleetStats, fleetStatsFor, type InstanceDirectory, type InstanceRow } from '../src/admin/fleet-stats.js';
import { LiveStats, SERIES_MINUTES, mergeStatsSnapshots, statsSnapshotSchema, type StatsSnapshot } from '../src/admin/stats.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 5, 21, 0, 0);

/** A LiveStats on a clock the test moves. */
function stats(startAt: number): { live: LiveStats; clock: { t: number } } {
  const clock = { t: startAt };
  return { live: new LiveStats(() => clock.t), clock };
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

describe('LiveStats snapshot', () => {
  test('carries the raw histogram and absolute minutes, and passes its own schema', () => {
    const { live, clock } = stats(T0);
    live.record('accepted', undefined, 2);
    clock.t += MINUTE;
    live.record('rejected', 'WXSEAL_BAD_SIGNATURE', 0.5);
    live.record('rejected', 'WXSEAL_REPLAYED_NONCE', 0.5);
    const s = live.snapshot();
    assert.ok(statsSnapshotSchema.safeParse(s).success);
    assert.equal(s.series.length, SERIES_MINUTES);
    const last = s.series.at(-1)!;
    assert.equal(last.minute, Math.floor(clock.t / MINUTE));
    assert.equal(Date.parse(last.t), last.minute * MINUTE);
    assert.deepEqual(last.rejected, { WXSEAL_BAD_SIGNATURE: 1, WXSEAL_REPLAYED_NONCE: 1 });
    assert.equal(s.series.at(-2)!.accepted, 1);
    assert.equal(s.latencyHistogram.counts.reduce((a, b) => a + b, 0), 3, 'every duration in the histogram');
    assert.notEqual(s.latencyHistogram.counts.at(-1), 0, 'trailing zeros dropped');
    assert.equal(s.replays, 1);
  });
});

describe('mergeStatsSnapshots', () => {
  test('sums counters and per-code rejections; since is the earliest start', () => {
    const a = stats(T0 + 5_000);
    const b = stats(T0);
    a.live.record('accepted', undefined, 1);
    a.live.record('accepted', undefined, 1);
    a.live.record('rejected', 'WXSEAL_BAD_SIGNATURE', 1);
    a.live.record('upstream_error', undefined, 1);
    b.live.record('accepted', undefined, 1);
    b.live.record('rejected', 'WXSEAL_BAD_SIGNATURE', 1);
    b.live.record('rejected', 'WXSEAL_REPLAYED_NONCE', 1);
    b.live.record('rejected', 'WXSEAL_REPLAYED_NONCE', 1);
    b.live.record('upstream_error', undefined, 1);
    b.live.record('upstream_error', undefined, 1);
    const m = mergeStatsSnapshots([a.live.snapshot(), b.live.snapshot()]);
    assert.equal(m.accepted, 3);
    assert.deepEqual(m.rejected, { WXSEAL_BAD_SIGNATURE: 2, WXSEAL_REPLAYED_NONCE: 2 });
    assert.equal(m.replays, 2);
    assert.equal(m.upstreamErrors, 3);
    assert.equal(m.since, new Date(T0).toISOString());
    assert.ok(statsSnapshotSchema.safeParse(m).success);
  });

  test('percentiles come from the summed histograms, not from averaged percentiles', () => {
    // 90 fast requests on one instance, 10 slow ones on the other: the fleet p50 is fast, its p99
    // slow. Averaging the two instances' p50s would give about (1 + 100) / 2 ms, a latency no request had.
    const fast = stats(T0);
    const slow = stats(T0);
    for (let i = 0; i < 90; i++) fast.live.record('accepted', undefined, 1);
    for (let i = 0; i < 10; i++) slow.live.record('accepted', undefined, 100);
    const fs = fast.live.snapshot();
    const ss = slow.live.snapshot();
    const m = mergeStatsSnapshots([fs, ss]);
    assert.equal(m.latencyMs.p50, fs.latencyMs.p50);
    assert.equal(m.latencyMs.p90, fs.latencyMs.p90, 'the 90th of 100 is still a fast one');
    assert.equal(m.latencyMs.p99, ss.latencyMs.p99);
    assert.ok(m.latencyMs.p50 >= 0.96 && m.latencyMs.p50 <= 1.08, `p50 ≈ 1 ms: ${m.latencyMs.p50}`);
    assert.ok(m.latencyMs.p99 >= 96 && m.latencyMs.p99 <= 108, `p99 ≈ 100 ms: ${m.latencyMs.p99}`);
    // The merged histogram is the element-wise sum.
    const len = Math.max(fs.latencyHistogram.counts.length, ss.latencyHistogram.counts.length);
    const expected = Array.from({ length: len }, (_, i) => (fs.latencyHistogram.counts[i] ?? 0) + (ss.latencyHistogram.counts[i] ?? 0));
    assert.deepEqual(m.latencyHistogram.counts, expected);
    // A single instance merged alone keeps its own percentiles.
    assert.deepEqual(mergeStatsSnapshots([ss]).latencyMs, ss.latencyMs);
  });

  test('a histogram of another layout is left out of the percentiles, its counters still add up', () => {
    const a = stats(T0);
    for (let i = 0; i < 5; i++) a.live.record('accepted', undefined, 1);
    const foreign: StatsSnapshot = { ...a.live.snapshot(), latencyHistogram: { minMs: 0.1, growth: 2, counts: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 500] } };
    const m = mergeStatsSnapshots([a.live.snapshot(), foreign]);
    assert.equal(m.accepted, 10);
    assert.deepEqual(m.latencyMs, a.live.snapshot().latencyMs);
  });

  test('series add up by absolute minute, over the 60 minutes ending at the newest one', () => {
    // Instance a is two minutes ahead of b (its last heartbeat is newer): the buckets of the same
    // minute add up, whatever their position in each series.
    const a = stats(T0);
    const b = stats(T0);
    a.live.record('accepted', undefined, 1); // minute T0
    b.live.record('accepted', undefined, 1); // minute T0
    b.live.record('rejected', 'WXSEAL_BAD_SIGNATURE', 1);
    a.clock.t += 2 * MINUTE;
    a.live.record('accepted', undefined, 1); // minute T0+2
    a.live.record('rejected', 'WXSEAL_TIMESTAMP_OUT_OF_WINDOW', 1);
    b.clock.t += MINUTE;
    b.live.record('accepted', undefined, 1); // minute T0+1
    const m = mergeStatsSnapshots([a.live.snapshot(), b.live.snapshot()]);
    const t0 = Math.floor(T0 / MINUTE);
    assert.equal(m.series.length, SERIES_MINUTES);
    assert.equal(m.series.at(-1)!.minute, t0 + 2, 'ends at the newest minute');
    for (let i = 1; i < m.series.length; i++) assert.equal(m.series[i]!.minute, m.series[i - 1]!.minute + 1, 'contiguous');
    const at = (minute: number) => m.series.find((x) => x.minute === minute)!;
    assert.deepEqual([at(t0).accepted, at(t0).rejected], [2, { WXSEAL_BAD_SIGNATURE: 1 }]);
    assert.deepEqual([at(t0 + 1).accepted, at(t0 + 1).rejected], [1, {}]);
    assert.deepEqual([at(t0 + 2).accepted, at(t0 + 2).rejected], [1, { WXSEAL_TIMESTAMP_OUT_OF_WINDOW: 1 }]);
    assert.equal(at(t0 + 2).t, new Date((t0 + 2) * MINUTE).toISOString());
    assert.equal(m.series.reduce((n, x) => n + x.accepted, 0), 4);
    // A minute that fell out of the newest instance's window is dropped from the fleet's too.
    const old = stats(T0 - 90 * MINUTE);
    old.live.record('accepted', undefined, 1);
    const withOld = mergeStatsSnapshots([a.live.snapshot(), old.live.snapshot()]);
    assert.equal(withOld.accepted, 3, 'still counted in the totals');
    assert.equal(withOld.series.reduce((n, x) => n + x.accepted, 0), 2, 'but not in the series');
  });
});

/** A directory the test controls. */
function directory(rows: () => InstanceRow[] | Promise<InstanceRow[]>): InstanceDirectory & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    async list(maxAgeMs) {
      calls.push(maxAgeMs);
      return rows();
    },
  };
}

describe('FleetStats', () => {
  const now = T0 + 10 * MINUTE;
  const row = (instanceId: string, accepted: number, heartbeatAgo: number, extra: Partial<InstanceRow> = {}): InstanceRow => {
    const s = stats(T0);
    s.clock.t = now - heartbeatAgo;
    for (let i = 0; i < accepted; i++) s.live.record('accepted', undefined, 2);
    s.live.record('rejected', 'WXSEAL_BAD_SIGNATURE', 1);
    return { instanceId, startedAt: T0, heartbeatAt: now - heartbeatAgo, version: 7, stalenessMs: 120, stats: s.live.snapshot(), ...extra };
  };

  test('single node: the fleet is this instance alone', async () => {
    const local = stats(T0);
    local.clock.t = now;
    local.live.record('accepted', undefined, 1);
    const f = new FleetStats({ local: local.live, instanceId: 'gw-1', directory: undefined, maxAgeMs: 6_000, now: () => now });
    const v = await f.view({});
    assert.equal(v.scope, 'fleet');
    assert.equal(v.instanceCount, 1);
    assert.deepEqual(v.totals, local.live.snapshot());
    assert.deepEqual(v.fleet, { available: true });
    assert.equal(v.instances.length, 1);
    assert.deepEqual({ ...v.instances[0]!, startedAt: 0 }, { instanceId: 'gw-1', startedAt: 0, heartbeatAt: now, heartbeatAgeMs: 0, stalenessMs: 0, version: 0, self: true, live: true, hasStats: true, accepted: 1, rejected: 0 });
  });

  test('sums the live instances with the local live counters; lists the gone ones without counting them', async () => {
    const local = stats(T0);
    local.clock.t = now;
    for (let i = 0; i < 4; i++) local.live.record('accepted', undefined, 1);
    const dir = directory(() => [
      row('gw-2', 10, 1_000),
      row('gw-3', 100, 2_000),
      row('gw-0', 1000, 60_000), // gone: no heartbeat for a minute
      // This instance's last heartbeat is old (1 accepted); its live counters (4) are what count.
      row('gw-1', 1, 500, { version: 6 }),
    ]);
    const f = new FleetStats({ local: local.live, instanceId: 'gw-1', directory: dir, maxAgeMs: 6_000, now: () => now, selfStatus: () => ({ version: 9, stalenessMs: 30 }) });
    const v = await f.view({});
    assert.equal(v.scope, 'fleet');
    assert.equal(v.instanceCount, 3);
    assert.equal(v.totals.accepted, 4 + 10 + 100);
    assert.deepEqual(v.totals.rejected, { WXSEAL_BAD_SIGNATURE: 2 });
    assert.deepEqual(
      v.instances.map((i) => [i.instanceId, i.live, i.self, i.accepted, i.heartbeatAgeMs]),
      [
        ['gw-0', false, false, 1000, 60_000],
        ['gw-1', true, true, 4, 500],
        ['gw-2', true, false, 10, 1_000],
        ['gw-3', true, false, 100, 2_000],
      ],
    );
    const self = v.instances.find((i) => i.self)!;
    assert.deepEqual([self.version, self.stalenessMs], [9, 30], 'the current status, not the heartbeat\'s');
    assert.ok(dir.calls[0]! >= 6_000, 'gone instances are asked for too');
  });

  test('?instance= gives that instance\'s snapshot; an unknown one is ADMIN_NOT_FOUND', async () => {
    const local = stats(T0);
    local.clock.t = now;
    local.live.record('accepted', undefined, 1);
    const f = new FleetStats({ local: local.live, instanceId: 'gw-1', directory: directory(() => [row('gw-2', 10, 1_000), row('gw-3', 3, 90_000)]), maxAgeMs: 6_000, now: () => now });
    const two = await f.view({ instance: 'gw-2' });
    assert.equal(two.scope, 'instance');
    assert.equal(two.instance, 'gw-2');
    assert.equal(two.totals.accepted, 10);
    assert.equal(two.instances.length, 3);
    assert.equal((await f.view({ instance: 'gw-1' })).totals.accepted, 1, 'this instance: its live counters');
    assert.equal((await f.view({ instance: 'gw-3' })).totals.accepted, 3, 'a gone instance still shows its last snapshot');
    await assert.rejects(f.view({ instance: 'gw-9' }), (err: unknown) => err instanceof AdminError && err.code === 'ADMIN_NOT_FOUND' && err.status === 404);
  });

  test('a heartbeat without a readable snapshot is listed, not counted', async () => {
    const local = stats(T0);
    local.clock.t = now;
    const bad = { ...row('gw-2', 10, 1_000), stats: { accepted: 'many' } };
    const huge = { ...row('gw-3', 10, 1_000) };
    (huge.stats as StatsSnapshot).rejected = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`CODE_${i}`, 1]));
    const f = new FleetStats({ local: local.live, instanceId: 'gw-1', directory: directory(() => [bad, huge]), maxAgeMs: 6_000, now: () => now });
    const v = await f.view({});
    assert.equal(v.instanceCount, 1);
    assert.equal(v.totals.accepted, 0);
    assert.deepEqual(v.instances.map((i) => [i.instanceId, i.hasStats]), [['gw-1', true], ['gw-2', false], ['gw-3', false]]);
    await assert.rejects(f.view({ instance: 'gw-2' }), (err: unknown) => err instanceof AdminError && err.code === 'ADMIN_UNAVAILABLE');
  });

  test('a failing directory: the local view, flagged with a short reason that leaks nothing; never a throw', async () => {
    const local = stats(T0);
    local.clock.t = now;
    local.live.record('accepted', undefined, 1);
    const errors: unknown[] = [];
    const f = new FleetStats({
      local: local.live,
      instanceId: 'gw-1',
      directory: directory(() => Promise.reject(new Error('connect ECONNREFUSED postgres://admin:hunter2@db:5432'))),
      maxAgeMs: 6_000,
      now: () => now,
      onError: (err) => errors.push(err),
    });
    const v = await f.view({});
    assert.equal(v.scope, 'fleet');
    assert.equal(v.fleet.available, false);
    assert.ok(v.fleet.reason && v.fleet.reason.length < 120, v.fleet.reason);
    assert.doesNotMatch(v.fleet.reason!, /hunter2|postgres:\/\//);
    assert.equal(v.totals.accepted, 1);
    assert.deepEqual(v.instances.map((i) => i.instanceId), ['gw-1']);
    assert.equal(errors.length, 1, 'the error goes to the log hook');
    assert.equal((await f.view({ instance: 'gw-1' })).totals.accepted, 1, 'this instance is still viewable');
    await assert.rejects(f.view({ instance: 'gw-2' }), (err: unknown) => err instanceof AdminError && err.code === 'ADMIN_UNAVAILABLE' && err.status === 503);
  });

  test('a hanging directory is cut off at timeoutMs', async () => {
    const local = stats(T0);
    local.clock.t = now;
    const f = new FleetStats({ local: local.live, instanceId: 'gw-1', directory: directory(() => new Promise<InstanceRow[]>(() => {})), maxAgeMs: 6_000, now: () => now, timeoutMs: 50 });
    const v = await f.view({});
    assert.equal(v.fleet.available, false);
    assert.match(v.fleet.reason!, /did not answer within 50 ms/);
    assert.equal(sum(v.totals.rejected), 0);
  });
});

describe('fleetStatsFor (the admin API\'s wiring)', () => {
  test('live = a heartbeat at most 3 intervals old; this instance\'s version and staleness are current ones', async () => {
    const now = T0;
    const local = stats(T0);
    const beat = (instanceId: string, ago: number): InstanceRow => ({ instanceId, startedAt: T0, heartbeatAt: now - ago, version: 3, stalenessMs: 10, stats: stats(T0).live.snapshot() });
    const dir = directory(() => [beat('gw-2', 2_900), beat('gw-3', 3_100)]);
    let staleness = Infinity;
    const f = fleetStatsFor({
      stats: local.live,
      now: () => now,
      controlPlane: { instanceId: 'gw-1', settings: { heartbeatIntervalMs: 1_000 }, store: { instances: dir }, sync: { appliedVersion: 12 }, staleness: () => staleness },
    });
    const v = await f.view({});
    assert.deepEqual(v.instances.map((i) => [i.instanceId, i.live]), [['gw-1', true], ['gw-2', true], ['gw-3', false]]);
    assert.deepEqual([v.instances[0]!.version, v.instances[0]!.stalenessMs], [12, -1], 'never confirmed is -1');
    staleness = 41.6;
    assert.equal((await f.view({})).instances[0]!.stalenessMs, 42);
    const single = await fleetStatsFor({ stats: local.live, now: () => now, controlPlane: undefined }).view({});
    assert.equal(single.instanceCount, 1);
  });
});
