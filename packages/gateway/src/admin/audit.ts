/**
 * The admin audit log: one JSON object per line in `stateDir/audit.jsonl`, append-only, mode 0600.
 * Entries never hold a secret, password or token (the callers pass only names, ids and reasons).
 *
 * Reading scales with the page, not with the log: a query reads the file backwards from the end
 * (or from just after its cursor) in fixed-size chunks and stops once the page is full (plus one
 * matching entry, to know whether there is a next page). Ids grow with the file, so a cursor is
 * found through a small bounded index (every `indexStride`-th id → byte offset, filled as chunks are
 * read and lines appended, plus the offsets of recently handed-out cursors) and, when the index has
 * nothing near, a bisection of the file by id. A query scans at most `maxScanBytes` per call; when
 * that bound stops a filtered query before its page is full, it returns what it found with a
 * `nextCursor` (the id of the oldest entry it examined) so the client can continue.
 */
import { closeSync, existsSync, fchmodSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BackwardScanner, SparseIndex, firstLineAtOrAfter, readFully, type ReadAt, type ScannedLine } from './audit-file.js';

export type AuditOutcome = 'ok' | 'refused' | 'failed';

export interface AuditRecord {
  id: number;
  /** ISO 8601. */
  at: string;
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: AuditOutcome;
  client: string;
  detail?: Record<string, unknown>;
}

export type AuditInput = Omit<AuditRecord, 'id' | 'at'>;

export interface AuditQuery {
  /** Entries older than this id (the nextCursor of the previous page). */
  before?: number;
  limit: number;
  actor?: string;
  action?: string;
}

export interface AuditLogOptions {
  /** Bytes per backwards read (default 64 KiB). */
  chunkSize?: number;
  /** Bytes a query may scan before it returns a partial page with a cursor (default 8 MiB). */
  maxScanBytes?: number;
  /** Every how many ids the index remembers a byte offset (default 1000; doubles when the index is full). */
  indexStride?: number;
  /** Most offsets the index holds (default 4096). */
  indexMaxEntries?: number;
  /** How the file is read (default `fs.readSync`); tests inject a counting reader. */
  read?: ReadAt;
}

const CURSOR_CACHE = 256;
const PROBE_WINDOW = 4096;

export class AuditLog {
  readonly path: string;
  #fd: number;
  #nextId: number;
  readonly #read: ReadAt;
  readonly #chunkSize: number;
  readonly #maxScanBytes: number;
  readonly #index: SparseIndex;
  /** Offsets of the lines of recently returned cursors (id → offset), oldest first. */
  readonly #cursors = new Map<number, number>();
  /** The largest file size seen; a smaller one means the file was replaced: the offsets are dropped. */
  #knownSize = 0;
  /** A write failed part-way: the file may end in a torn line that the next write must terminate. */
  #tailSuspect = false;

