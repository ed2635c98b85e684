// The pure parts of `wxseal gateway --workers N` (src/workers.ts): what it refuses and its restart
// policy. The cluster itself runs in tests/e2e/gateway-workers.test.ts (a real --workers 2 process).
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { RESTART_LIMIT, RESTART_WINDOW_MS, defaultWorkerCount, loadGatewayConfig, restartPlan, workerIssues } from '@wxseal/gateway';
import { baseConfig, makeKeys } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-workers-unit');

test('--workers above 1 with the memory nonce store is refused, naming nonceStore.type; redis or one worker is fine', () => {
  const memory = loadGatewayConfig(baseConfig(keys, 'http://127.0.0.1:9'));
  assert.deepEqual(workerIssues(memory, 1), []);
  const [issue, ...more] = workerIssues(memory, 3);
  assert.equal(more.length, 0);
  assert.equal(issue!.path, 'nonceStore.type');
  assert.match(issue!.message, /per process: with --workers 3 a request accepted by one worker could be replayed to another \(use redis, or --workers 1\)/);
  const redis = loadGatewayConfig(baseConfig(keys, 'http://127.0.0.1:9', { nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379' } }));
  assert.deepEqual(workerIssues(redis, 8), []);
});

test('the default worker count is the CPUs the process may use, capped by a container CPU quota (cgroup v2 or v1)', () => {
  const cpus = availableParallelism();
  const files = (entries: Record<string, string>) => (path: string): string => {
    const text = entries[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
  assert.equal(defaultWorkerCount(files({})), cpus, 'no cgroup files: every CPU');
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), cpus, 'v2 without a limit');
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' })), 1, 'half a CPU: one worker');
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu.max': `${150_000} 100000\n` })), Math.min(cpus, 2), '1.5 CPUs: two workers at most');
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu.max': '6400000 100000' })), cpus, 'a quota above the CPUs does not add workers');
  assert.equal(
    defaultWorkerCount(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })),
    1,
    'v1: one CPU',
  );
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })), cpus, 'v1 without a limit');
  assert.equal(defaultWorkerCount(files({ '/sys/fs/cgroup/cpu.max': 'garbage' })), cpus, 'an unreadable value is no limit');
});

test('a worker slot is replaced at once, then after a growing pause, at most RESTART_LIMIT times within the window', () => {
  let earlier: number[] = [];
  const delays: number[] = [];
  const t0 = 1_000_000;
  for (let i = 0; i < RESTART_LIMIT; i++) {
    const plan = restartPlan(earlier, t0 + i * 1000);
    assert.equal(plan.replace, true, `restart ${i + 1}`);
    delays.push(plan.delayMs);
    earlier = plan.recent;
  }
  assert.deepEqual(delays, [0, 250, 500, 1000, 2000]);
  assert.equal(restartPlan(earlier, t0 + RESTART_LIMIT * 1000).replace, false, 'one more within the window stops the gateway');
  // Once the earlier exits are older than the window they no longer count.
  const later = restartPlan(earlier, t0 + (RESTART_LIMIT - 1) * 1000 + RESTART_WINDOW_MS);
  assert.equal(later.replace, true);
  assert.deepEqual(later.recent, [t0 + (RESTART_LIMIT - 1) * 1000 + RESTART_WINDOW_MS]);
  assert.equal(later.delayMs, 0);
});
