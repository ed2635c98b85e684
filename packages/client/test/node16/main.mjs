// Runs one transpiled test file of the client on this Node (16.13 in node16-runtime.test.ts) with
// node-test.mjs, and prints one JSON line per test and a last line with the totals. Exits 0 only
// when every test passed and nothing failed outside a test.
import { pathToFileURL } from 'node:url';
import { run } from './node-test.mjs';

const file = process.argv[2];
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
// A reader that went away (EPIPE) ends the run: reporting the error would only write to it again.
process.stdout.on('error', () => process.exit(2));
let failed = 0;
let passed = 0;
let stray = 0;

// An error outside any test (a rejected promise nobody awaited) fails the file, as in node:test.
const strayError = (kind) => (err) => {
  stray += 1;
  print({ type: 'stray', kind, error: err instanceof Error ? err.stack || err.message : String(err) });
};
process.on('unhandledRejection', strayError('unhandledRejection'));
process.on('uncaughtException', strayError('uncaughtException'));

try {
  await import(pathToFileURL(file).href);
  await run((result) => {
    if (result.ok) passed += 1;
    else failed += 1;
    print({ type: 'test', ...result });
  });
} catch (err) {
  stray += 1;
  print({ type: 'stray', kind: 'load', error: err instanceof Error ? err.stack || err.message : String(err) });
}
print({ type: 'done', node: process.version, passed, failed, stray });
// Servers a test forgot to close must not keep this process (and the test waiting for it) alive.
process.exit(failed === 0 && stray === 0 && passed > 0 ? 0 : 1);
