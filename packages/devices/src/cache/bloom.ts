import { randomBytes } from 'node:crypto';
import { sipHash13String, sipKey, type SipKey } from './siphash.js';
import { withTimeout } from './timeout.js';

/** Largest bit count: positions are computed as exact doubles below 2^33 and the word index with `>>> 5`. */
export const MAX_BLOOM_BITS = 2 ** 32;

export interface BloomSize {
  /** m, the number of bits. */
  bits: number;
  /** k, the number of bit positions per item. */
  hashes: number;
  /** Memory of the bit set. */
  bytes: number;
}

/**
 * The optimal size for `expectedItems` (n) at `falsePositiveRate` (p):
 * m = -n ln p / (ln 2)^2 bits and k = (m / n) ln 2 positions per item.
 * 10 M items at 1 % → 95.9 M bits (about 12 MB), k = 7.
 */
export function bloomSize(expectedItems: number, falsePositiveRate: number): BloomSize {
  if (!Number.isSafeInteger(expectedItems) || expectedItems < 1) throw new RangeError('expectedItems must be a positive integer');
  if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) throw new RangeError('falsePositiveRate must be between 0 and 1 (exclusive)');
  const bits = Math.ceil((-expectedItems * Math.log(falsePositiveRate)) / (Math.LN2 * Math.LN2));
  if (bits > MAX_BLOOM_BITS) throw new RangeError(`a Bloom filter holds at most ${MAX_BLOOM_BITS} bits; lower expectedItems or raise falsePositiveRate`);
  const hashes = Math.max(1, Math.round((bits / expectedItems) * Math.LN2));
  return { bits, hashes, bytes: Math.ceil(bits / 32) * 4 };
}

export interface BloomFilterOptions {
  /** n: how many items the filter is sized for. */
  expectedItems: number;
  /** p: the false-positive rate wanted at n items (default 0.01). */
  falsePositiveRate?: number;
  /**
   * 16-byte SipHash key. Default: random, so every filter (hence every process, and every rebuild)
   * places items differently and nobody outside can precompute serials that pass it.
   */
  seed?: Uint8Array;
}

/**
 * A Bloom filter of strings over a Uint32Array bit set, with double hashing: the 64 bits of one
 * SipHash-1-3 give h1 and h2, and position i is (h1 + i·h2) mod m (Kirsch–Mitzenmacher: as good as
 * k independent hashes, for the price of one). No false negatives; false positives at about p.
 */
export class BloomFilter {
  readonly bits: number;
  readonly hashes: number;
  readonly expectedItems: number;
  readonly falsePositiveRate: number;
  readonly #words: Uint32Array;
  readonly #key: SipKey;
  readonly #hash = new Uint32Array(2);
  #setBits = 0;
  #count = 0;

  constructor(options: BloomFilterOptions) {
    this.expectedItems = options.expectedItems;
    this.falsePositiveRate = options.falsePositiveRate ?? 0.01;
    const size = bloomSize(this.expectedItems, this.falsePositiveRate);
    this.bits = size.bits;
    this.hashes = size.hashes;
    this.#words = new Uint32Array(size.bytes / 4);
    this.#key = sipKey(options.seed ?? randomBytes(16));
  }

  /** Memory of the bit set in bytes. */
  get byteLength(): number {
    return this.#words.byteLength;
  }

  /** Items added that set at least one new bit (duplicates are not counted, bar rare collisions). */
  get count(): number {
    return this.#count;
  }

  /** Share of bits set, kept up to date by add() (O(1), for metrics). */
  get fillRatio(): number {
    return this.#setBits / this.bits;
  }

  /** The false-positive rate the current fill gives: fillRatio^k. Rises above p once count passes n. */
  get estimatedFalsePositiveRate(): number {
    return this.fillRatio ** this.hashes;
  }

