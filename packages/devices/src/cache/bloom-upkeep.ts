import type { DeviceKeySource } from '../store/types.js';
import type { BloomRebuildResult, SerialBloom } from './bloom.js';

export interface BloomUpkeepOptions {
  bloom: SerialBloom;
  source: DeviceKeySource;
  /** Interval of the periodic rebuild (±10 % jitter; 0 = never). */
  intervalMs: number;
  /** Upper bound of the random delay of rebuildSoon(). */
  soonJitterMs: number;
  /** Told about every failed rebuild (component 'bloom'). */
  report: (error: unknown) => void;
}

/**
 * Keeps the Bloom filter of known serials in step with the source: a full rebuild at start, one
 * periodically (it forgets deleted serials), and one soon after messages may have been lost (an
 * activation missing from the filter would make its device unknown until then). A failed rebuild
 * keeps the old filter.
 */
export class BloomUpkeep {
  /** Counters, read by DeviceKeyResolver.stats(). */
  readonly counts = { rebuilds: 0, errors: 0 };
  readonly #bloom: SerialBloom;
  readonly #source: DeviceKeySource;
  readonly #intervalMs: number;
  readonly #soonJitterMs: number;
  readonly #report: (error: unknown) => void;
  #periodicTimer: NodeJS.Timeout | undefined;
  #soonTimer: NodeJS.Timeout | undefined;
  /** A rebuild was asked for while one was running: run once more after it. */
  #again = false;
  #closed = false;

  constructor(options: BloomUpkeepOptions) {
    this.#bloom = options.bloom;
    this.#source = options.source;
    this.#intervalMs = options.intervalMs;
    this.#soonJitterMs = options.soonJitterMs;
    this.#report = options.report;
  }

  /** Rebuilds the filter from `source.serials()` (joins a rebuild already running); counted, reported, and rethrown. */
  async rebuild(): Promise<BloomRebuildResult> {
    try {
      const result = await this.#bloom.rebuild(this.#source.serials());
      this.counts.rebuilds++;
      return result;
    } catch (err) {
      this.counts.errors++;
      this.#report(err);
      throw err;
    }
  }

  /** Arms the periodic rebuild. */
  schedulePeriodic(): void {
    if (this.#intervalMs === 0 || this.#closed) return;
    // ±10 % jitter, so instances started together do not scan the database together.
    const delay = this.#intervalMs * (0.9 + 0.2 * Math.random());
    this.#periodicTimer = setTimeout(() => {
      void this.#backgroundRebuild().finally(() => this.schedulePeriodic());
    }, delay);
    this.#periodicTimer.unref();
  }

  /** A rebuild at a random delay, so instances that lost their subscription together do not scan the database together. */
  rebuildSoon(): void {
    if (this.#closed || this.#soonTimer) return;
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = undefined;
      void this.#backgroundRebuild();
    }, Math.random() * this.#soonJitterMs);
    this.#soonTimer.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#periodicTimer);
    clearTimeout(this.#soonTimer);
  }

  async #backgroundRebuild(): Promise<void> {
    if (this.#closed) return;
    if (this.#bloom.rebuilding) {
      // The running one may have read past serials activated since: run once more after it.
      this.#again = true;
      return;
    }
    do {
      this.#again = false;
      await this.rebuild().catch(() => undefined); // counted and reported; the old filter stays
    } while (this.#again && !this.#closed);
  }
}
