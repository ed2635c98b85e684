/**
 * The orchestrator: generates the run's keys, measures the crypto limits in-process, starts the
 * upstream, then for each scenario starts its target and a load-generator process, collects the
 * result and the servers' counters, and stops the target. Nothing but the orchestrator, the
 * upstream, the one target and the load generator runs during a measurement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAdminBench, type AdminBenchResult } from './admin.js';
import { DEFAULT_FLEET_DATABASE_URL, runFleetBench, type FleetBenchResult } from './fleet.js';
import { measureClientCosts, type ClientCost } from './client-costs.js';
import { measureCryptoLimits, type CryptoRate } from './crypto-limits.js';
import { randomBytes } from 'node:crypto';
import { DEFAULT_REDIS_URL, deleteByPrefix, openRedis, provisionRegistry, redisDisplayUrl, runDeviceBench, type DeviceBenchResult } from './devices.js';
import { HOT_SET_DESCRIPTION, deviceKeyOf } from './device-serials.js';
import { MasterKeyRing, openDeviceDatabase } from '@wxseal/devices';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { SESSION_KEY_REUSE_OPTIONS, detectSessionKeyCache, type FeatureCheck } from './features.js';
import { generateBenchKeys, writeBenchKeys, type BenchKeys } from './keys.js';
import type { LoadJob } from './loadgen/types.js';
import { runLatencyMatrix, type LatencyMatrixResult } from './latency-matrix.js';
import { runTlsBench, type TlsBenchResult } from './tls-bench.js';
import { runNativeBench, type NativeBenchResult } from './native.js';
import { fmt, runLoad } from './load-generator.js';
import { cleanupOnAbandon } from './process.js';
import type { ProgressSink } from './progress.js';
import { computeRatios, type Ratio } from './ratios.js';
import type { DeviceCacheDelta, DeviceRegistryInfo, ScenarioResult } from './scenario-result.js';
import { SCENARIOS, type Scenario, type ScenarioId } from './scenarios.js';
import { TargetUnavailable, upstream as startUpstream, type DeviceRegistryForTarget, type Target } from './targets.js';

export type { ProgressSink } from './progress.js';
export type { DeviceCacheDelta, DeviceRegistryInfo, ScenarioResult } from './scenario-result.js';

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
  /** Run only these (e is the crypto limits, devices the device-key part, admin the admin API's device search). Default: all. */
  only?: ReadonlyArray<BenchPart>;
  /** Progress lines (stderr). */
  progress?: ProgressSink;
}

/** What --only selects: an HTTP scenario, the crypto limits (e), the device-key part or the admin API part. */
export type BenchPart = ScenarioId | 'e' | 'latency' | 'tls' | 'devices' | 'admin' | 'fleet' | 'native';

/** Every part, in the order a full run measures them. */
export const BENCH_PARTS: readonly BenchPart[] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'latency', 'tls', 'devices', 'admin', 'fleet', 'native'];

/** The gateway's device-cache counters between two stats() readings, when the gateway has a device runtime. */
function deviceCacheDelta(before: Record<string, unknown>, after: Record<string, unknown>): DeviceCacheDelta | undefined {
  type DeviceStats = { resolver?: Record<string, unknown>; hotDevices?: number; hotPreloaded?: number };
  const b = before['devices'] as DeviceStats | undefined;
  const a = after['devices'] as DeviceStats | undefined;
  if (!a?.resolver || !b?.resolver) return undefined;
  const d = (key: string): number => Number(a.resolver![key] ?? 0) - Number(b.resolver![key] ?? 0);
  const l1Hits = d('l1Hit');
  const l2Hits = d('l2Hit');
  const sqliteLoads = d('l3Load');
  const notFound = d('l3NotFound');
  const lookups = d('lookups');
  return {
    hotPreloaded: Number(a.hotPreloaded ?? 0),
    hotDevices: Number(a.hotDevices ?? 0),
    lookups,
    l1Hits,
    l1HitRatio: lookups > 0 ? Math.round((10000 * l1Hits) / lookups) / 10000 : 0,
    l2Hits,
    sqliteLoads,
    notFound,
    errors: d('errors'),
  };
}

