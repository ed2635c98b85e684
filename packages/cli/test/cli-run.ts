// Runs the real `wxseal` bin (the compiled CLI: `npx tsc -b` first) for the tests of what a user
// sees: exit codes and the exact lines on stdout and stderr.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const bin = join(root, 'packages/cli/bin/wxseal.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to PATH and HOME (nothing else of this process's environment leaks in). */
  env?: Record<string, string | undefined>;
  /** Node options before the bin, e.g. ['-r', 'preload.cjs']. */
  nodeArgs?: string[];
  cwd?: string;
  timeoutMs?: number;
  /** Written to stdin, which is then closed (always closed: no command waits for a terminal). */
  input?: string;
}

export function runWxseal(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, WXSEAL_TEST_RUN: process.env.WXSEAL_TEST_RUN, ...opts.env };
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [...(opts.nodeArgs ?? []), bin, ...args], { cwd: opts.cwd ?? root, env, timeout: opts.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** The lines of a text, without the empty one after a final newline. */
export const lines = (text: string): string[] => text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
