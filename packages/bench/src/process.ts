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

/** Every child still running, for abandon() when the harness itself is stopped. */
const running = new Set<ChildProcess>();
/** What must go when the harness is stopped (temporary directories). */
const onAbandon = new Set<() => void>();

/** Registers a synchronous cleanup for abandon(); returns its removal. */
export function cleanupOnAbandon(fn: () => void): () => void {
  onAbandon.add(fn);
  return () => onAbandon.delete(fn);
}

/**
 * The harness was stopped (SIGINT/SIGTERM): kill every child at once, run the cleanups, and end
 * this process. SIGKILL, not process.exit: a Node process whose off-thread loader hooks (tsx) are
 * busy can block forever in exit (seen: orphaned load generators asleep on a futex for 40 min).
 */
export function abandon(): never {
  for (const child of running) killGroup(child, 'SIGKILL');
  for (const fn of onAbandon) {
    try {
      fn();
    } catch {
      // Best effort: the rest still runs.
    }
  }
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/** A child and whatever it started (each child leads its own process group). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // the group is gone already
  }
}

/** Starts a bench child and waits for its `{ type: 'ready' }` message. */
export function startChild(options: StartChildOptions): Promise<BenchChild> {
  const child = spawn(process.execPath, [...process.execArgv, benchModule(options.module)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env, WXSEAL_BENCH_CONFIG: JSON.stringify(options.config ?? {}) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    // Its own process group, so that what it starts (cluster workers, the gateway CLI) goes with it.
    detached: true,
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  let closing = false;
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    closing = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
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
  // Ends with SIGKILL rather than process.exit (see abandon()): a child must never outlive its
  // harness. A stop that hangs is cut after 15 s.
  const stop = async (): Promise<void> => {
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 15_000).unref();
    try {
      await onStop?.();
    } finally {
      process.kill(process.pid, 'SIGKILL');
    }
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.once('disconnect', () => void stop());
  process.send?.({ type: 'ready', ...message });
}

export interface CommandResult {
  /** Exit code, null when it was killed (timeout) or could not start. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The last 8 000 characters it wrote on stderr. */
  stderrTail: string;
  timedOut: boolean;
  /** Why it could not start (e.g. `spawn java ENOENT`), when it could not. */
  spawnError?: string;
}

export interface RunCommandOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Killed (its whole process group: SIGTERM, then SIGKILL 3 s later) once this long has passed. */
  timeoutMs: number;
  /** Every line it writes on stdout or stderr, as it comes (progress). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/**
 * Runs an external program (javac, java, go) to its end, in a process group of its own that the
 * timeout and abandon() both kill, whatever it started. Never rejects: a program that is missing,
 * fails or runs too long is described in the result.
 */
export function runCommand(command: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      resolve({ code: null, signal: null, stdout: '', stderrTail: '', timedOut: false, spawnError: (err as Error).message });
      return;
    }
    let stdout = '';
    let stderr = '';
    const partial = { stdout: '', stderr: '' };
    const feed = (stream: 'stdout' | 'stderr', chunk: string): void => {
      if (stream === 'stdout') stdout = stdout.length > 1_000_000 ? stdout : stdout + chunk;
      else stderr = (stderr + chunk).slice(-8000);
      if (!options.onLine) return;
      const lines = (partial[stream] + chunk).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(line.trimEnd(), stream);
    };
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => feed('stdout', chunk));
    child.stderr?.on('data', (chunk: string) => feed('stderr', chunk));
    if (child.pid !== undefined) running.add(child);
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
    }, options.timeoutMs);
    let spawnError: string | undefined;
    child.once('error', (err) => {
      spawnError = err.message;
      // A program that could not start emits no 'close'.
      if (child.pid === undefined) finish(null, null);
    });
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      running.delete(child);
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream].trim() !== '') options.onLine?.(partial[stream].trimEnd(), stream);
      resolve({ code, signal, stdout, stderrTail: stderr, timedOut, ...(spawnError !== undefined ? { spawnError } : {}) });
    };
    child.once('close', (code, signal) => finish(code, signal));
  });
}
