#!/usr/bin/env node
// Runs every package's tests with node:test and the tsx loader, straight from the TypeScript
// sources (the `wxseal-source` export condition), so tests never depend on a stale build.
// Node 20's --test does not expand globs, hence this small finder.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

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

const files = ['packages', 'interop', 'tests']
  .flatMap((d) => { try { return findTests(join(root, d)); } catch { return []; } })
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();

if (files.length === 0) {
  console.error('run-tests: no test file matched', filters);
  process.exit(1);
}
console.log(`run-tests: ${files.length} test files`);

// A hung test fails after this long instead of stalling CI (the slowest test takes well under a minute).
const TEST_TIMEOUT_MS = 240_000;

const child = spawn(
  process.execPath,
  ['--conditions=wxseal-source', '--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${TEST_TIMEOUT_MS}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, WXSEAL_TEST: '1' } },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
