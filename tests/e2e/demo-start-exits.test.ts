// How `npm run demo` and `npm start` end: the demo's temporary folder (a private key, a client
// secret, an admin token) is removed on every way out — success, failure, Ctrl-C — and `npm start`
// on a port that is taken says so in one line with a code and the variable that chooses it.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exitOf, signalGroup, spawnTracked, stopProcess, type Exit } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsx = ['--conditions=wxseal-source', '--import', 'tsx'];
const scratch = mkdtempSync(join(tmpdir(), 'wxseal-exits-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  child: ReturnType<typeof spawnTracked>;
  output: () => { stdout: string; stderr: string };
  exit: Promise<Exit>;
}

function start(script: string, env: NodeJS.ProcessEnv): Run {
  const child = spawnTracked(process.execPath, [...tsx, script], { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, output: () => ({ stdout, stderr }), exit: exitOf(child) };
}

/** Waits for the run to end (bounded: a hung run is stopped and fails the test). */
async function finish(run: Run, timeoutMs = 120_000): Promise<Exit & { stdout: string; stderr: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
  const first = await Promise.race([run.exit, late]);
  clearTimeout(timer);
  if (first === 'late') {
    await stopProcess(run.child, 'SIGKILL');
    assert.fail(`did not exit within ${timeoutMs} ms: ${JSON.stringify(run.output())}`);
  }
  return { ...first, ...run.output() };
}

/** A fresh TMPDIR for one run, so what the run leaves behind is visible. */
function freshTmp(): string {
  return mkdtempSync(join(scratch, 'tmp-'));
}
const demoDirs = (tmp: string): string[] => readdirSync(tmp).filter((n) => n.startsWith('wxseal-demo-'));

async function until(what: string, check: () => boolean, run: Run): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!check()) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) assert.fail(`exited before ${what}: ${JSON.stringify(run.output())}`);
    if (Date.now() > deadline) assert.fail(`no ${what} within 120 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('npm run demo leaves no secrets behind', () => {
  const env = (tmp: string): NodeJS.ProcessEnv => ({ TMPDIR: tmp, WXSEAL_DEV_DIR: '' });

  test('after a complete run', async () => {
    const tmp = freshTmp();
    const r = await finish(start('examples/demo/demo.ts', env(tmp)));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /demo complete/);
    assert.deepEqual(demoDirs(tmp), []);
  });

  test('after a failure', async () => {
    const tmp = freshTmp();
    // An invalid log level makes the gateway refuse its config after the keys were written.
    const r = await finish(start('examples/demo/demo.ts', { ...env(tmp), WXSEAL_LOG_LEVEL: 'loud' }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /WXSEAL_CONFIG_INVALID/);
    assert.deepEqual(demoDirs(tmp), []);
  });

  test('after Ctrl-C (SIGINT) in the middle', async () => {
    const tmp = freshTmp();
    const run = start('examples/demo/demo.ts', env(tmp));
    await until('temporary folder', () => demoDirs(tmp).length > 0, run);
    // Frozen while the signal arrives, so the demo cannot finish first and make this a normal exit.
    signalGroup(run.child, 'SIGSTOP');
    run.child.kill('SIGINT');
    signalGroup(run.child, 'SIGCONT');
    const r = await finish(run);
    assert.equal(r.code, 130, `exit ${r.code}/${r.signal}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(demoDirs(tmp), []);
  });
});

describe('npm start on a port that is taken', () => {
  let busy: Server;
  let busyPort: number;
  after(() => new Promise<void>((r) => (busy ? busy.close(() => r()) : r())));

  /** Runs npm start; a function value is read once the busy port is known. */
  const startOn = async (env: Record<string, string | (() => string)>) => {
    if (!busy) {
      busy = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
      busyPort = (busy.address() as AddressInfo).port;
    }
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'function' ? v() : v]));
    return finish(start('examples/demo/start.ts', { WXSEAL_DEV_DIR: join(scratch, 'dev'), PORT: '0', ADMIN_PORT: '0', ...resolved }));
  };

  test('PORT: one line with CLI_PORT_IN_USE, the port and how to choose another; exit 2', async () => {
    const run = await startOn({ PORT: () => String(busyPort) });
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.equal(run.stderr, `wxseal: CLI_PORT_IN_USE: 127.0.0.1:${busyPort} is already in use: stop what listens there, or choose another port, e.g. PORT=${busyPort + 1} npm start (0 = any free port) (PORT)\n`);
  });

  test('ADMIN_PORT, and a PORT that is not a number', async () => {
    const admin = await startOn({ ADMIN_PORT: () => String(busyPort) });
    assert.equal(admin.code, 2, admin.stdout + admin.stderr);
    assert.match(admin.stderr, new RegExp(`^wxseal: CLI_PORT_IN_USE: 127\\.0\\.0\\.1:${busyPort} is already in use: .*ADMIN_PORT=${busyPort + 1} npm start .*\\(ADMIN_PORT\\)\\n$`));
    const bad = await startOn({ PORT: 'eighty' });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'wxseal: CLI_INVALID_INPUT: "eighty" is not a port number (0-65535; 0 = any free port) (PORT)\n');
  });
});
