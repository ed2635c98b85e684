/**
 * The load-generator process (loadgen/child.ts) seen from the harness: started once, it runs jobs
 * one after the other and reports progress and a result for each. Scenarios use one per job; the
 * latency matrix one per suite for its nine cells (a process start per cell would cost more than
 * some cells take).
 */
import type { LoadJob, LoadResult, LoadgenMessage } from './loadgen/types.js';
import { KEYS_ENV } from './keys.js';
import { startChild, type BenchChild } from './process.js';
import type { ProgressSink } from './progress.js';

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

interface Pending {
  job: LoadJob;
  progress: ProgressSink | undefined;
  prefix: string;
  resolve: (r: LoadResult) => void;
  reject: (e: Error) => void;
}

export class LoadGenerator {
  readonly #child: BenchChild;
  #pending: Pending | undefined;
  #exited = false;

  private constructor(child: BenchChild, setHandler: (h: (m: LoadgenMessage) => void) => void) {
    this.#child = child;
    setHandler((m) => this.#onMessage(m));
    child.process.once('exit', (code, signal) => {
      this.#exited = true;
      const p = this.#pending;
      this.#pending = undefined;
      p?.reject(new Error(`the load generator exited (${signal ?? code}) without a result\n${child.stderrTail()}`));
    });
  }

  static async start(keysPath: string): Promise<LoadGenerator> {
    let handler: ((m: LoadgenMessage) => void) | undefined;
    const child = await startChild({
      name: 'load generator',
      module: 'loadgen/child',
      env: { [KEYS_ENV]: keysPath },
      onMessage: (raw) => handler?.(raw as unknown as LoadgenMessage),
    });
    return new LoadGenerator(child, (h) => (handler = h));
  }

  /** Runs one job; one at a time. */
  run(job: LoadJob, progress: ProgressSink | undefined, prefix: string): Promise<LoadResult> {
    if (this.#pending) return Promise.reject(new Error('the load generator is already running a job'));
    if (this.#exited) return Promise.reject(new Error(`the load generator has exited\n${this.#child.stderrTail()}`));
    return new Promise<LoadResult>((resolve, reject) => {
      this.#pending = { job, progress, prefix, resolve, reject };
      this.#child.send(job);
    });
  }

  close(): Promise<void> {
    return this.#child.close();
  }

  #onMessage(m: LoadgenMessage): void {
    const p = this.#pending;
    if (!p) return;
    const { job, progress, prefix } = p;
    if (m.type === 'progress') {
      if (m.phase === 'generating') progress?.live(`${prefix} building ${fmt(job.poolSize)} distinct ${job.traffic === 'device-signed' ? 'signed' : 'sealed'} requests… ${fmt(m.done ?? 0)}`);
      else if (m.phase === 'checking') progress?.live(`${prefix} checking a sample of responses…`);
      else progress?.live(`${prefix} ${m.phase === 'warmup' ? 'warm-up' : 'measuring'} ${m.elapsedS}${m.totalS > 0 ? `/${m.totalS}` : ''} s  ${fmt(m.reqPerSec ?? 0)} req/s`);
    } else if (m.type === 'result') {
      this.#pending = undefined;
      p.resolve(m.result);
    }
  }
}

/** One job in a load generator of its own (what every scenario does). */
export async function runLoad(job: LoadJob, keysPath: string, progress: ProgressSink | undefined, prefix: string): Promise<LoadResult> {
  const generator = await LoadGenerator.start(keysPath);
  try {
    return await generator.run(job, progress, prefix);
  } finally {
    await generator.close();
  }
}
