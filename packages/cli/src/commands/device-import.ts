import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { CsvError, parse, type Info } from 'csv-parse';
import { isWxsealError } from '@wxseal/protocol';
import { b64uDecodeStrict, b64uEncode } from '@wxseal/protocol/primitives';
import type { DeviceImportRow, DeviceRepository } from '@wxseal/devices';
import { DEFAULT_BATCH } from './device-args.js';
import { oneLine, usageError, withRegistry, type DeviceCommonOptions, type DeviceEnv, type DeviceIo, type Registry } from './device-common.js';
import { Progress } from './device-progress.js';

export interface DeviceImportOptions extends DeviceCommonOptions {
  /** Product of every row (the CSV then needs no product column; a row naming another product fails). */
  product?: string;
  /** The keys file: a new CSV (mode 0600) receiving every generated key. Required unless every row brings its key. */
  out?: string;
  /** Rows per transaction (1-1000, default 500). */
  batch?: number;
  reason?: string;
  /** Plain progress lines: at most one per interval (ms), besides the first and the last. */
  progressIntervalMs?: number;
}

const COLUMNS = ['serial', 'product', 'key'] as const;
type Column = (typeof COLUMNS)[number];

/** One CSV row on its way to the registry, or a failure found before it got there. */
interface Pending {
  line: number;
  serial: string;
  row?: DeviceImportRow;
  failure?: { code: string; message: string };
}

interface Counters {
  rows: number;
  stored: number;
  failed: number;
  bytes: number;
}

/** CSV quoting for the keys file (serials and product ids never need it, but a quote costs nothing). */
const csvField = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/**
 * `wxseal device import <file.csv>`: bulk provisioning. The file is streamed (csv-parse), sent to
 * the registry in batches of one transaction each, and every generated key is appended to the
 * keys file as soon as its batch is committed (then fsynced): keys are shown only once, so they
 * must be on disk before anything else can go wrong. A bad row is reported with its line number
 * and never stops the others. Exit 0 when every row was stored, 1 when some failed, 2 when the
 * import could not run (usage, config, CSV header, database unavailable).
 */
export function deviceImport(file: string, opts: DeviceImportOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'required', (registry) => runImport(file, opts, io, registry));
}

