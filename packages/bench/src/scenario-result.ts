import type { TrafficKind } from './loadgen/pool.js';
import type { LatencySummary, PoolSummary } from './loadgen/types.js';
import type { ScenarioId } from './scenarios.js';

/** What one HTTP scenario measured, as the harness records it and ratios.ts, report.ts and merge.ts read it. */

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
  /** Scenario (g): the device registry behind the gateway. */
  deviceRegistry?: DeviceRegistryInfo;
}

export interface DeviceRegistryInfo {
  /** Devices wanted and registered (importMany stops at the time budget). */
  requested: number;
  devices: number;
  provisionS: number;
  provisionBudgetS: number;
  hotSet: string;
  /** Which cache levels the gateway used: L1 + Redis L2 + SQLite, or L1 + SQLite. */
  levels: string;
  /** Distinct devices that signed the pooled requests. */
  distinctDevices?: number;
  /** The gateway's device cache over the scenario (checks, warm-up and run), from gateway.devices.stats(). */
  cache?: DeviceCacheDelta;
}

export interface DeviceCacheDelta {
  /** Hot devices loaded into the gateway's cache before it reported ready (of hotDevices). */
  hotPreloaded: number;
  hotDevices: number;
  lookups: number;
  l1Hits: number;
  l1HitRatio: number;
  l2Hits: number;
  sqliteLoads: number;
  notFound: number;
  errors: number;
}
