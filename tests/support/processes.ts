// Child processes of the test suites: registered for cleanup the moment they are spawned (before
// any wait for readiness, so a start that times out or throws still gets cleaned up), each in a
// process group of its own so a stop reaches whatever it started in turn, and killed when the test
// process exits however it got there. A semaphore bounds how many run at once.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();

// The last line of defence: `after()` hooks normally stop everything, but a file that fails or
// times out may never reach them. process.kill is synchronous, so it works in an 'exit' handler.
process.on('exit', () => {
  for (const child of live) signalGroup(child, 'SIGKILL');
});

/** The environment a child gets: the run marker of scripts/run-tests.mjs is kept even when `env` replaces the rest. */
function withRunMarker(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const base = env ?? process.env;
  const marker = process.env.WXSEAL_TEST_RUN;
  return marker === undefined ? base : { ...base, WXSEAL_TEST_RUN: marker };
}

/** Sends `signal` to the child's process group (its own, see spawnTracked); false when nothing was there. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    try {
      return child.kill(signal);
    } catch {
      return false;
    }
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (at once when it already has). */
export function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A spawn that failed (ENOENT) emits 'error' and no 'exit'.
    child.once('error', () => resolve({ code: child.exitCode, signal: child.signalCode }));
  });
}

/**
 * `spawn` with the child registered for cleanup before this returns, in a process group of its
 * own (`detached`; never unref'd, so the test process still waits for it).
 */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true, env: withRunMarker(options.env) });
  if (child.pid === undefined) {
    // Not started (the 'error' event says why); nothing to clean up.
    return child;
  }
  live.add(child);
  const forget = (): void => void live.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  return child;
}

/**
 * Stops a child and everything in its process group: `signal` first, SIGKILL after `graceMs`.
 * Resolves with how it exited. Safe to call twice, or on a child that has already exited.
 */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<Exit> {
  const exited = exitOf(child);
  if (!signalGroup(child, signal)) return exited;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (first !== 'late') {
    // The leader is gone; what it started in its group may not be.
    signalGroup(child, 'SIGKILL');
    return first;
  }
  signalGroup(child, 'SIGKILL');
  return exited;
}

/** Stops every child spawned through spawnTracked that is still running (for `after()` hooks). */
export async function stopAllProcesses(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all([...live].map((child) => stopProcess(child, signal)));
}

/** How many children spawned through spawnTracked are running now. */
export function liveProcessCount(): number {
  return live.size;
}

/** At most `limit` of the functions it runs are in progress at once; the others wait their turn, in order. */
export function limitConcurrency(limit: number): <T>(run: () => Promise<T>) => Promise<T> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(run: () => Promise<T>): Promise<T> => {
    // A finishing run hands its slot straight to the next waiter, so no newcomer can slip in between.
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active += 1;
    try {
      return await run();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active -= 1;
    }
  };
}

export interface RunOutput extends Exit {
  stdout: string;
  stderr: string;
  /** True when it was killed for running past `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs a command to completion (spawnTracked, so it is cleaned up whatever happens) and collects
 * its output. Past `timeoutMs` (a guard against a hang: keep it generous) its process group is killed.
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { timeoutMs?: number; input?: string } = {},
): Promise<RunOutput> {
  const { timeoutMs = 120_000, input, ...spawnOptions } = options;
  const child = spawnTracked(command, args, { ...spawnOptions, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (input !== undefined) child.stdin?.end(input);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child, 'SIGKILL');
  }, timeoutMs);
  try {
    // 'close' (not 'exit'): every byte of stdout and stderr has been read by then.
    const closed = new Promise<Exit>((resolve) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })));
    const result = await Promise.race([closed, spawnError.then((err) => Promise.reject(err))]);
    return { ...result, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
    // Whatever the command left in its group goes with it.
    signalGroup(child, 'SIGKILL');
  }
}