async function runImport(file: string, opts: DeviceImportOptions, io: DeviceIo, { repo, change }: Registry): Promise<number> {
  const batchSize = opts.batch ?? DEFAULT_BATCH;
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw usageError(`${file} is not a file`);
    size = st.size;
  } catch (err) {
    if (isWxsealError(err)) throw err;
    throw usageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }

  // The header decides whether --out is needed: checked before the progress starts or the keys
  // file is created, so a mistake in the options is the only thing printed.
  const names = await readHeader(file);
  if (names === undefined) throw usageError(`${file} is empty: the first line must be a header naming the columns (serial, product, key)`);
  checkHeader(names, opts, io, true);

  // Created before anything is stored, and never over an existing file: an old keys file must
  // not be clobbered, and a key that was generated but could not be written would be lost.
  let out: number | undefined;
  if (opts.out !== undefined) {
    try {
      out = openSync(opts.out, 'wx', 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw usageError(code === 'EEXIST' ? `refusing to overwrite ${opts.out}: keys files are never replaced, choose a new name` : `cannot create ${opts.out} (${code ?? 'error'})`);
    }
  }
  let keysWritten = 0;
  let header: Column[] | undefined;
  const counters: Counters = { rows: 0, stored: 0, failed: 0, bytes: 0 };
  const progress = new Progress({ write: io.stderr, stream: io.progressStream }, { label: 'import', total: size, ...(opts.progressIntervalMs !== undefined ? { intervalMs: opts.progressIntervalMs } : {}) });
  const snapshot = () => ({ value: counters.bytes, rows: counters.rows, detail: `${counters.stored} stored, ${counters.failed} failed` });
  let outage: string | undefined;
  let fatal: string | undefined;

  try {
    if (out !== undefined) writeSync(out, 'serial,product,key_version,key\n');
    const skipped: Array<{ line: number; message: string }> = [];
    const source = createReadStream(file);
    const parser = source.pipe(
      parse({
        bom: true,
        trim: true,
        skip_empty_lines: true,
        // A missing trailing optional field is fine; an extra field usually means an unquoted comma.
        relax_column_count_less: true,
        info: true,
        // Malformed records (bad quotes, too many fields) are reported like any bad row, not fatal.
        skip_records_with_error: true,
        on_skip: (err: CsvError | undefined) => {
          if (err) skipped.push({ line: Number((err as { lines?: unknown }).lines) || 0, message: `CSV ${err.code}: ${oneLine(err.message)}` });
          return undefined;
        },
        columns: (names: string[]) => {
          header = checkHeader(names, opts, io, false);
          return header;
        },
      }),
    );

    const seenKeys = new Set<string>();
    let pending: Pending[] = [];
    const drainSkipped = (beforeLine: number): void => {
      while (skipped.length > 0 && (skipped[0]!.line < beforeLine || beforeLine === Infinity)) {
        const s = skipped.shift()!;
        counters.rows++;
        pending.push({ line: s.line, serial: '', failure: { code: 'DEVICE_INVALID_INPUT', message: s.message } });
      }
    };
    const flush = async (): Promise<void> => {
      const batch = pending;
      pending = [];
      if (batch.length === 0) return;
      const result = await storeBatch(repo, batch, change, opts.reason);
      if (result.failures.length > 0) {
        progress.print(() => {
          for (const f of result.failures) io.stdout(`line ${f.line}: ${f.serial === '' ? '(no serial)' : f.serial}: ${f.code}: ${oneLine(f.message)}\n`);
        });
      }
      if (out !== undefined && result.keys.length > 0) {
        writeSync(out, result.keys.map((k) => [k.serial, k.productId, '1', k.key].map(csvField).join(',') + '\n').join(''));
        fsyncSync(out);
        keysWritten += result.keys.length;
      }
      counters.stored += result.stored;
      counters.failed += result.failures.length;
      if (result.outage !== undefined) outage = result.outage;
      progress.update(snapshot());
    };

    try {
      for await (const item of parser as AsyncIterable<{ record: Partial<Record<Column, string>>; info: Info }>) {
        const line = item.info.lines;
        counters.bytes = item.info.bytes;
        drainSkipped(line);
        counters.rows++;
        pending.push(toPending(item.record, line, opts, out !== undefined, seenKeys));
        if (pending.length >= batchSize) {
          await flush();
          if (outage !== undefined) break;
        }
      }
    } catch (err) {
      // The file could not be read or parsed any further: what was read so far is still stored.
      // Anything else (a refused header, a refusal of the registry) ends the command.
      if (!(err instanceof CsvError) && (err as NodeJS.ErrnoException).syscall === undefined) throw err;
      fatal = oneLine((err as Error).message);
    } finally {
      // After an early stop (outage, read error) neither stream is read to its end.
      parser.destroy();
      source.destroy();
    }
    if (outage === undefined) {
      drainSkipped(Infinity);
      await flush();
    }
    if (header === undefined && fatal === undefined) throw usageError(`${file} is empty: the first line must be a header naming the columns (serial, product, key)`);
  } catch (err) {
    progress.stop(snapshot());
    if (out !== undefined) {
      closeSync(out);
      // Nothing stored and no key written: leave no empty keys file behind to block the next run.
      if (keysWritten === 0 && counters.stored === 0) unlinkSync(opts.out!);
      out = undefined;
    }
    throw err;
  } finally {
    if (out !== undefined) closeSync(out);
  }
  counters.bytes = size;
  progress.stop(snapshot());

  io.stdout(`import: ${counters.stored} stored, ${counters.failed} failed (${counters.stored + counters.failed} rows)\n`);
  if (opts.out !== undefined) io.stdout(`${keysWritten} generated keys written to ${opts.out} (mode 0600): keep it safe, the keys cannot be shown again\n`);
  if (outage !== undefined) {
    io.stderr(`wxseal device: WXSEAL_KEY_STORE_UNAVAILABLE: import stopped, the rows after the last reported line were not read: ${outage}\n`);
    return 2;
  }
  if (fatal !== undefined) {
    io.stderr(`wxseal device: DEVICE_INVALID_INPUT: import stopped, the rest of ${file} could not be read: ${fatal}\n`);
    return 2;
  }
  return counters.failed > 0 ? 1 : 0;
}

