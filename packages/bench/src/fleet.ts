/**
 * The "fleet" part of the bench (docs/fleet.md):
 *
 * 1. Propagation delay of a control-plane change. One writer (a ControlPlaneStore, as an admin API
 *    call or the CLI uses it) and three readers (ControlPlaneSync, what every gateway instance
 *    runs, each with its own connection pool) over one PostgreSQL schema. For each change the
 *    delay runs from the writer's commit (its call resolved) to each reader having applied it
 *    (read the new overlay — the work a gateway does before it swaps its state). Three ways a
 *    reader learns: a Redis message, a PostgreSQL NOTIFY, the version check alone; each with the
 *    default 250 ms poll interval. Changes are spaced by a random gap so they fall at random
 *    phases of the poll.
 * 2. The cost of the staleness check on the request path: a key lookup through the gateway's
 *    StalenessGuard against the same lookup without it, in-process, best of several rounds.
 */
import { randomBytes } from 'node:crypto';
import {
  ControlPlaneStore,
  ControlPlaneSync,
  migrateControlPlaneDatabase,
  openControlPlaneDatabase,
  redisChangeNotifier,
  type ChangeNotifier,
} from '@wxseal/control-plane';
import { MasterKeyRing } from '@wxseal/devices';
import { StalenessGuard } from '@wxseal/gateway';
import { StaticKeyResolver, type KeyResolver } from '@wxseal/server';
import type { ProgressSink } from './progress.js';

export const DEFAULT_FLEET_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const POLL_MS = 250;
const READERS = 3;
const KEY_ID = 'bench-fleet';

export type PropagationChannel = 'redis' | 'postgres' | 'poll';