export interface BenchReport {
  schema: 'wxseal-bench/1';
  date: string;
  command: string;
  environment: { node: string; cpuModel: string; cores: number; platform: string; loadAverageAtStart: number[] };
  options: Omit<BenchOptions, 'progress'>;
  crypto: CryptoRate[];
  /** (e), client side: CPU per sealed call of the client, per suite, against its raw primitives. */
  client?: ClientCost[];
  scenarios: ScenarioResult[];
  ratios: Ratio[];
  sessionKeyCache: FeatureCheck;
  /** The device-key part (packages/devices), when it ran. */
  devices?: DeviceBenchResult;
  /** The admin API part (device search and keyset paging through the gateway), when it ran. */
  admin?: AdminBenchResult;
  /** The fleet part (control-plane propagation delay, staleness-check cost), when it ran. */
  fleet?: FleetBenchResult;
  /** The latency matrix (plain proxy and each suite × concurrency × body size), when it ran. */
  latency?: LatencyMatrixResult;
  /** TLS at the edge: HTTPS against HTTP, keep-alive and a handshake per request, when it ran. */
  tls?: TlsBenchResult;
  /** The verifier per core in Node, Java and Go (forged rejections, valid RSA and X25519), when it ran. */
  native?: NativeBenchResult;
  /**
   * Partial runs (--only) merged into this report after the run described by `command` and `date`:
   * the parts each one replaced. Absent after a full run.
   */
  updates?: Array<{ command: string; date: string; parts: BenchPart[] }>;
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
  // The plain proxy's best measured rate so far, (a) or (j) on every core: one busy second during
  // (a) must not leave a later scenario without requests (seen: (g) ran out after (a) was slowed).
  const proxyRates = (['a', 'j'] as const).map((id) => (done.get(id)?.status === 'ok' ? done.get(id)!.reqPerSec : undefined)).filter((r): r is number => r !== undefined);
  const a = proxyRates.length > 0 ? Math.max(...proxyRates) : undefined;
  const rsa = crypto.find((c) => c.id === 'rsa-unwrap')?.opsPerSec;
  // Valid sealed traffic cannot beat the plain proxy (it does the same work and more); without
  // session-key reuse, it cannot beat the RSA-unwrap rate of all the cores either.
  let bound = a ?? 20_000;
  if (scenario.traffic === 'sealed' && rsa !== undefined) bound = Math.min(bound, rsa * cpus().length);
  const x25519 = crypto.find((c) => c.id === 'x25519-unwrap')?.opsPerSec;
  if (scenario.traffic === 'sealed-x25519' && x25519 !== undefined) bound = Math.min(bound, x25519 * cpus().length);
  // The SM suite's SM2 decryption runs on the gateway's one thread: one core's rate bounds it. The
  // pool costs an SM2 encryption (JavaScript, sm-crypto-v2) per request to build, so a bound on
  // every core would only make the pool outgrow the nonce window.
  const sm2 = crypto.find((c) => c.id === 'sm2-unwrap')?.opsPerSec;
  if (scenario.traffic === 'sealed-sm') bound = Math.min(bound, sm2 ?? 1_000);
  // Signed device traffic pays no RSA: bounded by the plain proxy only.
  // --quick measures each scenario for about a second, so the plain proxy's rate is one noisy
  // sample: taken while the machine was busy, it can sit far below what a later scenario reaches once
  // it is not (seen in CI: (f) ran out of requests after (a) measured 1,685 req/s). Quick pools are
  // small, so they get three times the headroom; the SM pool keeps its bound (each of its requests
  // costs an SM2 encryption in JavaScript to build).
  const headroom = options.quick && scenario.traffic !== 'sealed-sm' ? 3 : 1;
  const size = Math.ceil(bound * (options.warmupS + options.durationS) * options.poolFactor * headroom) + extra;
  return Math.min(size, MAX_POOL);
}

