/**
 * Reading helpers for the append-only JSON-lines audit log (`audit.ts`): a backwards line scanner
 * that reads fixed-size chunks from an end offset towards the start, a forward probe that finds the
 * first complete line at or after an offset (for bisecting by id), and a small bounded sparse index
 * id → byte offset of the line's first byte.
 *
 * Only complete lines count: the bytes after the last `\n` before the scan's end are either nothing
 * (the end is a line boundary) or a line still being written / torn by a crash, and are skipped.
 * Lines that do not parse, or parse to something without a numeric `id`, are skipped too.
 */

/** `fs.readSync`'s shape: reads up to `length` bytes at `position` into `buffer[offset..]`. */
export type ReadAt = (fd: number, buffer: Buffer, offset: number, length: number, position: number) => number;

const NL = 0x0a;

/** Reads exactly `length` bytes at `position` (short reads are retried; a premature EOF is an error). */
export function readFully(read: ReadAt, fd: number, buffer: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = read(fd, buffer, done, length - done, position + done);
    if (n <= 0) throw new Error(`audit log: short read at ${position + done}`);
    done += n;
  }
}

/** Parses one line; undefined when it is not an object with a numeric id (torn / foreign line). */
export function parseLine<T extends { id: number }>(buf: Buffer, start: number, end: number): T | undefined {
  if (end <= start) return undefined;
  try {
    const v = JSON.parse(buf.toString('utf8', start, end)) as T | null;
    return v !== null && typeof v === 'object' && typeof v.id === 'number' && Number.isSafeInteger(v.id) ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface ScannedLine<T> {
  /** Byte offset of the line's first byte. */
  offset: number;
  entry: T;
}

/**
 * Yields the complete, valid lines of `[0, end)` newest (highest offset) first, reading `chunkSize`
 * bytes at a time. Before each chunk read `mayRead()` is asked; when it says no the scan stops
 * (`exhausted` stays false). `bytesRead` counts what this scanner read.
 */
export class BackwardScanner<T extends { id: number }> {
  bytesRead = 0;
  /** True once the scan reached offset 0 (nothing older is left). */
  exhausted = false;

  constructor(
    private readonly read: ReadAt,
    private readonly fd: number,
    private readonly end: number,
    private readonly chunkSize: number,
  ) {}

  *lines(mayRead: () => boolean = () => true): Generator<ScannedLine<T>> {
    let pos = this.end;
    // The line being assembled across chunks: bytes from `pos` on, up to (not incl.) its '\n'.
    let carry: Buffer[] = [];
    // The segment after the last '\n' before `end` is never a complete line: skip it.
    let first = true;
    while (pos > 0) {
      if (!mayRead()) return;
      const n = Math.min(this.chunkSize, pos);
      pos -= n;
      const buf = Buffer.allocUnsafe(n);
      readFully(this.read, this.fd, buf, n, pos);
      this.bytesRead += n;
      let lineEnd = n;
      for (let i = buf.lastIndexOf(NL, n - 1); i >= 0; i = i > 0 ? buf.lastIndexOf(NL, i - 1) : -1) {
        if (first) {
          first = false;
        } else {
          const entry = carry.length === 0 ? parseLine<T>(buf, i + 1, lineEnd) : joinAndParse<T>(buf.subarray(i + 1, lineEnd), carry);
          if (entry) yield { offset: pos + i + 1, entry };
        }
        carry = [];
        lineEnd = i;
      }
      if (lineEnd > 0) carry.unshift(buf.subarray(0, lineEnd));
    }
    this.exhausted = true;
    if (!first && carry.length > 0) {
      const whole = Buffer.concat(carry);
      const entry = parseLine<T>(whole, 0, whole.length);
      if (entry) yield { offset: 0, entry };
    }
  }
}

function joinAndParse<T extends { id: number }>(head: Buffer, carry: Buffer[]): T | undefined {
  const whole = Buffer.concat([head, ...carry]);
  return parseLine<T>(whole, 0, whole.length);
}

/**
 * The first complete valid line starting at or after `from` and before `limit` (a line boundary),
 * reading forwards in windows of `window` bytes (grown for long lines). Undefined when none.
 */
export function firstLineAtOrAfter<T extends { id: number }>(
  read: ReadAt,
  fd: number,
  from: number,
  limit: number,
  window: number,
  counter: { bytesRead: number },
): ScannedLine<T> | undefined {
  // A line starts at `from` only if from is 0 or the byte before it is '\n': start reading one byte early.
  let pos = Math.max(0, from - 1);
  let atLineStart = from === 0;
  let pending: Buffer[] = [];
  let lineStart = atLineStart ? 0 : -1;
  while (pos < limit) {
    const n = Math.min(window, limit - pos);
    const buf = Buffer.allocUnsafe(n);
    readFully(read, fd, buf, n, pos);
    counter.bytesRead += n;
    let i = 0;
    while (i < n) {
      if (!atLineStart) {
        const nl = buf.indexOf(NL, i);
        if (nl < 0) break;
        i = nl + 1;
        atLineStart = true;
        lineStart = pos + i;
        pending = [];
        continue;
      }
      const nl = buf.indexOf(NL, i);
      if (nl < 0) {
        pending.push(buf.subarray(i));
        break;
      }
      const whole = pending.length === 0 ? buf.subarray(i, nl) : Buffer.concat([...pending, buf.subarray(i, nl)]);
      const entry = parseLine<T>(whole, 0, whole.length);
      if (entry) return { offset: lineStart, entry };
      pending = [];
      i = nl + 1;
      lineStart = pos + i;
    }
    pos += n;
  }
  return undefined;
}

/**
 * id → line offset for every `stride`-th id (ids that are multiples of the stride), at most
 * `maxEntries` of them: when full, the stride doubles and the entries that are no longer multiples
 * are dropped, so memory stays bounded however long the log grows.
 */
export class SparseIndex {
  #ids: number[] = [];
  #offsets: number[] = [];
  #stride: number;

  constructor(
    stride: number,
    private readonly maxEntries: number,
  ) {
    this.#stride = Math.max(1, stride);
  }

  get size(): number {
    return this.#ids.length;
  }

  get stride(): number {
    return this.#stride;
  }

  clear(): void {
    this.#ids = [];
    this.#offsets = [];
  }

  /** Records the line of `id` when the id is on the stride. */
  note(id: number, offset: number): void {
    if (id % this.#stride !== 0) return;
    const i = this.#lowerBound(id);
    if (this.#ids[i] === id) {
      this.#offsets[i] = offset;
      return;
    }
    this.#ids.splice(i, 0, id);
    this.#offsets.splice(i, 0, offset);
    while (this.#ids.length > this.maxEntries) this.#thin();
  }

  /** The nearest indexed lines around `id`: the last one with a smaller id and the first one with id ≥ `id`. */
  around(id: number): { below?: { id: number; offset: number }; atOrAbove?: { id: number; offset: number } } {
    const i = this.#lowerBound(id);
    const out: { below?: { id: number; offset: number }; atOrAbove?: { id: number; offset: number } } = {};
    if (i > 0) out.below = { id: this.#ids[i - 1]!, offset: this.#offsets[i - 1]! };
    if (i < this.#ids.length) out.atOrAbove = { id: this.#ids[i]!, offset: this.#offsets[i]! };
    return out;
  }

  #lowerBound(id: number): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #thin(): void {
    this.#stride *= 2;
    const ids: number[] = [];
    const offsets: number[] = [];
    for (let i = 0; i < this.#ids.length; i++) {
      if (this.#ids[i]! % this.#stride === 0) {
        ids.push(this.#ids[i]!);
        offsets.push(this.#offsets[i]!);
      }
    }
    this.#ids = ids;
    this.#offsets = offsets;
  }
}
