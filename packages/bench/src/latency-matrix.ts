/**
 * The latency matrix: the plain proxy and each suite of valid sealed traffic (RSA-OAEP, X25519,
 * a reused session key) at concurrency 1, 10 and 100 with request bodies of 100 B, 10 KB and 1 MB.
 * Each cell sends a fixed number of distinct requests from closed-loop senders (each sends its next
 * request when its answer is in, as awaiting callers do) and times every one of them, so the
 * percentiles have sub-millisecond resolution. One target process and one load generator per suite.
 */
import type { FeatureCheck } from './features.js';
import { SESSION_KEY_REUSE_OPTIONS } from './features.js';
import { LoadGenerator, fmt } from './load-generator.js';
import type { TrafficKind } from './loadgen/pool.js';
import type { Expectation, LatencySummary, LoadJob } from './loadgen/types.js';
import type { ProgressSink } from './progress.js';
import { targets, type Target, type TargetFactory } from './targets.js';

export const LATENCY_BODY_SIZES = [100, 10_000, 1_000_000] as const;
export const LATENCY_CONCURRENCY = [1, 10, 100] as const;

export type LatencySuiteId = 'plain' | 'rsa' | 'x25519' | 'session-key';

interface LatencySuite {
  id: LatencySuiteId;
  label: string;
  target: TargetFactory;
  traffic: TrafficKind;
  expect: Expectation;
  needsSessionKeyCache?: boolean;
}

const SEALED: Expectation = { status: 200, sealed: true };

export const LATENCY_SUITES: readonly LatencySuite[] = [
  { id: 'plain', label: 'plain proxy (no wxseal)', target: targets.plainProxy, traffic: 'plain', expect: { status: 200 } },
  { id: 'rsa', label: 'sealed, RSA-OAEP server key', target: targets.realGateway, traffic: 'sealed', expect: SEALED },
  { id: 'x25519', label: 'sealed, X25519 server key (HPKE)', target: targets.realGateway, traffic: 'sealed-x25519', expect: SEALED },
  {
    id: 'session-key',
    label: 'sealed, reused session key',
    target: targets.realGatewayWithSessionKeyCache,
    traffic: 'sealed-reuse',
    expect: SEALED,
    needsSessionKeyCache: true,
  },
];

export interface LatencyCell {
  suite: LatencySuiteId;
  bodyBytes: number;
  concurrency: number;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  /** Timed requests (after the warm-up). */
  requests?: number;
  reqPerSec?: number;
  latencyMs?: LatencySummary;
  /** The target process's CPU (user + system) per request over warm-up and run. */
  serverCpuMicrosPerRequest?: number;
}

export interface LatencyMatrixResult {
  status: 'ok' | 'failed';
  reason?: string;
  /** How many requests a cell times, in words. */
  method: string;
  suites: Array<{ id: LatencySuiteId; label: string; target: string }>;
  cells: LatencyCell[];
  elapsedS: number;
}

/** Timed requests and warm-up requests of a cell: enough for a p99 at every concurrency, within the nonce window. */
export function cellRequests(bodyBytes: number, concurrency: number, quick: boolean): { requests: number; warmupRequests: number } {
  const large = bodyBytes >= 100_000;
  const requests = quick ? (large ? Math.max(20, concurrency) : Math.max(100, 2 * concurrency)) : large ? Math.max(100, 3 * concurrency) : Math.max(1000, 20 * concurrency);
  const warmupRequests = Math.min(requests, Math.max(concurrency, Math.ceil(requests / 5)));
  return { requests, warmupRequests };
}

export interface LatencyMatrixOptions {
  quick: boolean;
  keysPath: string;
  upstreamUrl: string;
  upstreamConnections: number;
  redisUrl: string;
  sessionKeyCache: FeatureCheck;
  sampleSize: number;
  progress?: ProgressSink;
}

export function latencySizeText(bytes: number): string {
  return bytes >= 1_000_000 ? `${bytes / 1_000_000} MB` : bytes >= 1000 ? `${bytes / 1000} KB` : `${bytes} B`;
}

async function cpuOf(target: Target): Promise<{ requests: number; cpuMicros: number } | undefined> {
  const s = await target.stats();
  const requests = Number(s['requests']);
  const cpuMicros = Number(s['cpuMicros']);
  return Number.isFinite(requests) && Number.isFinite(cpuMicros) ? { requests, cpuMicros } : undefined;
}

