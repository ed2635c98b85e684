// Hot reload of file sources: chokidar watches the directories of the files merchants read (atomic
// replacements by rename included); a burst of events on one merchant's files becomes one reload
// after a quiet period.
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { LifecycleLogger } from './config.js';
import { describeError } from './errors.js';

export class SourceWatcher {
  /** Absolute file path → merchants reading it. */
  readonly #owners = new Map<string, Set<string>>();
  readonly #debounce = new Map<string, NodeJS.Timeout>();
  #watcher: FSWatcher | undefined;

  constructor(
    private readonly debounceMs: number,
    private readonly onChange: (mchid: string) => void,
    private readonly logger: LifecycleLogger | undefined,
  ) {}

  /** Registers the files a merchant reads. */
  add(mchid: string, files: readonly string[]): void {
    for (const f of files) {
      let owners = this.#owners.get(f);
      if (!owners) this.#owners.set(f, (owners = new Set()));
      owners.add(mchid);
    }
  }

  get watchesFiles(): boolean {
    return this.#owners.size > 0;
  }

  /** Starts watching; resolves once chokidar is ready (or after 5 s). */
  async start(): Promise<void> {
    const dirs = [...new Set([...this.#owners.keys()].map((f) => dirname(f)))];
    const watcher = watch(dirs, { ignoreInitial: true, depth: 0, persistent: false, atomic: true });
    this.#watcher = watcher;
    watcher.on('all', (_event, path) => this.#onPath(path));
    watcher.on('error', (err) => this.logger?.warn?.('wechatpay lifecycle: file watcher error', { error: describeError(err) }));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5_000).unref();
      watcher.once('ready', () => {
        clearTimeout(t);
        resolve();
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
    for (const mchid of owners) {
      clearTimeout(this.#debounce.get(mchid));
      this.#debounce.set(
        mchid,
        setTimeout(() => {
          this.#debounce.delete(mchid);
          this.onChange(mchid);
        }, this.debounceMs).unref(),
      );
    }
  }
}
