/**
 * Partial runs (`--only`): the parts that ran replace theirs in the last results (benchmarks.json),
 * the others are kept, so `npm run bench -- --only admin` updates the admin section of
 * BENCHMARKS.md without dropping the rest of the last full run. The header keeps describing that
 * run; `updates` lists what was replaced since, by which command and when.
 */
import { BENCH_PARTS, type BenchPart, type BenchReport, type ScenarioResult } from './harness.js';
import { computeRatios } from './ratios.js';
import { SCENARIOS } from './scenarios.js';

export function mergeReports(previous: BenchReport, partial: BenchReport, parts: readonly BenchPart[]): BenchReport {
  const ran = new Set<BenchPart>(parts);
  const scenarios: ScenarioResult[] = [];
  for (const { id } of SCENARIOS) {
    const s = ran.has(id) ? partial.scenarios.find((x) => x.id === id) : previous.scenarios.find((x) => x.id === id);
    if (s) scenarios.push(s);
  }
  const crypto = ran.has('e') ? partial.crypto : previous.crypto;
  const client = ran.has('e') ? partial.client : previous.client;
  const devices = ran.has('devices') ? partial.devices : previous.devices;
  const admin = ran.has('admin') ? partial.admin : previous.admin;
  const fleet = ran.has('fleet') ? partial.fleet : previous.fleet;
  const latency = ran.has('latency') ? partial.latency : previous.latency;
  const tls = ran.has('tls') ? partial.tls : previous.tls;
  const native = ran.has('native') ? partial.native : previous.native;
  const order = (list: readonly BenchPart[]): BenchPart[] => [...list].sort((x, y) => BENCH_PARTS.indexOf(x) - BENCH_PARTS.indexOf(y));
  const updates = [...(previous.updates ?? []).filter((u) => !u.parts.every((p) => ran.has(p))), { command: partial.command, date: partial.date, parts: order(parts) }];
  const { devices: _d, admin: _a, fleet: _f, latency: _l, tls: _t, native: _n, updates: _u, client: _c, ...rest } = previous;
  return {
    ...rest,
    crypto,
    ...(client ? { client } : {}),
    scenarios,
    ratios: computeRatios(scenarios, crypto),
    sessionKeyCache: ran.has('f') ? partial.sessionKeyCache : previous.sessionKeyCache,
    ...(devices ? { devices } : {}),
    ...(admin ? { admin } : {}),
    ...(fleet ? { fleet } : {}),
    ...(latency ? { latency } : {}),
    ...(tls ? { tls } : {}),
    ...(native ? { native } : {}),
    updates,
    sanityPassed:
      scenarios.every((s) => s.status !== 'failed') &&
      devices?.status !== 'failed' &&
      admin?.status !== 'failed' &&
      fleet?.status !== 'failed' &&
      latency?.status !== 'failed' &&
      tls?.status !== 'failed' &&
      native?.status !== 'failed',
  };
}