export async function runLatencyMatrix(options: LatencyMatrixOptions): Promise<LatencyMatrixResult> {
  const started = performance.now();
  const progress = options.progress;
  const cells: LatencyCell[] = [];
  const suites: LatencyMatrixResult['suites'] = [];
  for (const suite of LATENCY_SUITES) {
    const skip = (status: 'failed' | 'skipped', reason: string): void => {
      for (const bodyBytes of LATENCY_BODY_SIZES) for (const concurrency of LATENCY_CONCURRENCY) cells.push({ suite: suite.id, bodyBytes, concurrency, status, reason });
    };
    const prefix = `[latency] ${suite.label}`;
    if (suite.needsSessionKeyCache && !options.sessionKeyCache.available) {
      skip('skipped', `not available yet: ${options.sessionKeyCache.detail}`);
      continue;
    }
    progress?.live(`${prefix}: starting the target…`);
    let target: Target;
    try {
      target = await suite.target({ upstreamUrl: options.upstreamUrl, upstreamConnections: options.upstreamConnections, keysPath: options.keysPath, redisUrl: options.redisUrl });
    } catch (err) {
      skip('failed', `the target did not start: ${(err as Error).message}`);
      progress?.line(`${prefix}: FAILED (the target did not start)`);
      continue;
    }
    suites.push({ id: suite.id, label: suite.label, target: target.name });
    let generator: LoadGenerator | undefined;
    try {
      generator = await LoadGenerator.start(options.keysPath);
      for (const bodyBytes of LATENCY_BODY_SIZES) {
        for (const concurrency of LATENCY_CONCURRENCY) {
          const { requests, warmupRequests } = cellRequests(bodyBytes, concurrency, options.quick);
          const cellPrefix = `${prefix}, ${latencySizeText(bodyBytes)} × ${concurrency}:`;
          const job: LoadJob = {
            scenario: `latency:${suite.id}:${bodyBytes}:${concurrency}`,
            url: target.url,
            traffic: suite.traffic,
            poolSize: suite.traffic === 'plain' ? 1 : warmupRequests + requests + 2 * options.sampleSize,
            cycle: suite.traffic === 'plain',
            // An upper bound of the cell's time, for the nonce-window checks of the pool.
            durationS: 20,
            warmupS: 0,
            connections: concurrency,
            expect: suite.expect,
            sampleSize: options.sampleSize,
            bodyBytes,
            fixed: { requests, warmupRequests },
            ...(suite.traffic === 'sealed-reuse'
              ? { extraClientOptions: { ...SESSION_KEY_REUSE_OPTIONS }, reuseMaxMessages: SESSION_KEY_REUSE_OPTIONS.sessionKeyReuse.maxMessages }
              : {}),
          };
          const before = await cpuOf(target);
          const load = await generator.run(job, progress, cellPrefix);
          const after = await cpuOf(target);
          const served = before && after ? after.requests - before.requests : 0;
          const cell: LatencyCell = {
            suite: suite.id,
            bodyBytes,
            concurrency,
            status: load.ok ? 'ok' : 'failed',
            ...(load.error ? { reason: load.error } : {}),
            requests: load.totalResponses,
            reqPerSec: Math.round(load.reqPerSec),
            latencyMs: load.latencyMs,
            ...(before && after && served > 0 ? { serverCpuMicrosPerRequest: Math.round((10 * (after.cpuMicros - before.cpuMicros)) / served) / 10 } : {}),
          };
          cells.push(cell);
          progress?.line(
            cell.status === 'ok'
              ? `${cellPrefix} p50 ${cell.latencyMs!.p50} ms, p99 ${cell.latencyMs!.p99} ms, ${fmt(cell.reqPerSec!)} req/s`
              : `${cellPrefix} FAILED: ${cell.reason}`,
          );
        }
      }
    } catch (err) {
      const reason = (err as Error).message;
      const done = new Set(cells.filter((c) => c.suite === suite.id).map((c) => `${c.bodyBytes}:${c.concurrency}`));
      for (const bodyBytes of LATENCY_BODY_SIZES) {
        for (const concurrency of LATENCY_CONCURRENCY) if (!done.has(`${bodyBytes}:${concurrency}`)) cells.push({ suite: suite.id, bodyBytes, concurrency, status: 'failed', reason });
      }
      progress?.line(`${prefix}: FAILED: ${reason}`);
    } finally {
      await generator?.close();
      await target.close();
    }
  }
  const failed = cells.filter((c) => c.status === 'failed');
  const countsAt = (b: number, c: number): string => {
    const r = cellRequests(b, c, options.quick);
    return `${r.requests} (+${r.warmupRequests}) at ${c}`;
  };
  const counts = LATENCY_BODY_SIZES.map((b) => `${latencySizeText(b)}: ${LATENCY_CONCURRENCY.map((c) => countsAt(b, c)).join(', ')}`).join('; ');
  return {
    status: failed.length > 0 ? 'failed' : 'ok',
    ...(failed.length > 0 ? { reason: `${failed.length} cells failed; first: ${failed[0]!.reason ?? ''}` } : {}),
    method: `closed loop: each sender sends its next request when the answer to its last is in; every request timed from its send to the last byte of its answer (hrtime) and distinct (its own nonce); the upstream answers a small JSON document. Timed requests (+ warm-up) per cell — ${counts}`,
    suites,
    cells,
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
  };
}
