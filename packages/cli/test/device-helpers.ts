// Shared by the `wxseal device` tests: the real bin, an in-memory DeviceIo, and a direct view of
// the registry the commands wrote to.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceRepository, MasterKeyRing, openDeviceDatabase } from '@wxseal/devices';
import type { DeviceEnv, DeviceIo } from '../src/commands/device.js';
import { limitConcurrency, runProcess } from '../../../tests/support/processes.js';
import { bin, root, type RunResult } from './cli-run.js';

export { bin, root, type RunResult };

/** Fails with a clear message when the compiled CLI the bin runs is older than its sources. */
export function assertBuildIsFresh(): void {
  const newest = (dir: string, ext: string): number =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith(ext))
      .reduce((max, f) => Math.max(max, statSync(join(dir, f)).mtimeMs), 0);
  const src = newest(join(root, 'packages/cli/src'), '.ts');
  let dist = 0;
  try {
    dist = newest(join(root, 'packages/cli/dist'), '.js');
  } catch {
    // no dist at all
  }
  if (dist < src) throw new Error('packages/cli/dist is older than packages/cli/src: run `npx tsc -b` first (the bin runs the compiled CLI)');
}

// Two CLI processes at a time: more only queue for the same two cores, and a dozen starting at
// once on a busy machine made each of them slow enough to hit its timeout.
const cliSlot = limitConcurrency(2);

/**
 * Runs `node packages/cli/bin/wxseal.js ARGS` with exactly `env` (plus PATH and HOME); stderr is a
 * pipe, not a TTY. The timeout only guards against a hang (code 99 then).
 */
export function wxseal(args: string[], env: DeviceEnv, cwd: string = root): Promise<RunResult> {
  const fullEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
  return cliSlot(async () => {
    const r = await runProcess(process.execPath, [bin, ...args], { cwd, env: fullEnv, timeoutMs: 120_000 });
    return { code: r.timedOut || r.code === null ? 99 : r.code, stdout: r.stdout, stderr: r.stderr };
  });
}

export interface CapturedIo extends DeviceIo {
  out: string[];
  err: string[];
  readonly stdoutText: string;
  readonly stderrText: string;
}

/** A DeviceIo that records what the command prints (no progress stream: plain progress lines). */
export function captureIo(): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    get stdoutText() {
      return out.join('');
    },
    get stderrText() {
      return err.join('');
    },
  };
}

/** The registry behind a database URL, read directly (to check what the commands stored). */
export async function withRepository<T>(url: string, ring: string, run: (repo: DeviceRepository) => Promise<T>): Promise<T> {
  const db = openDeviceDatabase(url);
  try {
    return await run(new DeviceRepository({ db, masterKeys: MasterKeyRing.parse(ring) }));
  } finally {
    await db.destroy();
  }
}

/** A master key ring line `id:key`. */
export const ringLine = (id: string): string => `${id}:${MasterKeyRing.generateKey()}`;
