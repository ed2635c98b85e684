/**
 * Live counters of one gateway instance for the admin API: accepted / rejected (by code) / replays /
 * upstream errors since start, latency percentiles from a fixed log-scale histogram, and a ring of
 * 60 one-minute buckets. Every record() is O(1) and the memory is bounded.
 *
 * A snapshot is mergeable (the fleet view, fleet-stats.ts): it carries the raw histogram counts, so
 * fleet percentiles come from summed histograms (an average of percentiles means nothing), and each
 * minute bucket carries its absolute minute number, so the series of several instances add up.
 */
import { z } from 'zod';

/** The verifier's code for a nonce seen before (SPEC.md section 10). */
export const REPLAY_CODE = 'WXSEAL_REPLAYED_NONCE';
/** Length of the per-minute series. */
export const SERIES_MINUTES = 60;
// Histogram: bucket i holds durations up to MIN_MS * GROWTH^i (about 4% relative error).
const MIN_MS = 0.05;
const GROWTH = 1.08;
const BUCKETS = 240; // up to ~5 minutes; longer ones land in the last bucket
const LOG_GROWTH = Math.log(GROWTH);
// Bounds on what a snapshot read back from another instance may hold (the reason codes are a
// closed catalogue; a few hundred is far more than exist).
const MAX_CODES = 256;
const MAX_CODE_LENGTH = 100;

interface Minute {
  minute: number;
  accepted: number;
  rejected: Map<string, number>;
}

export type StatsOutcome = 'accepted' | 'rejected' | 'upstream_error' | 'other';

const count = z.number().int().nonnegative();
const codeCounts = z
  .record(z.string().max(MAX_CODE_LENGTH), count)
  .refine((r) => Object.keys(r).length <= MAX_CODES, { error: `at most ${MAX_CODES} reason codes` });

/** The shape of a snapshot (the admin API's `totals`, and what an instance writes in its heartbeat). */
export const statsSnapshotSchema = z.object({
  since: z.string().describe('ISO 8601 date-time: when counting started (the earliest instance for a fleet)'),
  accepted: count,
  rejected: codeCounts,
  replays: count,
  upstreamErrors: count,
  latencyMs: z.object({ p50: z.number(), p90: z.number(), p99: z.number() }),
  latencyHistogram: z
    .object({
      minMs: z.number().positive(),
      growth: z.number().gt(1),
      counts: z.array(count).max(BUCKETS).describe('counts[i]: requests that took at most minMs * growth^i ms (the last bucket holds all longer ones); trailing zeros dropped'),
    })
    .describe('the raw latency histogram, so percentiles of several instances come from summed counts'),
  series: z
    .array(
      z.object({
        t: z.string().describe('ISO 8601 date-time: start of the minute'),
        minute: z.number().int().describe('minutes since the Unix epoch (t as a number): buckets of several instances add up by it'),
        accepted: count,
        rejected: codeCounts,
      }),
    )
    .max(4 * SERIES_MINUTES),
});

export type StatsSnapshot = z.output<typeof statsSnapshotSchema>;
export type StatsBucket = StatsSnapshot['series'][number];

/** Where a stats view gets its own counters: one process's LiveStats, or the workers of one gateway merged (workers.ts). */
export interface StatsSource {
  snapshot(): StatsSnapshot | Promise<StatsSnapshot>;
}

export class LiveStats {
  readonly #since: number;
  #accepted = 0;
  readonly #rejected = new Map<string, number>();
  #replays = 0;
  #upstreamErrors = 0;
  readonly #latency = new Float64Array(BUCKETS);
  readonly #ring: Minute[] = Array.from({ length: SERIES_MINUTES }, () => ({ minute: -1, accepted: 0, rejected: new Map() }));

  constructor(private readonly now: () => number) {
    this.#since = now();
  }

