import { performance } from 'node:perf_hooks';
import { WxsealError } from '@wxseal/protocol';
import type { DeviceKeyResolver } from '../cache/device-key-resolver.js';
import { MAX_CHANGE_RANGES, type ChangeIdRange, type DeviceChange, type DeviceChangeLog } from '../store/change-log.js';
import type { DeviceChangeKind } from '../store/types.js';

/** What the feed drives: DeviceKeyResolver, or anything with the same four methods. */
export type DeviceChangeTarget = Pick<DeviceKeyResolver, 'applyChange' | 'guardFreshness' | 'flushL1' | 'rebuildBloom'>;

export interface DeviceChangeFeedOptions {
  /** The change log (a DeviceRepository on the shared database). */
  log: DeviceChangeLog;
  /** Told about every change; its lookups fail closed while the feed is too stale. */
  resolver: DeviceChangeTarget;
  /** Pause between two checks (default 250 ms). */
  pollIntervalMs?: number;
  /** Past this since the last successful check, lookups must be confirmed by the source (default 5 000 ms). */
  maxStalenessMs?: number;
  /** Rows per query (default 500); a burst is read page after page in one check. */
  pageSize?: number;
  /**
   * How long an id below the highest one seen but not seen itself is looked for (default 60 000 ms).
   * Ids are assigned at insert, not at commit: a transaction holding id 41 may commit after id 42 is
   * visible. An id that never shows up (a rolled-back insert) is forgotten after this.
   */
  gapTimeoutMs?: number;
  /** Bound on the open gaps (ranges of missing ids, default 1 000); past it the oldest is dropped (reported). */
  maxGapRanges?: number;
  /** Monotonic millisecond clock (default performance.now). */
  now?: () => number;
  /** Told about every failed check (the feed retries at the next interval). */
  onError?: (error: unknown) => void;
}

export interface DeviceChangeFeedStats {
  /** Checks started / that failed. */
  checks: number;
  errors: number;
  /** Audit rows applied (rows about a device); rows found late in a gap are counted in gapsFilled too. */
  applied: number;
  gapsFilled: number;
  /** Gap ranges given up (gapTimeoutMs passed, or too many). */
  gapsExpired: number;
  /** Gauges. */
  openGaps: number;
  /** Highest audit id seen; undefined until the first successful read of the log. */
  lastId: number | undefined;
  /** Ms since the start of the last successful check (since start() before any). */
  stalenessMs: number;
  stale: boolean;
}

interface Gap extends ChangeIdRange {
  /** When the gap was first seen (feed clock). */
  since: number;
}

const KINDS: ReadonlySet<string> = new Set<DeviceChangeKind>(['activate', 'reactivate', 'rotate', 'revoke', 'import']);

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new WxsealError('WXSEAL_CONFIG_INVALID', `${name} must be a positive number`);
  return v;
}

/**
 * Every gateway runs one: it reads the device audit log (written in the same transaction as every
 * change, by whoever made it: another gateway, the CLI, any DeviceRepository) every pollIntervalMs
 * from the last id it applied, and tells the resolver about each change. That bounds how long an
 * instance can hold a stale view without any message bus (Redis pub/sub, when configured, only makes
 * it faster). It also measures that bound: staleness() is the time since the last check that
 * succeeded, and past maxStalenessMs the resolver refuses what it cannot confirm
 * (WXSEAL_CREDENTIALS_STALE, 503) until checks succeed again.
 *
 * Out-of-order commits: ids below the highest seen that were not seen are kept as gaps and asked
 * for again at every check, for gapTimeoutMs.
 */
