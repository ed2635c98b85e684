// `npm run quickstart` runs examples/quickstart.ts, the code the README shows: it must keep working.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('the quickstart runs: sealed call answered, forgery and replay rejected with their codes', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', 'examples/quickstart.ts'], { cwd: root, timeout: 60_000 });
  assert.match(stdout, /1\. sealed call\s+→ 200 \{"orderId":42,"for":"o-123","got":\{"sku":"A-1"\}\}/);
  assert.match(stdout, /2\. forged request\s+→ 401 WXSEAL_BAD_SIGNATURE/);
  assert.match(stdout, /3\. genuine request\s+→ 200/);
  assert.match(stdout, /4\. same bytes again → 401 WXSEAL_REPLAYED_NONCE/);
});
