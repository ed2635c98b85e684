// The CLI run from the sources (tests/support/fixtures/wxseal-cli.ts), and gateway processes
// started through it (`wxseal gateway --config FILE`), for the tests in tests/e2e.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopProcess } from './processes.js';

/** The repository's root: the working directory of the CLI processes. */
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** Node's arguments for `wxseal …` from the TypeScript sources (append the CLI's arguments). */
export const WXSEAL_CLI: readonly string[] = ['--conditions=wxseal-source', '--import', 'tsx', join(root, 'tests/support/fixtures/wxseal-cli.ts')];

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  /** Every stdout line so far (pino JSON). */
  lines: string[];
  stderr: () => string;
  /** Resolves with the next log line whose msg matches. */
  waitForLog(msg: RegExp, ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a gateway process (`args`: more options of `wxseal gateway`) and waits until it listens
 * (at most `readyMs`: generous, a guard against a hang, since a start on a machine whose cores are
 * busy takes several seconds). The child is
 * registered for cleanup when spawned (tests/support/processes.ts) and killed here when it never
 * gets ready, so a slow or failed start leaves nothing running.
 */
export async function spawnGateway(configPath: string, env: Record<string, string> = {}, readyMs = 120_000, args: readonly string[] = []): Promise<GatewayProcess> {
  // One process unless the test asks for workers: the default (one per core) would make the number
  // of processes a test starts depend on the machine.
  const workers = args.includes('--workers') ? [] : ['--workers', '1'];
  const child = spawnTracked(process.execPath, [...WXSEAL_CLI, 'gateway', '--config', configPath, ...workers, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters: { re: RegExp; resolve: (v: Record<string, unknown>) => void }[] = [];
  const consumed = new Set<string>(); // lines already handed to a waiter
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const w of [...waiters]) {
        if (typeof parsed.msg === 'string' && w.re.test(parsed.msg) && !consumed.has(line)) {
          consumed.add(line);
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitForLog = (re: RegExp, ms = 60_000): Promise<Record<string, unknown>> => {
    for (const line of lines) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (typeof parsed.msg === 'string' && re.test(parsed.msg) && !consumed.has(line)) {
          consumed.add(line);
          return Promise.resolve(parsed);
        }
      } catch {
        // not JSON
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${ms} ms; stderr: ${stderr}\nstdout: ${lines.join('\n')}`)), ms);
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`gateway exited before logging ${re}; stderr: ${stderr}`));
      };
      child.once('exit', onExit);
      waiters.push({
        re,
        resolve: (v) => {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(v);
        },
      });
    });
  };
  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog(/gateway listening/, readyMs);
  } catch (err) {
    await stopProcess(child, 'SIGKILL');
    throw err;
  }
  return {
    child,
    url: String(listening.url),
    adminUrl: String(listening.adminUrl),
    lines,
    stderr: () => stderr,
    waitForLog,
    exited,
    async kill(signal = 'SIGTERM') {
      // SIGKILL only if the process is still there long after a drain would have ended.
      await stopProcess(child, signal, 30_000);
      return exited;
    },
  };
}