async function upstreamCount(up: Target): Promise<number | undefined> {
  const stats = await up.stats();
  return typeof stats['received'] === 'number' ? stats['received'] : undefined;
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  ctx: {
    keysPath: string;
    upstream: Target;
    crypto: CryptoRate[];
    done: ReadonlyMap<ScenarioId, ScenarioResult>;
    sessionKeyCache: FeatureCheck;
    devices?: { target: DeviceRegistryForTarget; runSecret: string; info: DeviceRegistryInfo };
  },
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
  if (scenario.needsDeviceRegistry && !ctx.devices) {
    const reason = 'the device registry could not be provisioned';
    progress?.line(`${prefix} FAILED (${reason})`);
    return { ...base, status: 'failed', reason };
  }
  progress?.live(`${prefix} starting the target${scenario.needsDeviceRegistry ? ` (migrating the registry, building its Bloom filter from ${fmt(ctx.devices!.info.devices)} serials)` : ''}…`);
  let target: Target;
  try {
    target = await scenario.target({
      upstreamUrl: ctx.upstream.url,
      upstreamConnections: options.upstreamConnections,
      keysPath: ctx.keysPath,
      redisUrl: options.redisUrl ?? DEFAULT_REDIS_URL,
      ...(scenario.needsDeviceRegistry && ctx.devices ? { devices: ctx.devices.target } : {}),
    });
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
      ...(scenario.needsDeviceRegistry && ctx.devices ? { devices: { count: ctx.devices.info.devices, runSecret: ctx.devices.runSecret } } : {}),
    };
    const statsBefore = await target.stats();
    const load = await runLoad(job, ctx.keysPath, progress, prefix);
    const serverStats = await target.stats();
    const deviceCache = deviceCacheDelta(statsBefore, serverStats);
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
      ...(scenario.needsDeviceRegistry && ctx.devices
        ? {
            deviceRegistry: {
              ...ctx.devices.info,
              ...(load.pool.distinctDevices !== undefined ? { distinctDevices: load.pool.distinctDevices } : {}),
              ...(deviceCache ? { cache: deviceCache } : {}),
            },
          }
        : {}),
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
  if (result.deviceRegistry) {
    const r = result.deviceRegistry;
    result.checks.push(
      `registry: ${r.devices} devices provisioned with importMany in ${r.provisionS} s (known keys, HMAC(run secret, serial))${r.devices < r.requested ? `, stopped at the ${r.provisionBudgetS} s budget (${r.requested} wanted)` : ''}; the pool was signed by ${r.distinctDevices ?? '?'} distinct devices; key lookup: ${r.levels}`,
    );
    const c = r.cache;
    if (c) {
      if (c.notFound > 0 || c.errors > 0) return fail(`the gateway's device cache reports ${c.notFound} provisioned serials not found and ${c.errors} errors`);
      result.checks.push(
        `the gateway's device cache (gateway.devices.stats()): ${c.hotPreloaded} of ${c.hotDevices} hot devices loaded before the run; over the scenario ${c.lookups} lookups, ${(100 * c.l1HitRatio).toFixed(1)} % L1 hits, ${c.l2Hits} L2 hits, ${c.sqliteLoads} SQLite loads, none not found`,
      );
    }
  }
  if (scenario.needsDeviceRegistry && typeof stats['verified'] === 'number') {
    if (stats['verified'] < responses) return fail(`the gateway verified and forwarded ${String(stats['verified'])} device requests for ${responses} 200 responses`);
    result.checks.push(`the gateway verified and forwarded ${String(stats['verified'])} device-signed requests (${responses} measured)`);
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

/** Provisioning of scenario (g)'s registry: 30 s at most (quick: 2 s), like the devices part. */
const GATEWAY_REGISTRY_BUDGET_S = { quick: 2, full: 30 };
/** Loading the hot set into the gateway's cache before it reports ready: 15 s at most (quick: 1 s), like the devices part. */
const GATEWAY_PRELOAD_BUDGET_S = { quick: 1, full: 15 };

/**
 * Scenario (g)'s registry: a SQLite database in the run's directory with `deviceRegistrySize`
 * devices (or what the time budget allows) whose keys are KNOWN (deviceKeyOf(runSecret, serial)),
 * so the load generator signs without reading it; and Redis as L2 under a run prefix when it is
 * reachable (else the gateway runs with L1 + SQLite only). Provisioned once per run.
 */
async function provisionGatewayRegistry(
  options: BenchOptions,
  dir: string,
  tag: string,
): Promise<{ registry?: { target: DeviceRegistryForTarget; runSecret: string; info: DeviceRegistryInfo }; cleanup: () => Promise<void> }> {
  const progress = options.progress;
  const runSecret = randomBytes(32);
  const masterKeys = `bench:${MasterKeyRing.generateKey()}`;
  const databaseUrl = `sqlite:${join(dir, 'gateway-devices.db')}`;
  const budgetS = options.quick ? GATEWAY_REGISTRY_BUDGET_S.quick : GATEWAY_REGISTRY_BUDGET_S.full;
  const db = openDeviceDatabase(databaseUrl);
  let provisioned: Awaited<ReturnType<typeof provisionRegistry>>;
  try {
    provisioned = await provisionRegistry(db, {
      masterKeys: MasterKeyRing.parse(masterKeys),
      devices: options.deviceRegistrySize,
      budgetS,
      keyOf: (serial) => deviceKeyOf(runSecret, serial),
      tag,
      ...(progress ? { progress } : {}),
    });
  } catch (err) {
    provisioned = (err as Error).message;
  } finally {
    await db.destroy().catch(() => undefined);
  }
  const redisUrl = options.redisUrl ?? DEFAULT_REDIS_URL;
  const opened = await openRedis(redisUrl);
  const redis = opened.redis;
  const prefix = `wxseal-bench:${process.pid}:${randomBytes(4).toString('hex')}:g:`;
  const cleanup = async (): Promise<void> => {
    if (!redis) return;
    try {
      await deleteByPrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
  };
  if (typeof provisioned === 'string' || provisioned.devices < 1000) {
    progress?.line(`${tag} FAILED to provision the device registry: ${typeof provisioned === 'string' ? provisioned : `only ${provisioned.devices} devices`}`);
    return { cleanup };
  }
  const levels = redis ? `Bloom → L1 → Redis L2 (${redisDisplayUrl(redisUrl)}, run prefix) → SQLite` : `Bloom → L1 → SQLite (no Redis: ${opened.detail})`;
  progress?.line(`${tag} the gateway's key lookup: ${levels}`);
  return {
    registry: {
      runSecret: b64uEncode(runSecret),
      target: {
        databaseUrl,
        masterKeys,
        devices: provisioned.devices,
        preloadBudgetS: options.quick ? GATEWAY_PRELOAD_BUDGET_S.quick : GATEWAY_PRELOAD_BUDGET_S.full,
        ...(redis ? { redis: { url: redisUrl, prefix, cacheKey: b64uEncode(randomBytes(32)) } } : {}),
      },
      info: {
        requested: options.deviceRegistrySize,
        devices: provisioned.devices,
        provisionS: Math.round(provisioned.provisionS * 10) / 10,
        provisionBudgetS: budgetS,
        hotSet: HOT_SET_DESCRIPTION,
        levels,
      },
    },
    cleanup,
  };
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
  const forgetDir = cleanupOnAbandon(() => rmSync(dir, { recursive: true, force: true }));
  const { progress: _omit, ...recordedOptions } = options;
  if (recordedOptions.redisUrl !== undefined) recordedOptions.redisUrl = redisDisplayUrl(recordedOptions.redisUrl);
  const scenarios: ScenarioResult[] = [];
  let crypto: CryptoRate[] = [];
  let client: ClientCost[] | undefined;
  let devices: DeviceBenchResult | undefined;
  let admin: AdminBenchResult | undefined;
  let fleet: FleetBenchResult | undefined;
  let latency: LatencyMatrixResult | undefined;
  let tls: TlsBenchResult | undefined;
  let native: NativeBenchResult | undefined;
  let sessionKeyCache: FeatureCheck = { available: false, detail: 'not checked' };
  let upstream: Target | undefined;
  let deviceCleanup: (() => Promise<void>) | undefined;
  try {
    const keys: BenchKeys = generateBenchKeys();
    const keysPath = writeBenchKeys(dir, keys);
    progress?.line(`wxseal bench: ${environment.cores} × ${environment.cpuModel}, Node ${environment.node}; ${options.durationS} s per scenario, ${options.connections} connections`);

    if (wants(options, 'e')) {
      progress?.live('[e] node:crypto limits, one thread, in-process…');
      crypto = measureCryptoLimits(keys, options.cryptoSeconds);
      progress?.line(`[e] crypto limits: ${crypto.map((c) => `${c.id} ${fmt(c.opsPerSec)}/s`).join(', ')}`);
      progress?.live('[e] the client: CPU per sealed call, per suite, in-process…');
      client = measureClientCosts(keys, options.cryptoSeconds);
      progress?.line(`[e] client CPU per call: ${client.map((c) => `${c.suite} ${c.callMicros.toFixed(1)} µs (${(c.callMicros / c.primitivesMicros).toFixed(2)}× its primitives)`).join(', ')}`);
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
    if (wants(options, 'f') || wants(options, 'k') || wants(options, 'latency') || wants(options, 'tls')) {
      sessionKeyCache = await detectSessionKeyCache(keys);
    }

    const selected = SCENARIOS.filter((s) => wants(options, s.id));
    let gRegistry: Awaited<ReturnType<typeof provisionGatewayRegistry>> | undefined;
    if (selected.length > 0) {
      upstream = await startUpstream(keysPath);
      const done = new Map<ScenarioId, ScenarioResult>();
      for (const scenario of selected) {
        if (scenario.needsDeviceRegistry && gRegistry === undefined) {
          gRegistry = await provisionGatewayRegistry(options, dir, `[${scenario.id}]`);
          deviceCleanup = gRegistry.cleanup;
        }
        const result = await runScenario(scenario, options, {
          keysPath,
          upstream,
          crypto,
          done,
          sessionKeyCache,
          ...(scenario.needsDeviceRegistry && gRegistry?.registry ? { devices: gRegistry.registry } : {}),
        });
        done.set(scenario.id, result);
        scenarios.push(result);
      }
    }
    if (wants(options, 'latency')) {
      upstream ??= await startUpstream(keysPath);
      progress?.live('[latency] concurrency 1, 10, 100 × bodies of 100 B, 10 KB, 1 MB…');
      latency = await runLatencyMatrix({
        quick: options.quick,
        keysPath,
        upstreamUrl: upstream.url,
        upstreamConnections: options.upstreamConnections,
        redisUrl: options.redisUrl ?? DEFAULT_REDIS_URL,
        sessionKeyCache,
        sampleSize: options.sampleSize,
        ...(progress ? { progress } : {}),
      });
      progress?.line(latency.status === 'ok' ? `[latency] done in ${latency.elapsedS} s` : `[latency] FAILED: ${latency.reason}`);
    }
    if (wants(options, 'tls')) {
      upstream ??= await startUpstream(keysPath);
      progress?.live('[tls] the gateway over HTTP and HTTPS: keep-alive and a handshake per request…');
      tls = await runTlsBench({
        quick: options.quick,
        keysPath,
        upstreamUrl: upstream.url,
        upstreamConnections: options.upstreamConnections,
        redisUrl: options.redisUrl ?? DEFAULT_REDIS_URL,
        sessionKeyCache,
        sampleSize: options.sampleSize,
        ...(progress ? { progress } : {}),
      });
      progress?.line(tls.status === 'ok' ? `[tls] done in ${tls.elapsedS} s` : `[tls] FAILED: ${tls.reason}`);
    }
    if (wants(options, 'admin')) {
      // After the scenarios: it revokes devices, so it reuses (g)'s registry only once (g) is done.
      await upstream?.close();
      upstream = undefined;
      const g = gRegistry?.registry;
      progress?.live('[admin] admin API device search and keyset paging…');
      admin = await runAdminBench({
        quick: options.quick,
        registryDevices: options.deviceRegistrySize,
        keysPath,
        dir,
        command,
        ...(g ? { registry: { databaseUrl: g.target.databaseUrl, masterKeys: g.target.masterKeys, devices: g.info.devices, provisionS: g.info.provisionS, requested: g.info.requested } } : {}),
        ...(progress ? { progress } : {}),
      });
      progress?.line(admin.status === 'ok' ? `[admin] done in ${admin.elapsedS} s` : `[admin] FAILED: ${admin.reason}`);
    }
    if (wants(options, 'fleet')) {
      progress?.live('[fleet] control-plane propagation and staleness check…');
      fleet = await runFleetBench({ quick: options.quick, databaseUrl: DEFAULT_FLEET_DATABASE_URL, redisUrl: options.redisUrl ?? DEFAULT_REDIS_URL, ...(progress ? { progress } : {}) });
      progress?.line(fleet.status === 'ok' ? `[fleet] done in ${fleet.elapsedS} s` : `[fleet] FAILED: ${fleet.reason}`);
    }
    if (wants(options, 'native')) {
      // Last, with no server of the bench running: each verifier has the machine to itself.
      await upstream?.close();
      upstream = undefined;
      progress?.live('[native] the verifier per core in Node, Java and Go…');
      native = await runNativeBench({ quick: options.quick, ...(progress ? { progress } : {}) });
      progress?.line(native.status === 'ok' ? `[native] done in ${native.elapsedS} s${native.reason ? ` (${native.reason})` : ''}` : `[native] FAILED: ${native.reason}`);
    }
  } finally {
    await upstream?.close();
    await deviceCleanup?.().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    forgetDir();
  }
  return {
    schema: 'wxseal-bench/1',
    date: new Date().toISOString(),
    command,
    environment,
    options: recordedOptions,
    crypto,
    ...(client ? { client } : {}),
    scenarios,
    ratios: computeRatios(scenarios, crypto),
    sessionKeyCache,
    ...(devices ? { devices } : {}),
    ...(admin ? { admin } : {}),
    ...(fleet ? { fleet } : {}),
    ...(latency ? { latency } : {}),
    ...(tls ? { tls } : {}),
    ...(native ? { native } : {}),
    sanityPassed:
      scenarios.every((s) => s.status !== 'failed') &&
      devices?.status !== 'failed' &&
      admin?.status !== 'failed' &&
      fleet?.status !== 'failed' &&
      latency?.status !== 'failed' &&
      tls?.status !== 'failed' &&
      native?.status !== 'failed',
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
  };
}