export interface PropagationResult {
  channel: PropagationChannel;
  pollIntervalMs: number;
  readers: number;
  changes: number;
  /** Delays of every (change, reader) pair, ms. */
  samples: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface StalenessCheckResult {
  lookups: number;
  plainNsPerLookup: number;
  guardedNsPerLookup: number;
  /** guarded − plain, ns. */
  overheadNs: number;
}

export interface FleetBenchResult {
  status: 'ok' | 'failed';
  reason?: string;
  quick: boolean;
  database: string;
  propagation: PropagationResult[];
  staleness?: StalenessCheckResult;
  elapsedS: number;
}

export interface FleetBenchOptions {
  quick: boolean;
  /** PostgreSQL URL (a schema of its own is created and dropped). */
  databaseUrl: string;
  redisUrl: string;
  progress?: ProgressSink;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runFleetBench(options: FleetBenchOptions): Promise<FleetBenchResult> {
  const started = performance.now();
  const schema = `bench_fleet_${randomBytes(4).toString('hex')}`;
  const url = `${options.databaseUrl}${options.databaseUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  const changes = options.quick ? 20 : 100;
  const propagation: PropagationResult[] = [];
  let staleness: StalenessCheckResult | undefined;
  const admin = openControlPlaneDatabase(url, { poolSize: 2 });
  try {
    await migrateControlPlaneDatabase(admin);
    for (const channel of ['redis', 'postgres', 'poll'] as const) {
      options.progress?.live(`[fleet] propagation over ${channel === 'poll' ? 'the version check alone' : `${channel} + the version check`}: ${changes} changes × ${READERS} readers…`);
      propagation.push(await measurePropagation(url, channel, changes, options));
    }
    options.progress?.live('[fleet] staleness check cost…');
    staleness = await measureStalenessCheck(options.quick ? 200_000 : 2_000_000);
    return { status: 'ok', quick: options.quick, database: 'PostgreSQL', propagation, staleness, elapsedS: round((performance.now() - started) / 1000) };
  } catch (err) {
    return { status: 'failed', reason: err instanceof Error ? err.message : String(err), quick: options.quick, database: 'PostgreSQL', propagation, ...(staleness ? { staleness } : {}), elapsedS: round((performance.now() - started) / 1000) };
  } finally {
    await admin.schema.dropSchema(schema).ifExists().cascade().execute().catch(() => undefined);
    await admin.destroy().catch(() => undefined);
  }
}

async function measurePropagation(url: string, channel: PropagationChannel, changes: number, options: FleetBenchOptions): Promise<PropagationResult> {
  const masterKeys = MasterKeyRing.parse(`b1:${MasterKeyRing.generateKey()}`);
  const redisChannel = `wxseal-bench:fleet:${randomBytes(4).toString('hex')}`;
  const pgChannel = `wxseal_bench_${randomBytes(4).toString('hex')}`;
  const writerDb = openControlPlaneDatabase(url, { poolSize: 2 });
  const notifier: ChangeNotifier | undefined = channel === 'redis' ? redisChangeNotifier({ url: options.redisUrl, channel: redisChannel }) : undefined;
  const writer = new ControlPlaneStore({
    db: writerDb,
    masterKeys,
    now: Date.now,
    origin: 'bench-writer',
    ...(notifier ? { notifier } : {}),
    ...(channel === 'postgres' ? { postgresNotifyChannel: pgChannel } : {}),
  });
  // What each reader has applied, and when (performance.now()).
  const applied: { version: number; at: number }[] = Array.from({ length: READERS }, () => ({ version: 0, at: 0 }));
  const readers: { db: ReturnType<typeof openControlPlaneDatabase>; sync: ControlPlaneSync }[] = [];
  const delays: number[] = [];
  try {
    for (let i = 0; i < READERS; i++) {
      const db = openControlPlaneDatabase(url, { poolSize: 2 });
      const store = new ControlPlaneStore({ db, masterKeys, now: Date.now, origin: `bench-reader-${i}` });
      const sync = new ControlPlaneSync({
        db,
        pollIntervalMs: POLL_MS,
        now: Date.now,
        apply: async (version) => {
          await store.loadOverlay();
          applied[i] = { version, at: performance.now() };
        },
        ...(channel === 'redis' ? { redis: { url: options.redisUrl, channel: redisChannel } } : {}),
        ...(channel === 'postgres' ? { postgresNotify: { url, channel: pgChannel } } : {}),
      });
      readers.push({ db, sync });
      await sync.start();
    }
    // Let the subscriptions settle before the first change is timed.
    await sleep(300);
    for (let n = 0; n < changes; n++) {
      // A random gap: changes land at random phases of the readers' polls.
      await sleep(Math.random() * POLL_MS);
      const secretId = `${channel}-${n}`;
      if (n % 2 === 0) await writer.addSecret(KEY_ID, secretId, randomBytes(32));
      else await writer.retireAddedSecret(KEY_ID, `${channel}-${n - 1}`);
      const committedAt = performance.now();
      const version = await writer.version();
      const deadline = committedAt + 10_000;
      while (applied.some((a) => a.version < version)) {
        if (performance.now() > deadline) throw new Error(`a reader did not apply change ${n} within 10 s`);
        await sleep(1);
      }
      for (const a of applied) delays.push(Math.max(0, a.at - committedAt));
      if (n % 10 === 9) options.progress?.live(`[fleet] ${channel}: ${n + 1}/${changes} changes`);
    }
  } finally {
    for (const r of readers) {
      await r.sync.close().catch(() => undefined);
      await r.db.destroy().catch(() => undefined);
    }
    await notifier?.close().catch(() => undefined);
    await writerDb.destroy().catch(() => undefined);
  }
  const sorted = [...delays].sort((a, b) => a - b);
  return {
    channel,
    pollIntervalMs: POLL_MS,
    readers: READERS,
    changes,
    samples: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? NaN),
    mean: round(sorted.reduce((s, d) => s + d, 0) / Math.max(1, sorted.length)),
  };
}

/** ns per lookup through `resolver`, best of `rounds`. */
async function nsPerLookup(resolver: KeyResolver, lookups: number, rounds: number): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < lookups; i++) await resolver.resolve(KEY_ID);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / lookups);
  }
  return best;
}

async function measureStalenessCheck(lookups: number): Promise<StalenessCheckResult> {
  const plain = new StaticKeyResolver([{ keyId: KEY_ID, secrets: [{ secret: randomBytes(32) }] }]);
  let confirmedAt = Date.now();
  const guarded = new StalenessGuard(plain, { stale: () => Date.now() - confirmedAt > 5_000 });
  const refresh = setInterval(() => (confirmedAt = Date.now()), 250);
  try {
    // Interleaved rounds, so a machine that drifts affects both alike.
    let p = Infinity;
    let g = Infinity;
    for (let i = 0; i < 3; i++) {
      p = Math.min(p, await nsPerLookup(plain, lookups, 1));
      g = Math.min(g, await nsPerLookup(guarded, lookups, 1));
    }
    return { lookups, plainNsPerLookup: round(p), guardedNsPerLookup: round(g), overheadNs: round(g - p) };
  } finally {
    clearInterval(refresh);
  }
}