  record(outcome: StatsOutcome, code: string | undefined, durationMs: number): void {
    const minute = Math.floor(this.now() / 60_000);
    const slot = this.#ring[minute % SERIES_MINUTES]!;
    if (slot.minute !== minute) {
      slot.minute = minute;
      slot.accepted = 0;
      slot.rejected.clear();
    }
    if (outcome === 'accepted') {
      this.#accepted++;
      slot.accepted++;
    } else if (outcome === 'rejected') {
      const c = code ?? 'UNKNOWN';
      this.#rejected.set(c, (this.#rejected.get(c) ?? 0) + 1);
      slot.rejected.set(c, (slot.rejected.get(c) ?? 0) + 1);
      if (c === REPLAY_CODE) this.#replays++;
    } else if (outcome === 'upstream_error') {
      this.#upstreamErrors++;
    }
    if (Number.isFinite(durationMs) && durationMs >= 0) {
      const i = durationMs <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(durationMs / MIN_MS) / LOG_GROWTH));
      this.#latency[i]!++;
    }
  }

  snapshot(): StatsSnapshot {
    const nowMinute = Math.floor(this.now() / 60_000);
    const series: StatsBucket[] = [];
    for (let m = nowMinute - SERIES_MINUTES + 1; m <= nowMinute; m++) {
      const slot = this.#ring[((m % SERIES_MINUTES) + SERIES_MINUTES) % SERIES_MINUTES]!;
      const live = slot.minute === m;
      series.push(bucket(m, live ? slot.accepted : 0, live ? Object.fromEntries(slot.rejected) : {}));
    }
    let last = BUCKETS;
    while (last > 0 && this.#latency[last - 1] === 0) last--;
    const counts = Array.from(this.#latency.subarray(0, last));
    return {
      since: new Date(this.#since).toISOString(),
      accepted: this.#accepted,
      rejected: Object.fromEntries(this.#rejected),
      replays: this.#replays,
      upstreamErrors: this.#upstreamErrors,
      latencyMs: percentiles(counts),
      latencyHistogram: { minMs: MIN_MS, growth: GROWTH, counts },
      series,
    };
  }
}

const bucket = (minute: number, accepted: number, rejected: Record<string, number>): StatsBucket => ({
  t: new Date(minute * 60_000).toISOString(),
  minute,
  accepted,
  rejected,
});

function percentiles(counts: readonly number[]): StatsSnapshot['latencyMs'] {
  return { p50: percentile(counts, 0.5), p90: percentile(counts, 0.9), p99: percentile(counts, 0.99) };
}

/** The upper bound (ms, 2 decimals) of the bucket holding the q-quantile; 0 without any sample. */
function percentile(counts: readonly number[], q: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  let i = 0;
  for (; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) break;
  }
  return Math.round(MIN_MS * GROWTH ** Math.min(i, BUCKETS - 1) * 100) / 100;
}

function addCodes(into: Map<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [code, n] of Object.entries(from)) into.set(code, (into.get(code) ?? 0) + n);
}

/**
 * The fleet's snapshot from its instances' ones: counters and per-code rejections summed, latency
 * percentiles from the summed histograms (a histogram of another layout, from another version, is
 * left out of the percentiles rather than mixed in), the series aligned by absolute minute over the
 * 60 minutes ending at the newest minute any instance reported (missing minutes count 0), and
 * `since` the earliest start. Pure.
 */
export function mergeStatsSnapshots(snapshots: readonly [StatsSnapshot, ...StatsSnapshot[]]): StatsSnapshot {
  const rejected = new Map<string, number>();
  const histogram: number[] = [];
  const minutes = new Map<number, { accepted: number; rejected: Map<string, number> }>();
  let since = Infinity;
  let accepted = 0;
  let replays = 0;
  let upstreamErrors = 0;
  let endMinute = -Infinity;
  for (const s of snapshots) {
    const t = Date.parse(s.since);
    if (Number.isFinite(t)) since = Math.min(since, t);
    accepted += s.accepted;
    replays += s.replays;
    upstreamErrors += s.upstreamErrors;
    addCodes(rejected, s.rejected);
    const h = s.latencyHistogram;
    if (h.minMs === MIN_MS && h.growth === GROWTH) {
      h.counts.forEach((n, i) => {
        const at = Math.min(i, BUCKETS - 1);
        while (histogram.length <= at) histogram.push(0);
        histogram[at]! += n;
      });
    }
    for (const b of s.series) {
      endMinute = Math.max(endMinute, b.minute);
      let m = minutes.get(b.minute);
      if (!m) minutes.set(b.minute, (m = { accepted: 0, rejected: new Map() }));
      m.accepted += b.accepted;
      addCodes(m.rejected, b.rejected);
    }
  }
  const counts = histogram;
  const series: StatsBucket[] = [];
  if (Number.isFinite(endMinute)) {
    for (let m = endMinute - SERIES_MINUTES + 1; m <= endMinute; m++) {
      const b = minutes.get(m);
      series.push(bucket(m, b?.accepted ?? 0, b ? Object.fromEntries(b.rejected) : {}));
    }
  }
  return {
    since: new Date(Number.isFinite(since) ? since : 0).toISOString(),
    accepted,
    rejected: Object.fromEntries(rejected),
    replays,
    upstreamErrors,
    latencyMs: percentiles(counts),
    latencyHistogram: { minMs: MIN_MS, growth: GROWTH, counts },
    series,
  };
}
