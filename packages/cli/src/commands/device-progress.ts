import { SingleBar } from 'cli-progress';
import { formatDuration } from './device-args.js';

export interface ProgressSink {
  /** Where plain progress lines go (stderr). */
  write(text: string): void;
  /** The terminal stream; a bar is drawn only when it is a TTY, otherwise plain lines are written. */
  stream?: NodeJS.WriteStream | undefined;
}

export interface ProgressOptions {
  /** First word of every progress line, e.g. `import`. */
  label: string;
  /** Total of `value` (file bytes for an import, rows for a rewrap); undefined when unknown. */
  total: number | undefined;
  /** Plain mode: at most one line per interval (ms, default 2000), besides the first and the last. */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface ProgressUpdate {
  /** Progress towards `total` (bytes read, rows done). */
  value: number;
  /** Rows handled so far, for the rows/s rate. */
  rows: number;
  /** Counters shown after the rate, e.g. `1990 stored, 10 failed`. */
  detail: string;
}

/**
 * Progress of a long command on stderr: a cli-progress bar with rows/s and ETA on a terminal,
 * periodic plain lines otherwise (logs and CI keep a readable record instead of escape codes).
 */
export class Progress {
  readonly #sink: ProgressSink;
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #started: number;
  readonly #bar: SingleBar | undefined;
  #lastLine = -Infinity;
  #stopped = false;

  constructor(sink: ProgressSink, options: ProgressOptions) {
    this.#sink = sink;
    this.#label = options.label;
    this.#total = options.total !== undefined && options.total > 0 ? options.total : undefined;
    this.#intervalMs = options.intervalMs ?? 2000;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    if (sink.stream?.isTTY) {
      this.#bar = new SingleBar({
        stream: sink.stream,
        format: `${this.#label} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted} | {detail}`,
        // The cursor stays visible: with Ctrl-C (no handler here, the default exit is wanted) a
        // hidden cursor would stay hidden in the user's terminal.
        hideCursor: false,
        etaBuffer: 50,
        // Redraw on every tick, so a report line written between two updates never hides the bar for long.
        forceRedraw: true,
      });
      this.#bar.start(this.#total ?? 1, 0, { rows: 0, rate: 0, detail: '' });
    }
  }

  update(u: ProgressUpdate): void {
    if (this.#stopped) return;
    const rate = this.#rate(u.rows);
    if (this.#bar) {
      this.#bar.update(this.#total === undefined ? 0 : Math.min(u.value, this.#total), { rows: u.rows, rate, detail: u.detail });
      return;
    }
    const now = this.#now();
    if (now - this.#lastLine < this.#intervalMs) return;
    this.#lastLine = now;
    const pct = this.#total === undefined ? '' : ` (${Math.floor((Math.min(u.value, this.#total) / this.#total) * 100)}%)`;
    this.#sink.write(`${this.#label}: ${u.rows} rows${pct}, ${rate} rows/s, ETA ${this.#eta(u.value)}, ${u.detail}\n`);
  }

  /** Runs `write` (report lines on stdout or stderr) without leaving them tangled with the bar. */
  print(write: () => void): void {
    const stream = this.#sink.stream;
    if (this.#bar && !this.#stopped && stream) {
      stream.cursorTo(0);
      stream.clearLine(0);
    }
    write();
  }

  /** Ends the bar (or writes the final plain line). */
  stop(final: ProgressUpdate): void {
    if (this.#stopped) return;
    if (this.#bar) {
      this.#bar.update(this.#total ?? 1, { rows: final.rows, rate: this.#rate(final.rows), detail: final.detail });
      this.#bar.stop();
    } else {
      const seconds = Math.round((this.#now() - this.#started) / 1000);
      this.#sink.write(`${this.#label}: ${final.rows} rows in ${formatDuration(seconds)}, ${this.#rate(final.rows)} rows/s, ${final.detail}\n`);
    }
    this.#stopped = true;
  }

  #rate(rows: number): number {
    const seconds = (this.#now() - this.#started) / 1000;
    return seconds > 0 ? Math.round(rows / seconds) : rows;
  }

  #eta(value: number): string {
    if (this.#total === undefined || value <= 0) return '?';
    const elapsed = (this.#now() - this.#started) / 1000;
    const remaining = Math.max(0, Math.ceil((elapsed / value) * (this.#total - value)));
    return formatDuration(remaining);
  }
}
