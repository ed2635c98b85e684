/**
 * The orchestrator: generates the run's keys, measures the crypto limits in-process, starts the
 * upstream, then for each scenario starts its target and a load-generator process, collects the
 * result and the servers' counters, and stops the target. Nothing but the orchestrator, the
 * upstream, the one target and the load generator runs during a measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureCryptoLimits, type CryptoRate } from './crypto-limits.js';
import { DEFAULT_REDIS_URL, redactUrl, runDeviceBench, type DeviceBenchResult } from './devices.js';
import { SESSION_KEY_REUSE_OPTIONS, detectSessionKeyCache, type FeatureCheck } from './features.js';
import { generateBenchKeys, writeBenchKeys, KEYS_ENV, type BenchKeys } from './keys.js';
import type { LoadJob, LoadResult, LoadgenMessage, LatencySummary, PoolSummary } from './loadgen/types.js';
import type { TrafficKind } from './loadgen/pool.js';
import { startChild } from './process.js';
import { computeRatios, type Ratio } from './ratios.js';
import { SCENARIOS, type Scenario, type ScenarioId } from './scenarios.js';
import { TargetUnavailable, upstream as startUpstream, type Target } from './targets.js';

export interface BenchOptions {
  /** Seconds measured per scenario (whole seconds; autocannon samples once a second). */
  durationS: number;
  /** Seconds of unmeasured load before each measurement. */
  warmupS: number;
  connections: number;
  /** Seconds per primitive for the crypto limits. */
  cryptoSeconds: number;
  quick: boolean;
  /** Sealed pools hold (upper bound of the rate) × (warm-up + duration) × this many requests. */
  poolFactor: number;
  /** Connections of each server's undici Pool to the upstream. */
  upstreamConnections: number;
  /** Pooled requests checked one by one before and after each run. */
  sampleSize: number;
  /** Devices wanted in the registry of the devices part (provisioning is also capped in time). */
  deviceRegistrySize: number;
  /** Redis of the devices part's L2 (default redis://127.0.0.1:6379). */
  redisUrl?: string;
  /** Run only these (e is the crypto limits, devices the device-key part). Default: all. */
  only?: ReadonlyArray<BenchPart>;
  /** Progress lines (stderr). */
  progress?: ProgressSink;
}

/** What --only selects: an HTTP scenario, the crypto limits (e) or the device-key part. */
export type BenchPart = ScenarioId | 'e' | 'devices';

export interface ProgressSink {
  /** A line that replaces the previous live line (on a TTY). */
  live(text: string): void;
  /** A line that stays. */
  line(text: string): void;
}

export interface ScenarioResult {
  id: ScenarioId;
  label: string;
  measures: string;
  target: string;
  traffic: TrafficKind;
  status: 'ok' | 'failed' | 'skipped';
  /** Why it failed or was skipped. */
  reason?: string;
  reqPerSec?: number;
  reqPerSecSampleMean?: number;
  latencyMs?: LatencySummary;
  totalResponses?: number;
  durationS?: number;
  statusCodes?: Record<string, number>;
  errors?: number;
  pool?: PoolSummary;
  /** Sanity checks that passed. */
  checks: string[];
  /** The target's own counters after the run. */
  serverStats?: Record<string, unknown>;
  /** CPU time the target process spent per request it served during the scenario, in µs. */
  serverCpuMicrosPerRequest?: number;
  /** Requests the upstream received during the scenario (checks, warm-up and run). */
  upstreamRequests?: number;
}

export interface BenchReport {
  schema: 'wxseal-bench/1';
  date: string;
  command: string;
  environment: { node: string; cpuModel: string; cores: number; platform: string; loadAverageAtStart: number[] };
  options: Omit<BenchOptions, 'progress'>;
  crypto: CryptoRate[];
  scenarios: ScenarioResult[];
  ratios: Ratio[];
  sessionKeyCache: FeatureCheck;
  /** The device-key part (packages/devices), when it ran. */
  devices?: DeviceBenchResult;
  /** Every scenario that ran passed its sanity checks. */
  sanityPassed: boolean;
  elapsedS: number;
}

const MAX_POOL = 400_000;

