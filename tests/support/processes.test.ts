// The process hygiene of the test suites: a stop reaches the whole process group, a run past its
// bound is killed with what it started, concurrency stays bounded, and scripts/run-tests.mjs
// finds, kills and fails a run for processes a test left behind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { limitConcurrency, liveProcessCount, runProcess, spawnTracked, stopAllProcesses, stopProcess } from './processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
after(() => stopAllProcesses());

/** True while `pid` is a live process (a zombie, dead but not yet reaped, does not count). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

async function gone(pid: number, what: string): Promise<void> {
  // Waits on the condition, bounded: the kernel removes a killed process quickly, but not at once.
  const deadline = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > deadline) assert.fail(`${what} (pid ${pid}) is still running`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function firstLine(child: ReturnType<typeof spawnTracked>): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', () => reject(new Error(`exited before printing: ${out}`)));
  });
}

describe('tests/support/processes.ts', () => {
  test('stopProcess stops the whole process group, grandchildren included, and the child is forgotten', async () => {
    const before = liveProcessCount();
    const child = spawnTracked('sh', ['-c', 'sleep 300 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(liveProcessCount(), before + 1, 'registered at spawn');
    const grandchild = Number(await firstLine(child));
    assert.ok(alive(grandchild));
    const exit = await stopProcess(child);
    assert.equal(exit.signal, 'SIGTERM');
    await gone(grandchild, 'the grandchild');
    assert.equal(liveProcessCount(), before);
    // Twice, or on a process that has exited: no error, the same answer.
    assert.deepEqual(await stopProcess(child), exit);
  });

  test('runProcess kills a command and what it started when it runs past its bound', async () => {
    const r = await runProcess('sh', ['-c', 'sleep 300 & echo $!; wait'], { timeoutMs: 1000 });
    assert.equal(r.timedOut, true);
    await gone(Number(r.stdout.trim()), 'the timed-out command\'s child');
    const ok = await runProcess('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr, ok.timedOut], [3, 'out\n', 'err\n', false]);
  });

  test('limitConcurrency never runs more than its limit at once, and runs everything in order', async () => {
    const slot = limitConcurrency(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        slot(async () => {
          started.push(i);
          active += 1;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active -= 1;
          if (i === 4) throw new Error('four');
          return i;
        }).catch((e: Error) => e.message),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(results, [0, 1, 2, 3, 'four', 5, 6, 7, 8]);
  });
});

describe('scripts/run-tests.mjs', () => {
  test('lists and kills the processes a test left behind, and fails the run', { timeout: 200_000 }, async () => {
    // Without NODE_TEST_CONTEXT, which would make the inner node --test skip its files.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = await runProcess(process.execPath, ['scripts/run-tests.mjs', 'tests/support/fixtures/leaks-a-process.ts'], { cwd: root, env, timeoutMs: 180_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /ℹ pass 1/, 'the fixture test itself passed');
    assert.match(r.stderr, /2 process\(es\) started by the tests still running/);
    const pids = [...r.stderr.matchAll(/pid (\d+): sleep (313|314)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 2, r.stderr);
    for (const pid of pids) await gone(pid, 'a leaked sleeper');
    assert.match(r.stderr, /FAILED: the tests left 2 process\(es\) running/);
  });

  test('kills the children of a test file that died while the other files still run', { timeout: 200_000 }, async () => {
    // A file killed at its timeout dies the same way (node --test ends it; its children stay).
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    // Sorted, the dying file runs first (or beside the other): the run goes on after it died.
    const fixtures = ['tests/support/fixtures/a-dies-with-a-child.ts', 'tests/support/fixtures/b-keeps-running.ts'];
    const r = await runProcess(process.execPath, ['scripts/run-tests.mjs', ...fixtures], { cwd: root, env, timeoutMs: 180_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const killed = /killing a process its test left behind \(its parent exited\): pid (\d+): sleep 315/.exec(r.stderr);
    assert.ok(killed, r.stderr);
    await gone(Number(killed[1]), 'the orphaned child');
    assert.match(r.stderr, /FAILED: the tests left 1 process\(es\) running/);
  });
});