/** The first record of the file (the header row), read on its own; undefined when the file has none. */
async function readHeader(file: string): Promise<string[] | undefined> {
  const source = createReadStream(file);
  const parser = source.pipe(parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, to: 1 }));
  try {
    for await (const record of parser as AsyncIterable<string[]>) return record;
    return undefined;
  } catch (err) {
    if (err instanceof CsvError) throw usageError(`${file}: the header row is not valid CSV: ${oneLine(err.message)}`);
    throw usageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    parser.destroy();
    source.destroy();
  }
}

function checkHeader(raw: string[], opts: DeviceImportOptions, io: DeviceIo, warn: boolean): Column[] {
  const names = raw.map((n) => n.trim().toLowerCase());
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw usageError(`the CSV header names column "${n}" twice`);
    seen.add(n);
  }
  if (!seen.has('serial')) throw usageError('the CSV header must name a "serial" column (columns: serial, product, key)');
  if (!seen.has('product') && opts.product === undefined) throw usageError('the CSV has no "product" column: add one or give --product');
  if (!seen.has('key') && opts.out === undefined) throw usageError('the CSV has no "key" column, so every key is generated: give --out keys.csv to save them');
  const ignored = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (warn && ignored.length > 0) io.stderr(`wxseal device: warning: ignoring column(s) ${ignored.join(', ')} (known: ${COLUMNS.join(', ')})\n`);
  // csv-parse takes the returned names as the record's keys; the ignored ones are simply unread.
  return names as Column[];
}

function toPending(record: Partial<Record<Column, string>>, line: number, opts: DeviceImportOptions, canSaveKeys: boolean, seenKeys: Set<string>): Pending {
  const serial = record.serial ?? '';
  const fail = (code: string, message: string): Pending => ({ line, serial, failure: { code, message } });
  const product = record.product === undefined || record.product === '' ? opts.product : record.product;
  if (product === undefined || product === '') return fail('DEVICE_INVALID_INPUT', 'no product: fill the product column or give --product');
  if (opts.product !== undefined && product !== opts.product) return fail('DEVICE_INVALID_INPUT', `product ${product} differs from --product ${opts.product}`);
  const key = record.key === undefined || record.key === '' ? undefined : record.key;
  if (key === undefined && !canSaveKeys) return fail('DEVICE_INVALID_INPUT', 'no key given and no --out to save a generated one');
  if (key !== undefined) {
    // The registry finds duplicate keys within one batch; this catches them across batches.
    const bytes = b64uDecodeStrict(key);
    if (bytes) {
      const fingerprint = createHash('sha256').update(bytes).digest('base64');
      if (seenKeys.has(fingerprint)) return fail('DEVICE_DUPLICATE_KEY', 'this device key is also given to an earlier row of the file');
      seenKeys.add(fingerprint);
    }
  }
  return { line, serial, row: { serial, productId: product, ...(key !== undefined ? { key } : {}) } };
}

interface BatchResult {
  stored: number;
  failures: Array<{ line: number; serial: string; code: string; message: string }>;
  keys: Array<{ serial: string; productId: string; key: string }>;
  /** Set when the database failed: the import stops. */
  outage?: string;
}

async function storeBatch(repo: DeviceRepository, batch: Pending[], change: Registry['change'], reason: string | undefined): Promise<BatchResult> {
  const toStore = batch.filter((p) => p.row !== undefined);
  const summary =
    toStore.length === 0
      ? { results: [] }
      : await repo.importMany(
          toStore.map((p) => p.row!),
          { ...change, ...(reason !== undefined ? { reason } : {}), batchSize: toStore.length },
        );
  const result: BatchResult = { stored: 0, failures: [], keys: [] };
  let next = 0;
  // Reported in file order: failures found while reading interleave with the registry's answers.
  for (const p of batch) {
    if (p.failure) {
      result.failures.push({ line: p.line, serial: p.serial, ...p.failure });
      continue;
    }
    const r = summary.results[next++];
    if (!r) continue;
    if (r.ok) {
      result.stored++;
      if (r.key) {
        result.keys.push({ serial: r.serial, productId: p.row!.productId, key: b64uEncode(r.key) });
        r.key.fill(0);
      }
    } else {
      result.failures.push({ line: p.line, serial: p.serial, code: r.code, message: r.message });
      if (r.code === 'DEVICE_STORE_UNAVAILABLE') result.outage ??= r.message;
    }
  }
  return result;
}
