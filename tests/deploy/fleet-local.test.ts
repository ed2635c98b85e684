// `npm run fleet:local -- --check` (scripts/fleet-local.ts): the fleet of deploy/ as three local
// gateway processes on the shared PostgreSQL and Redis. The script must bring all three to ready,
// get one sealed call answered through each, and leave nothing behind: no process, no schema, no
// Redis key, no temporary directory.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runProcess } from '../support/processes.js';
import { root } from './artefacts.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379/0';

/** Runs the script with `args`, asserts three sealed calls answered and nothing left behind; resolves with its stdout. */
async function checkRun(args: readonly string[]): Promise<string> {
  const run = await runProcess(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', join(root, 'scripts/fleet-local.ts'), ...args], {
    cwd: root,
    env: { ...process.env, WXSEAL_FLEET_PG: PG_URL, WXSEAL_FLEET_REDIS: REDIS_URL },
    // A bound against a hang, not a performance claim: the script has its own readiness deadline.
    timeoutMs: 180_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  assert.equal(run.timedOut, false, output);
  assert.equal(run.code, 0, output);
  const ok = run.stdout.split('\n').filter((l) => /^check gateway-[123]: ok sealed POST \/api\/fleet-check → 200 /.test(l));
  assert.equal(ok.length, 3, output);
  // Each answer is the echo of what was sent through that very gateway.
  for (const n of [1, 2, 3]) assert.ok(ok.some((l) => l.includes(`\\"instance\\":\\"gateway-${n}\\"`)), `gateway-${n}'s echo: ${output}`);
  assert.match(run.stdout, /3\/3 sealed calls answered 200/);

  const schema = /PostgreSQL schema (wxseal_fleet_[a-z0-9]+)/.exec(run.stdout)?.[1];
  const prefix = /Redis prefix (wxseal:fleet-local:[a-z0-9]+:)/.exec(run.stdout)?.[1];
  const dir = /log (\/\S+)\/gateway-1\.log/.exec(run.stdout)?.[1];
  assert.ok(schema && prefix && dir, output);
  assert.equal(existsSync(dir), false, 'the temporary directory (keys, secrets, configs) is removed');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const left = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    assert.equal(left.rowCount, 0, `schema ${schema} dropped`);
  } finally {
    await client.end();
  }
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const [, keys] = await redis.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10_000);
    assert.deepEqual(keys, [], 'the run\'s Redis keys are deleted');
  } finally {
    redis.disconnect();
  }
  return run.stdout;
}

test('fleet-local --check: three gateways ready on one Redis URL, one sealed call through each, everything removed after', async () => {
  const stdout = await checkRun(['--check']);
  assert.equal(stdout.match(/nonce store redis:\/\/127\.0\.0\.1:6379/g)?.length, 3, stdout);
});

test('fleet-local --check --sentinel: the nonce store reached through a real Sentinel run with compose.yaml\'s Sentinel config', async () => {
  const stdout = await checkRun(['--check', '--sentinel']);
  assert.equal(stdout.match(/nonce store redis-sentinel:\/\/127\.0\.0\.1:\d+\/wxseal_local_[a-z0-9]+ /g)?.length, 3, stdout);
});
