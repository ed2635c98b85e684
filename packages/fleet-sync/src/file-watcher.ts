/**
 * Hot reload of files read from disk (certificates, keys, CA bundles): chokidar watches the
 * directories of the files (atomic replacements by rename included, which a watch on the file
 * itself would lose); a burst of events on one owner's files becomes one reload after a quiet
 * period, so a reader never sees the certificate written and the key not yet.
 */
import { dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface FileWatcherOptions {
  /** Quiet period after the last event before `onChange` runs (ms). */
  debounceMs: number;
  /** Runs once per burst of changes, with the owner whose files changed. */
  onChange: (owner: string) => void;
  /** A watcher error (the watch goes on; the files are re-read on the next change or signal). */
  onError?: (err: unknown) => void;
}

export class FileWatcher {
  /** Absolute file path → owners reading it. */
  readonly #owners = new Map<string, Set<string>>();
  readonly #debounce = new Map<string, NodeJS.Timeout>();
  readonly #options: FileWatcherOptions;
  #watcher: FSWatcher | undefined;

  constructor(options: FileWatcherOptions) {
    this.#options = options;
  }

  /** Registers the files an owner reads (before start()). */
  add(owner: string, files: readonly string[]): void {
    for (const f of files) {
      const path = resolve(f);
      let owners = this.#owners.get(path);
      if (!owners) this.#owners.set(path, (owners = new Set()));
      owners.add(owner);
    }
  }

  get watchesFiles(): boolean {
    return this.#owners.size > 0;
  }

  /** Starts watching; resolves once chokidar is ready (or after 5 s). */
  async start(): Promise<void> {
    if (this.#owners.size === 0) return;
    const dirs = [...new Set([...this.#owners.keys()].map((f) => dirname(f)))];
    const watcher = watch(dirs, { ignoreInitial: true, depth: 0, persistent: false, atomic: true });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => this.#onPath(resolve(path)));
    watcher.on('error', (err) => this.#options.onError?.(err));
    await new Promise<void>((done) => {
      const t = setTimeout(done, 5_000).unref();
      watcher.once('ready', () => {
        clearTimeout(t);
        done();
      });
    });
  }

  /** Drops pending reloads (synchronously) and stops watching. */
  close(): Promise<void> {
    for (const t of this.#debounce.values()) clearTimeout(t);
    this.#debounce.clear();
    const w = this.#watcher;
    this.#watcher = undefined;
    return w ? w.close().catch(() => undefined) : Promise.resolve();
  }

  #onPath(path: string): void {
    const owners = this.#owners.get(path);
    if (owners === undefined) return;
    for (const owner of owners) {
      clearTimeout(this.#debounce.get(owner));
      this.#debounce.set(
        owner,
        setTimeout(() => {
          this.#debounce.delete(owner);
          this.#options.onChange(owner);
        }, this.#options.debounceMs).unref(),
      );
    }
  }
}
