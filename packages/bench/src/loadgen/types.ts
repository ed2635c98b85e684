/** Messages between the harness and the load-generator process. */
import type { TrafficKind } from './pool.js';

/** What a scenario's responses must look like; anything else aborts the scenario. */
export interface Expectation {
  status: number;
  /** The Wxseal-Error code of a rejection. */
  code?: string;
  /** A sealed response (Content-Type application/vnd.wxseal.sealed and Wxseal-Response-Nonce). */
  sealed?: boolean;
}

export interface LoadJob {
  scenario: string;
  url: string;
  traffic: TrafficKind;
  /** Distinct requests to generate. */
  poolSize: number;
  /** May the pool be sent more than once (plain and forged traffic: no nonce is ever claimed)? */
  cycle: boolean;
  durationS: number;
  warmupS: number;
  connections: number;
  expect: Expectation;
  /** Session-key reuse: one session key and wrapped key for this many requests. */
  reuseMaxMessages?: number;
  /** Extra @wxseal/client options for the real client calls (e.g. sessionKeyReuse). */
  extraClientOptions?: Record<string, unknown>;
  /** Requests from the pool checked one by one before and after the run. */
  sampleSize: number;
  /** Scenario (g): the registry's size and the run secret its device keys derive from (b64u). */
  devices?: { count: number; runSecret: string };
  /** The JSON body's size in bytes (default: the small order document every scenario carries). */
  bodyBytes?: number;
  /**
   * The latency matrix: a fixed number of requests from `connections` closed-loop senders, each
   * timed on its own (microsecond resolution), instead of autocannon for `durationS` seconds.
   */
  fixed?: { requests: number; warmupRequests: number };
  /** HTTPS targets: the CA to trust, and whether TLS sessions are resumed on new connections. */
  tls?: { ca: string; servername?: string; sessionResumption: boolean };
  /** Closed loop only: close the connection after each answer, so every request pays a new connection (and handshake). */
  connectionPerRequest?: boolean;
}

export interface LatencySummary {
  p50: number;
  p97_5: number;
  p99: number;
  average: number;
  max: number;
}

export interface PoolSummary {
  /** Distinct requests generated. */
  size: number;
  /** Requests sent from it (samples, warm-up and run; plain and forged pools are cycled). */
  used: number;
  generationMs: number;
  distinctWrappedKeys?: number;
  /** Scenario (g): distinct devices (key ids) that signed the pool. */
  distinctDevices?: number;
}

export interface LoadResult {
  ok: boolean;
  /** Why the scenario was aborted. */
  error?: string;
  /** Sanity checks that passed, in words. */
  checks: string[];
  reqPerSec: number;
  /** autocannon's own mean of the per-second samples. */
  reqPerSecSampleMean: number;
  latencyMs: LatencySummary;
  totalResponses: number;
  durationS: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  pool: PoolSummary;
}

export type LoadgenMessage =
  | { type: 'progress'; phase: 'generating' | 'checking' | 'warmup' | 'measuring'; elapsedS: number; totalS: number; reqPerSec?: number; done?: number }
  | { type: 'result'; result: LoadResult };