export class DeviceChangeFeed {
  readonly pollIntervalMs: number;
  readonly maxStalenessMs: number;
  readonly pageSize: number;
  readonly gapTimeoutMs: number;
  readonly maxGapRanges: number;
  readonly #log: DeviceChangeLog;
  readonly #resolver: DeviceChangeTarget;
  readonly #now: () => number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #c = { checks: 0, errors: 0, applied: 0, gapsFilled: 0, gapsExpired: 0 };
  #lastId: number | undefined;
  #gaps: Gap[] = [];
  #lastOkAt: number | undefined;
  #startedAt: number | undefined;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: DeviceChangeFeedOptions) {
    if (!options?.log || typeof options.log.changesAfter !== 'function' || typeof options.resolver?.applyChange !== 'function') {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'DeviceChangeFeed needs { log, resolver }');
    }
    this.#log = options.log;
    this.#resolver = options.resolver;
    this.pollIntervalMs = positive(options.pollIntervalMs, 250, 'pollIntervalMs');
    this.maxStalenessMs = positive(options.maxStalenessMs, 5_000, 'maxStalenessMs');
    this.pageSize = Math.floor(positive(options.pageSize, 500, 'pageSize'));
    this.gapTimeoutMs = positive(options.gapTimeoutMs, 60_000, 'gapTimeoutMs');
    this.maxGapRanges = Math.floor(positive(options.maxGapRanges, 1_000, 'maxGapRanges'));
    this.#now = options.now ?? (() => performance.now());
    this.#onError = options.onError;
  }

  /**
   * Reads the highest audit id (the starting point: call it BEFORE the resolver's first Bloom build,
   * so nothing committed between the two is missed), installs the freshness guard on the resolver
   * and arms the checks. Never rejects: with the database down it resolves false and the checks keep
   * trying; once one succeeds, L1 is flushed and the Bloom filter rebuilt before the view counts as
   * fresh. Meanwhile lookups fail closed as soon as staleness passes maxStalenessMs.
   */
  async start(): Promise<boolean> {
    if (this.#startedAt !== undefined) return this.#lastId !== undefined;
    this.#startedAt = this.#now();
    this.#resolver.guardFreshness(() => this.staleness(), this.maxStalenessMs);
    const at = this.#now();
    this.#c.checks++;
    let ok = false;
    try {
      await this.#startFrom(await this.#log.latestChangeId(), at);
      this.#lastOkAt = at;
      ok = true;
    } catch (err) {
      this.#failed(err);
    }
    this.#schedule();
    return ok;
  }

  /** Ms since the start of the last check that succeeded (since start() before any; Infinity before start()). */
  staleness(): number {
    const since = this.#lastOkAt ?? this.#startedAt;
    return since === undefined ? Infinity : Math.max(0, this.#now() - since);
  }

  get stale(): boolean {
    return !(this.staleness() <= this.maxStalenessMs);
  }

  /** Runs a check now (joins one that is running); resolves when it is over, whatever its outcome. */
  checkNow(): Promise<void> {
    this.#running ??= this.#check().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  stats(): DeviceChangeFeedStats {
    const stalenessMs = this.staleness();
    return {
      ...this.#c,
      openGaps: this.#gaps.length,
      lastId: this.#lastId,
      stalenessMs: Number.isFinite(stalenessMs) ? Math.round(stalenessMs) : -1,
      stale: this.stale,
    };
  }

  /** Stops the checks (waits for one running). The resolver's guard stays: a closed feed is a stale one. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.checkNow().finally(() => this.#schedule());
    }, this.pollIntervalMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    // The view is confirmed as of when the check STARTED: a change committed during it may be missed.
    const at = this.#now();
    this.#c.checks++;
    try {
      if (this.#lastId === undefined) await this.#baseline(at);
      else {
        await this.#readNew(at);
        if (this.#gaps.length > 0) await this.#readGaps(at);
      }
      this.#lastOkAt = at;
    } catch (err) {
      this.#failed(err);
    }
  }

  /** First successful read after a start with the database away: what was built meanwhile may miss changes. */
  async #baseline(at: number): Promise<void> {
    const lastId = await this.#log.latestChangeId();
    this.#resolver.flushL1();
    await this.#resolver.rebuildBloom();
    await this.#startFrom(lastId, at);
  }

  /**
   * Starts after `lastId`. Ids just below it may belong to transactions still open (assigned, not
   * committed): the ids missing from the last page below it are open gaps from the start.
   */
  async #startFrom(lastId: number, at: number): Promise<void> {
    const from = Math.max(0, lastId - this.pageSize);
    const rows = lastId === 0 ? [] : await this.#log.changesAfter(from, this.pageSize);
    const gaps: Gap[] = [];
    let next = from + 1;
    for (const row of rows) {
      if (row.id > lastId) break;
      if (row.id > next) gaps.push({ from: next, to: row.id - 1, since: at });
      next = row.id + 1;
    }
    if (next <= lastId) gaps.push({ from: next, to: lastId, since: at });
    this.#gaps = gaps.slice(-this.maxGapRanges);
    this.#lastId = lastId;
  }

  async #readNew(at: number): Promise<void> {
    for (;;) {
      const rows = await this.#log.changesAfter(this.#lastId!, this.pageSize);
      for (const row of rows) {
        const last = this.#lastId!;
        if (row.id <= last) continue;
        if (row.id > last + 1) this.#addGap({ from: last + 1, to: row.id - 1, since: at });
        this.#lastId = row.id;
        this.#apply(row);
      }
      if (rows.length < this.pageSize || this.#closed) return;
    }
  }

  async #readGaps(at: number): Promise<void> {
    for (let i = 0; i < this.#gaps.length; i += MAX_CHANGE_RANGES) {
      const chunk = this.#gaps.slice(i, i + MAX_CHANGE_RANGES).map(({ from, to }) => ({ from, to }));
      for (;;) {
        const rows = await this.#log.changesWithin(chunk, this.pageSize);
        let filled = 0;
        for (const row of rows) {
          if (!this.#fillGap(row.id)) continue; // already seen (cannot happen unless ranges overlap)
          filled++;
          this.#c.gapsFilled++;
          this.#apply(row);
        }
        // A short page is the end; a full one that filled nothing would only repeat itself.
        if (rows.length < this.pageSize || filled === 0) break;
        // A full page: ask again with what is still missing in this chunk.
        chunk.splice(0, chunk.length, ...this.#gaps.slice(i, i + MAX_CHANGE_RANGES).map(({ from, to }) => ({ from, to })));
      }
    }
    // Asked once more above; a transaction open that long has timed out or rolled back.
    const before = this.#gaps.length;
    this.#gaps = this.#gaps.filter((g) => at - g.since < this.gapTimeoutMs);
    this.#c.gapsExpired += before - this.#gaps.length;
  }

  #addGap(gap: Gap): void {
    this.#gaps.push(gap);
    if (this.#gaps.length > this.maxGapRanges) {
      const dropped = this.#gaps.shift()!;
      this.#c.gapsExpired++;
      this.#report(new Error(`too many open gaps in the device change log; ids ${dropped.from}-${dropped.to} are no longer looked for`));
    }
  }

  /** Removes `id` from the gap holding it; false when no gap holds it. */
  #fillGap(id: number): boolean {
    const i = this.#gaps.findIndex((g) => g.from <= id && id <= g.to);
    if (i < 0) return false;
    const g = this.#gaps[i]!;
    const parts: Gap[] = [];
    if (g.from < id) parts.push({ from: g.from, to: id - 1, since: g.since });
    if (id < g.to) parts.push({ from: id + 1, to: g.to, since: g.since });
    this.#gaps.splice(i, 1, ...parts);
    return true;
  }

  #apply(row: DeviceChange): void {
    if (row.serial === undefined || !KINDS.has(row.action)) return; // create_product, rewrap: no key changed
    this.#c.applied++;
    this.#resolver.applyChange(row.action as DeviceChangeKind, row.serial);
  }

  #failed(err: unknown): void {
    this.#c.errors++;
    this.#report(err);
  }

  #report(err: unknown): void {
    try {
      this.#onError?.(err);
    } catch {
      // a failing logger must not stop the feed
    }
  }
}
