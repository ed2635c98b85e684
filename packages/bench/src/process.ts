/**
 * Child processes of the bench: every server under test and the load generator run in their own
 * Node process, started with the same loader flags as the harness (tsx and the `wxseal-source`
 * condition when run from the TypeScript sources), and talk to the harness over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (packages/bench/src or packages/bench/dist → ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Running from the sources (tsx) or from dist: children use the same form. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** Absolute path of a module of this package, e.g. `servers/upstream`. */
export function benchModule(name: string): string {
  return fileURLToPath(new URL(`./${name}${EXT}`, import.meta.url));
}

export interface ChildMessage {
  type: string;
  [key: string]: unknown;
}

export interface BenchChild {
  readonly name: string;
  readonly process: ChildProcess;
  /** The message the child sent when it was ready (`{ type: 'ready', ... }`). */
  readonly ready: ChildMessage;
  send(message: unknown): void;
  /** Ends the child (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  close(): Promise<void>;
  /** The last lines the child wrote on stderr, for error messages. */
  stderrTail(): string;
}

export interface StartChildOptions {
  name: string;
  /** Module of this package, e.g. `servers/upstream`. */
  module: string;
  /** JSON configuration, passed in WXSEAL_BENCH_CONFIG. */
  config?: unknown;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Called for every message other than `ready` (progress, results). */
  onMessage?: (message: ChildMessage) => void;
}

/** Starts a bench child and waits for its `{ type: 'ready' }` message. */
export function startChild(options: StartChildOptions): Promise<BenchChild> {
  const child = spawn(process.execPath, [...process.execArgv, benchModule(options.module)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env, WXSEAL_BENCH_CONFIG: JSON.stringify(options.config ?? {}) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let closing = false;
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    closing = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise<BenchChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      void close();
      reject(new Error(`${options.name} did not start within ${options.readyTimeoutMs ?? 30_000} ms\n${tail}`));
    }, options.readyTimeoutMs ?? 30_000);
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message?.type === 'ready') {
        clearTimeout(timer);
        resolve({
          name: options.name,
          process: child,
          ready: message,
          send: (m) => {
            if (child.connected) child.send(m as Parameters<ChildProcess['send']>[0]);
          },
          close,
          stderrTail: () => tail,
        });
      } else {
        options.onMessage?.(message);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!closing) reject(new Error(`${options.name} exited (${signal ?? code}) before it was ready\n${tail}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** In a child: its JSON configuration. */
export function childConfig<T>(): T {
  return JSON.parse(process.env['WXSEAL_BENCH_CONFIG'] ?? '{}') as T;
}

/** In a child: tell the harness we are ready, and exit when it goes away or asks us to stop. */
export function announceReady(message: Record<string, unknown>, onStop?: () => Promise<void> | void): void {
  const stop = async (): Promise<void> => {
    try {
      await onStop?.();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.once('disconnect', () => void stop());
  process.send?.({ type: 'ready', ...message });
}
