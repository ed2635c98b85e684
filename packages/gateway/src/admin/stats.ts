/**
 * Live counters of one gateway instance for the admin API: accepted / rejected (by code) / replays /
 * upstream errors since start, latency percentiles from a fixed log-scale histogram, and a ring of
 * 60 one-minute buckets. Every record() is O(1) and the memory is bounded.
 */

/** The verifier's code for a nonce seen before (SPEC.md section 10). */
export const REPLAY_CODE = 'WXSEAL_REPLAYED_NONCE';
const MINUTES = 60;
// Histogram: bucket i holds durations up to MIN_MS * GROWTH^i (about 4% relative error).
const MIN_MS = 0.05;
const GROWTH = 1.08;
const BUCKETS = 240; // up to ~5 minutes; longer ones land in the last bucket
const LOG_GROWTH = Math.log(GROWTH);

interface Minute {
  minute: number;
  accepted: number;
  rejected: Map<string, number>;
}

export type StatsOutcome = 'accepted' | 'rejected' | 'upstream_error' | 'other';

export interface StatsSnapshot {
  since: string;
  accepted: number;
  rejected: Record<string, number>;
  replays: number;
  upstreamErrors: number;
  latencyMs: { p50: number; p90: number; p99: number };
  series: { t: string; accepted: number; rejected: Record<string, number> }[];
}

export class LiveStats {
  readonly #since: number;
  #accepted = 0;
  readonly #rejected = new Map<string, number>();
  #replays = 0;
  #upstreamErrors = 0;
  readonly #latency = new Float64Array(BUCKETS);
  #latencyCount = 0;
  readonly #ring: Minute[] = Array.from({ length: MINUTES }, () => ({ minute: -1, accepted: 0, rejected: new Map() }));

  constructor(private readonly now: () => number) {
    this.#since = now();
  }

  record(outcome: StatsOutcome, code: string | undefined, durationMs: number): void {
    const minute = Math.floor(this.now() / 60_000);
    const slot = this.#ring[minute % MINUTES]!;
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
      this.#latencyCount++;
    }
  }

  snapshot(): StatsSnapshot {
    const nowMinute = Math.floor(this.now() / 60_000);
    const series: StatsSnapshot['series'] = [];
    for (let m = nowMinute - MINUTES + 1; m <= nowMinute; m++) {
      const slot = this.#ring[((m % MINUTES) + MINUTES) % MINUTES]!;
      const live = slot.minute === m;
      series.push({ t: new Date(m * 60_000).toISOString(), accepted: live ? slot.accepted : 0, rejected: live ? Object.fromEntries(slot.rejected) : {} });
    }
    return {
      since: new Date(this.#since).toISOString(),
      accepted: this.#accepted,
      rejected: Object.fromEntries(this.#rejected),
      replays: this.#replays,
      upstreamErrors: this.#upstreamErrors,
      latencyMs: { p50: this.#percentile(0.5), p90: this.#percentile(0.9), p99: this.#percentile(0.99) },
      series,
    };
  }

  #percentile(q: number): number {
    if (this.#latencyCount === 0) return 0;
    const rank = Math.ceil(q * this.#latencyCount);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#latency[i]!;
      if (seen >= rank) return Math.round(MIN_MS * GROWTH ** i * 100) / 100;
    }
    return Math.round(MIN_MS * GROWTH ** (BUCKETS - 1) * 100) / 100;
  }
}
