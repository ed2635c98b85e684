// Node (16.13 and 20) deadlocks when a freshly generated X25519 key is exported as a JWK and a
// garbage collection during the export finalizes the key's generation job: the job's destructor
// waits for the lock the export holds. The old Encap (generateKeyPairSync, then export) hung within
// a few thousand wraps, every time. Wrapping runs in a child process with a deadline, so a hang is a
// failure here rather than a stuck suite.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runProcess } from '../../../tests/support/processes.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const WRAPS = 30_000;

const script = `
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { generateSessionKey, unwrapSessionKey, wrapSessionKey } from '@wxseal/protocol/primitives';
const { publicKey, privateKey } = generateKeyPairSync('x25519');
const key = generateSessionKey();
for (let i = 0; i < ${WRAPS}; i++) {
  const wrapped = wrapSessionKey(publicKey, key);
  if (i % 5000 === 0 && !unwrapSessionKey(privateKey, wrapped).equals(key)) throw new Error('unwrap mismatch at ' + i);
}
console.log('wrapped ${WRAPS}');
`;

test(`${WRAPS} X25519 session-key wraps in a row finish (no deadlock between key generation and GC)`, { timeout: 100_000 }, async () => {
  const r = await runProcess(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', '--input-type=module', '--eval', script], {
    cwd: repoRoot,
    timeoutMs: 90_000,
  });
  assert.equal(r.timedOut, false, `the wraps did not finish within 90 s (deadlock?)\n${r.stderr.slice(-2000)}`);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, new RegExp(`wrapped ${WRAPS}`));
});