function wants(options: BenchOptions, id: BenchPart): boolean {
  return !options.only || options.only.includes(id);
}

/** Distinct requests a scenario needs: an upper bound of its rate × its seconds × the pool factor. */
function poolSize(scenario: Scenario, options: BenchOptions, done: ReadonlyMap<ScenarioId, ScenarioResult>, crypto: CryptoRate[]): number {
  if (scenario.traffic === 'plain') return 1;
  const extra = 2 * options.sampleSize + 2 * options.connections;
  if (scenario.traffic === 'forged') return (options.quick ? 500 : 2000) + extra; // cycled: a forged request claims no nonce
  const a = done.get('a')?.status === 'ok' ? done.get('a')!.reqPerSec : undefined;
  const rsa = crypto.find((c) => c.id === 'rsa-unwrap')?.opsPerSec;
  // Valid sealed traffic cannot beat the plain proxy (it does the same work and more); without
  // session-key reuse, it cannot beat the RSA-unwrap rate of all the cores either.
  let bound = a ?? 20_000;
  if (scenario.traffic === 'sealed' && rsa !== undefined) bound = Math.min(bound, rsa * cpus().length);
  const size = Math.ceil(bound * (options.warmupS + options.durationS) * options.poolFactor) + extra;
  return Math.min(size, MAX_POOL);
}