  constructor(
    stateDir: string,
    private readonly now: () => number,
    options: AuditLogOptions = {},
  ) {
    this.path = join(stateDir, 'audit.jsonl');
    this.#read = options.read ?? ((fd, buffer, offset, length, position) => readSync(fd, buffer, offset, length, position));
    this.#chunkSize = Math.max(256, options.chunkSize ?? 64 * 1024);
    this.#maxScanBytes = Math.max(this.#chunkSize, options.maxScanBytes ?? 8 * 1024 * 1024);
    this.#index = new SparseIndex(options.indexStride ?? 1000, Math.max(2, options.indexMaxEntries ?? 4096));
    const existed = existsSync(this.path);
    this.#fd = openSync(this.path, 'a', 0o600);
    fchmodSync(this.#fd, 0o600);
    let last = 0;
    if (existed) {
      // A torn last line (crash mid-write) is terminated, so the next entry starts on its own line.
      this.#terminateTail();
      const rfd = openSync(this.path, 'r');
      try {
        const size = fstatSync(rfd).size;
        this.#knownSize = size;
        const scanner = new BackwardScanner<AuditRecord>(this.#read, rfd, size, this.#chunkSize);
        for (const line of scanner.lines()) {
          this.#index.note(line.entry.id, line.offset);
          last = line.entry.id;
          break;
        }
      } finally {
        closeSync(rfd);
      }
    }
    this.#nextId = last + 1;
  }

  /** Appends one entry (synchronously: it is on disk before the answer goes out). */
  write(input: AuditInput): AuditRecord {
    const record: AuditRecord = { id: this.#nextId++, at: new Date(this.now()).toISOString(), ...clean(input) };
    if (this.#tailSuspect) this.#terminateTail();
    const offset = fstatSync(this.#fd).size;
    const buf = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    try {
      let done = 0;
      while (done < buf.length) done += writeSync(this.#fd, buf, done, buf.length - done);
    } catch (err) {
      this.#tailSuspect = true;
      throw err;
    }
    if (offset + buf.length >= this.#knownSize) this.#knownSize = offset + buf.length;
    this.#index.note(record.id, offset);
    return record;
  }

  /** Newest first. */
  query(q: AuditQuery): { entries: AuditRecord[]; nextCursor?: string } {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return { entries: [] };
    }
    try {
      // Concurrent appends are fine: this call reads up to the size seen now.
      const size = fstatSync(fd).size;
      if (size < this.#knownSize) this.#forgetOffsets();
      this.#knownSize = size;
      const before = q.before;
      const end = before === undefined ? size : this.#locate(fd, size, before);
      const scanner = new BackwardScanner<AuditRecord>(this.#read, fd, end, this.#chunkSize);
      const out: ScannedLine<AuditRecord>[] = [];
      let oldest: ScannedLine<AuditRecord> | undefined;
      let more = false;
      // Stop reading at the bound, but only once some entry was examined (so a cursor can move on).
      const mayRead = (): boolean => scanner.bytesRead < this.#maxScanBytes || oldest === undefined;
      for (const line of scanner.lines(mayRead)) {
        const e = line.entry;
        this.#index.note(e.id, line.offset);
        if (before !== undefined && e.id >= before) continue;
        oldest = line;
        if (q.actor !== undefined && e.actor !== q.actor) continue;
        if (q.action !== undefined && e.action !== q.action) continue;
        if (out.length === q.limit) {
          more = true;
          break;
        }
        out.push(line);
      }
      const entries = out.map((l) => l.entry);
      const last = out[out.length - 1];
      let cursor: ScannedLine<AuditRecord> | undefined;
      if (more) cursor = last;
      else if (!scanner.exhausted && oldest) cursor = out.length === q.limit && last ? last : oldest; // the scan bound was hit
      if (!cursor) return { entries };
      this.#rememberCursor(cursor.entry.id, cursor.offset);
      return { entries, nextCursor: String(cursor.entry.id) };
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    closeSync(this.#fd);
  }

  /**
   * A line boundary such that every complete line before it with an id below `before` is before it
   * and every line after it has an id ≥ `before` (ids grow with the file).
   */
  #locate(fd: number, size: number, before: number): number {
    if (before >= this.#nextId) return size;
    const cached = this.#cursors.get(before);
    if (cached !== undefined && cached <= size) {
      this.#cursors.delete(before);
      this.#cursors.set(before, cached);
      return cached;
    }
    const { below, atOrAbove } = this.#index.around(before);
    let lo = below ? below.offset : 0;
    let hi = atOrAbove && atOrAbove.offset <= size ? atOrAbove.offset : size;
    const counter = { bytesRead: 0 };
    while (hi - lo > this.#chunkSize) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const probe = firstLineAtOrAfter<AuditRecord>(this.#read, fd, mid, hi, Math.min(PROBE_WINDOW, this.#chunkSize), counter);
      if (!probe) break; // only torn lines between mid and hi: scan from hi
      this.#index.note(probe.entry.id, probe.offset);
      if (probe.entry.id < before) lo = probe.offset;
      else hi = probe.offset;
    }
    return hi;
  }

  #rememberCursor(id: number, offset: number): void {
    this.#cursors.delete(id);
    this.#cursors.set(id, offset);
    if (this.#cursors.size > CURSOR_CACHE) {
      const oldest = this.#cursors.keys().next();
      if (!oldest.done) this.#cursors.delete(oldest.value);
    }
  }

  #forgetOffsets(): void {
    this.#index.clear();
    this.#cursors.clear();
  }

  /** Appends a '\n' when the file does not end with one (a torn line from a crash or failed write). */
  #terminateTail(): void {
    const rfd = openSync(this.path, 'r');
    try {
      const size = fstatSync(rfd).size;
      if (size === 0) return;
      const b = Buffer.allocUnsafe(1);
      readFully(this.#read, rfd, b, 1, size - 1);
      if (b[0] !== 0x0a) writeSync(this.#fd, '\n');
    } finally {
      closeSync(rfd);
    }
    this.#tailSuspect = false;
  }
}

function clean(input: AuditInput): AuditInput {
  const out: AuditInput = { actor: input.actor, action: input.action, outcome: input.outcome, client: input.client };
  if (input.target !== undefined) out.target = input.target;
  if (input.reason !== undefined) out.reason = input.reason;
  if (input.detail !== undefined && Object.keys(input.detail).length > 0) out.detail = input.detail;
  return out;
}