  add(item: string): void {
    sipHash13String(this.#key, item, this.#hash);
    const m = this.bits;
    const words = this.#words;
    let x = this.#hash[0]! % m;
    const step = this.#hash[1]! % m || 1;
    let fresh = false;
    for (let i = 0; i < this.hashes; i++) {
      const w = x >>> 5;
      const mask = 1 << (x & 31);
      if ((words[w]! & mask) === 0) {
        words[w] = words[w]! | mask;
        this.#setBits++;
        fresh = true;
      }
      x += step;
      if (x >= m) x -= m;
    }
    if (fresh) this.#count++;
  }

  /** False: certainly never added. True: added, or a false positive (probability about p). */
  mightContain(item: string): boolean {
    sipHash13String(this.#key, item, this.#hash);
    const m = this.bits;
    const words = this.#words;
    let x = this.#hash[0]! % m;
    const step = this.#hash[1]! % m || 1;
    for (let i = 0; i < this.hashes; i++) {
      if ((words[x >>> 5]! & (1 << (x & 31))) === 0) return false;
      x += step;
      if (x >= m) x -= m;
    }
    return true;
  }
}

export interface FalsePositiveMeasurement {
  probes: number;
  falsePositives: number;
  /** falsePositives / probes. */
  rate: number;
}

/**
 * Measures the false-positive rate: `nonMembers` must be strings never added (e.g. serials in a
 * namespace the real ones cannot use). For benchmarks and tests.
 */
export function measureFalsePositiveRate(filter: BloomFilter, nonMembers: Iterable<string>): FalsePositiveMeasurement {
  let probes = 0;
  let falsePositives = 0;
  for (const item of nonMembers) {
    probes++;
    if (filter.mightContain(item)) falsePositives++;
  }
  return { probes, falsePositives, rate: probes === 0 ? 0 : falsePositives / probes };
}

export interface SerialBloomOptions extends Omit<BloomFilterOptions, 'seed'> {
  /** Longest wait for the next serial of a rebuild before it is abandoned (default 30 000 ms). */
  stepTimeoutMs?: number;
  /** Serials added between two yields to the event loop during a rebuild (default 4096). */
  yieldEvery?: number;
}

export interface BloomRebuildResult {
  /** Serials read from the source. */
  serials: number;
  /** Serials added locally while the rebuild ran, carried over into the new filter. */
  carriedOver: number;
  durationMs: number;
}

/**
 * The set of known serials as seen by lookups: one Bloom filter, replaced as a whole by rebuild().
 * A rebuild fills a fresh filter on the side and swaps it in at the end, so a lookup sees either
 * the old complete filter or the new complete one, never a half-built one. Serials added while a
 * rebuild runs go into both, so an activation is never lost to a swap.
 */
export class SerialBloom {
  readonly options: Readonly<Required<Pick<SerialBloomOptions, 'expectedItems' | 'falsePositiveRate' | 'stepTimeoutMs' | 'yieldEvery'>>>;
  #current: BloomFilter;
  #ready = false;
  #building: BloomFilter | undefined;
  #carried = 0;
  #running: Promise<BloomRebuildResult> | undefined;

  constructor(options: SerialBloomOptions) {
    this.options = Object.freeze({
      expectedItems: options.expectedItems,
      falsePositiveRate: options.falsePositiveRate ?? 0.01,
      stepTimeoutMs: options.stepTimeoutMs ?? 30_000,
      yieldEvery: options.yieldEvery ?? 4096,
    });
    if (!(this.options.stepTimeoutMs > 0)) throw new RangeError('stepTimeoutMs must be positive');
    if (!Number.isSafeInteger(this.options.yieldEvery) || this.options.yieldEvery < 1) throw new RangeError('yieldEvery must be a positive integer');
    // Validates the sizing now, not at the first rebuild.
    this.#current = new BloomFilter(this.options);
  }

  /** The filter lookups use now. */
  get filter(): BloomFilter {
    return this.#current;
  }

  /** True once a rebuild has completed: before that the filter is empty and proves nothing. */
  get ready(): boolean {
    return this.#ready;
  }

  get rebuilding(): boolean {
    return this.#running !== undefined;
  }

  add(serial: string): void {
    this.#current.add(serial);
    if (this.#building) {
      this.#building.add(serial);
      this.#carried++;
    }
  }

  mightContain(serial: string): boolean {
    return this.#current.mightContain(serial);
  }

  /**
   * Builds a new filter from `serials` and swaps it in. A call while a rebuild runs joins it. On
   * failure (the source throws or stalls past stepTimeoutMs) the old filter stays in place.
   */
  rebuild(serials: AsyncIterable<string> | Iterable<string>): Promise<BloomRebuildResult> {
    this.#running ??= this.#rebuild(serials).finally(() => {
      this.#running = undefined;
      this.#building = undefined;
    });
    return this.#running;
  }

  async #rebuild(serials: AsyncIterable<string> | Iterable<string>): Promise<BloomRebuildResult> {
    const started = Date.now();
    const next = new BloomFilter(this.options);
    this.#building = next;
    this.#carried = 0;
    const iterator: AsyncIterator<string> | Iterator<string> =
      Symbol.asyncIterator in serials ? serials[Symbol.asyncIterator]() : serials[Symbol.iterator]();
    let count = 0;
    try {
      for (;;) {
        const step = await withTimeout(() => iterator.next(), this.options.stepTimeoutMs, 'the serial source');
        if (step.done) break;
        if (typeof step.value !== 'string') throw new TypeError('the serial source yielded a non-string');
        next.add(step.value);
        // A source that yields from a buffer resolves in microtasks only; without this a rebuild of
        // millions of serials would hold the event loop (and every request) for seconds.
        if (++count % this.options.yieldEvery === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      // Lets the source release its cursor; not awaited, a stalled source must not stall us.
      Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => undefined);
      throw err;
    }
    this.#current = next;
    this.#ready = true;
    return { serials: count, carriedOver: this.#carried, durationMs: Date.now() - started };
  }
}