async function upstreamCount(up: Target): Promise<number | undefined> {
  const stats = await up.stats();
  return typeof stats['received'] === 'number' ? stats['received'] : undefined;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Runs one scenario's load generator against `target` and returns its result. */
function runLoad(job: LoadJob, keysPath: string, progress: ProgressSink | undefined, prefix: string): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    const onMessage = (raw: { type: string }): void => {
      const m = raw as LoadgenMessage;
      if (m.type === 'progress') {
        if (m.phase === 'generating') progress?.live(`${prefix} building ${fmt(job.poolSize)} distinct sealed requests… ${fmt(m.done ?? 0)}`);
        else if (m.phase === 'checking') progress?.live(`${prefix} checking a sample of responses…`);
        else progress?.live(`${prefix} ${m.phase === 'warmup' ? 'warm-up' : 'measuring'} ${m.elapsedS}/${m.totalS} s  ${fmt(m.reqPerSec ?? 0)} req/s`);
      } else if (m.type === 'result') {
        settled = true;
        resolve(m.result);
        void child.then((c) => c.close());
      }
    };
    const child = startChild({ name: 'load generator', module: 'loadgen/child', env: { [KEYS_ENV]: keysPath }, onMessage });
    child.then(
      (c) => {
        c.send(job);
        c.process.once('exit', (code, signal) => {
          if (!settled) reject(new Error(`the load generator exited (${signal ?? code}) without a result\n${c.stderrTail()}`));
        });
      },
      (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  ctx: { keysPath: string; upstream: Target; crypto: CryptoRate[]; done: ReadonlyMap<ScenarioId, ScenarioResult>; sessionKeyCache: FeatureCheck },
): Promise<ScenarioResult> {
  const progress = options.progress;
  const base: ScenarioResult = {
    id: scenario.id,
    label: scenario.label,
    measures: scenario.measures,
    target: '',
    traffic: scenario.traffic,
    status: 'skipped',
    checks: [],
  };
  const prefix = `[${scenario.id}] ${scenario.label}:`;
  if (scenario.needsSessionKeyCache && !ctx.sessionKeyCache.available) {
    const reason = `not available yet: ${ctx.sessionKeyCache.detail}`;
    progress?.line(`${prefix} skipped (${reason})`);
    return { ...base, reason };
  }
  progress?.live(`${prefix} starting the target…`);
  let target: Target;
  try {
    target = await scenario.target({ upstreamUrl: ctx.upstream.url, upstreamConnections: options.upstreamConnections, keysPath: ctx.keysPath });
  } catch (err) {
    if (err instanceof TargetUnavailable) {
      progress?.line(`${prefix} skipped (${err.message})`);
      return { ...base, reason: err.message };
    }
    const reason = `the target did not start: ${(err as Error).message}`;
    progress?.line(`${prefix} FAILED (${reason})`);
    return { ...base, status: 'failed', reason };
  }
  try {
    const upstreamBefore = await upstreamCount(ctx.upstream);
    const job: LoadJob = {
      scenario: scenario.id,
      url: target.url,
      traffic: scenario.traffic,
      poolSize: poolSize(scenario, options, ctx.done, ctx.crypto),
      cycle: scenario.traffic === 'plain' || scenario.traffic === 'forged',
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      expect: scenario.expect,
      ...(scenario.traffic === 'sealed-reuse'
        ? { extraClientOptions: { ...SESSION_KEY_REUSE_OPTIONS }, reuseMaxMessages: SESSION_KEY_REUSE_OPTIONS.sessionKeyReuse.maxMessages }
        : {}),
      sampleSize: options.sampleSize,
    };
    const statsBefore = await target.stats();
    const load = await runLoad(job, ctx.keysPath, progress, prefix);
    const serverStats = await target.stats();
    const servedDelta = Number(serverStats['requests']) - Number(statsBefore['requests']);
    const cpuDelta = Number(serverStats['cpuMicros']) - Number(statsBefore['cpuMicros']);
    const serverCpuMicrosPerRequest = servedDelta > 0 && cpuDelta >= 0 ? Math.round((10 * cpuDelta) / servedDelta) / 10 : undefined;
    const upstreamAfter = await upstreamCount(ctx.upstream);
    const upstreamRequests = upstreamBefore !== undefined && upstreamAfter !== undefined ? upstreamAfter - upstreamBefore : undefined;
    const result: ScenarioResult = {
      ...base,
      target: target.name,
      status: load.ok ? 'ok' : 'failed',
      ...(load.error ? { reason: load.error } : {}),
      reqPerSec: load.reqPerSec,
      reqPerSecSampleMean: load.reqPerSecSampleMean,
      latencyMs: load.latencyMs,
      totalResponses: load.totalResponses,
      durationS: load.durationS,
      statusCodes: load.statusCodes,
      errors: load.errors,
      pool: load.pool,
      checks: [...load.checks],
      serverStats,
      ...(serverCpuMicrosPerRequest !== undefined ? { serverCpuMicrosPerRequest } : {}),
      ...(upstreamRequests !== undefined ? { upstreamRequests } : {}),
    };
    if (result.status === 'ok') checkServerSide(scenario, result);
    progress?.line(
      result.status === 'ok'
        ? `${prefix} ${fmt(result.reqPerSec!)} req/s, p50 ${result.latencyMs!.p50} ms, p99 ${result.latencyMs!.p99} ms`
        : `${prefix} FAILED: ${result.reason}`,
    );
    return result;
  } catch (err) {
    const reason = (err as Error).message;
    progress?.line(`${prefix} FAILED: ${reason}`);
    return { ...base, target: target.name, status: 'failed', reason };
  } finally {
    await target.close();
  }
}

/** Checks what the servers saw: forged requests never reach the upstream, decrypt-first really decrypts, the cache hits. */
function checkServerSide(scenario: Scenario, result: ScenarioResult): void {
  const fail = (reason: string): void => {
    result.status = 'failed';
    result.reason = reason;
  };
  const responses = result.totalResponses ?? 0;
  const up = result.upstreamRequests;
  if (up !== undefined) {
    if (scenario.upstream === 'never' && up !== 0) return fail(`${up} forged requests reached the upstream`);
    if (scenario.upstream === 'never') result.checks.push('the upstream received none of the forged requests');
    if (scenario.upstream === 'every-response' && up < responses) return fail(`the upstream received ${up} requests for ${responses} 200 responses`);
    if (scenario.upstream === 'every-response') result.checks.push(`the upstream received a request for each of the ${responses} responses (${up} with warm-up and checks)`);
  }
  const stats = result.serverStats ?? {};
  if ('unwraps' in stats) {
    // Only the decrypt-first server counts unwraps.
    const unwraps = Number(stats['unwraps'] ?? NaN);
    if (!(unwraps >= responses)) return fail(`the decrypt-first server reports ${unwraps} RSA unwraps for ${responses} forged requests`);
    result.checks.push(`the decrypt-first server did ${unwraps} RSA unwraps and AES decryptions before rejecting (${responses} measured)`);
  }
  if (scenario.upstream === 'never' && typeof stats['verified'] === 'number') {
    if (stats['verified'] !== 0) return fail(`the server verified ${String(stats['verified'])} forged requests`);
    result.checks.push('the server verified none of the forged requests');
  }
  if (scenario.needsSessionKeyCache && stats['sessionKeyCache'] !== undefined) {
    const cache = stats['sessionKeyCache'] as { enabled?: boolean; hits?: unknown; misses?: unknown };
    if (!cache.enabled) return fail('the gateway reports no session-key cache');
    const hits = Number(cache.hits);
    const misses = Number(cache.misses);
    if (Number.isFinite(hits) && Number.isFinite(misses)) {
      if (hits === 0) return fail(`the session-key cache had no hit (${misses} misses)`);
      result.checks.push(`session-key cache: ${hits} hits, ${misses} misses (${((100 * hits) / (hits + misses)).toFixed(2)}% of unwraps saved)`);
    }
  }
  if (scenario.needsSessionKeyCache) {
    if (result.pool?.distinctWrappedKeys !== undefined) result.checks.push(`the pool of ${result.pool.size} requests carried ${result.pool.distinctWrappedKeys} distinct wrapped keys`);
  }
}

export async function runBench(options: BenchOptions, command: string): Promise<BenchReport> {
  const started = performance.now();
  const progress = options.progress;
  const cpuList = cpus();
  const environment = {
    node: process.version,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    platform: `${platform()} ${release()}`,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-bench-'));
  const { progress: _omit, ...recordedOptions } = options;
  if (recordedOptions.redisUrl !== undefined) recordedOptions.redisUrl = redactUrl(recordedOptions.redisUrl);
  const scenarios: ScenarioResult[] = [];
  let crypto: CryptoRate[] = [];
  let devices: DeviceBenchResult | undefined;
  let sessionKeyCache: FeatureCheck = { available: false, detail: 'not checked' };
  let upstream: Target | undefined;
  try {
    const keys: BenchKeys = generateBenchKeys();
    const keysPath = writeBenchKeys(dir, keys);
    progress?.line(`wxseal bench: ${environment.cores} × ${environment.cpuModel}, Node ${environment.node}; ${options.durationS} s per scenario, ${options.connections} connections`);

    if (wants(options, 'e')) {
      progress?.live('[e] node:crypto limits, one thread, in-process…');
      crypto = measureCryptoLimits(keys, options.cryptoSeconds);
      progress?.line(`[e] crypto limits: ${crypto.map((c) => `${c.id} ${fmt(c.opsPerSec)}/s`).join(', ')}`);
    }
    if (wants(options, 'devices')) {
      progress?.live('[devices] device keys: Bloom filter, registry, resolve() latency and throughput, in-process…');
      devices = await runDeviceBench({
        quick: options.quick,
        registryDevices: options.deviceRegistrySize,
        redisUrl: options.redisUrl ?? DEFAULT_REDIS_URL,
        ...(progress ? { progress } : {}),
      });
      progress?.line(devices.status === 'ok' ? `[devices] done in ${devices.elapsedS} s` : `[devices] FAILED: ${devices.reason}`);
    }
    if (wants(options, 'f')) {
      sessionKeyCache = await detectSessionKeyCache(keys);
    }

    const selected = SCENARIOS.filter((s) => wants(options, s.id));
    if (selected.length > 0) {
      upstream = await startUpstream(keysPath);
      const done = new Map<ScenarioId, ScenarioResult>();
      for (const scenario of selected) {
        const result = await runScenario(scenario, options, { keysPath, upstream, crypto, done, sessionKeyCache });
        done.set(scenario.id, result);
        scenarios.push(result);
      }
    }
  } finally {
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    schema: 'wxseal-bench/1',
    date: new Date().toISOString(),
    command,
    environment,
    options: recordedOptions,
    crypto,
    scenarios,
    ratios: computeRatios(scenarios, crypto),
    sessionKeyCache,
    ...(devices ? { devices } : {}),
    sanityPassed: scenarios.every((s) => s.status !== 'failed') && devices?.status !== 'failed',
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
  };
}
