/**
 * The servers under test, one function per target. Each starts its server in its own child
 * process and returns `{ url, close }` (plus `stats`, the counters the server exposes).
 * Scenarios (scenarios.ts) name their target by one of these functions.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { request } from 'undici';
import { openRedis } from './devices.js';
import { KEYS_ENV } from './keys.js';
import { startChild } from './process.js';

/** Processes of the whole-machine scenarios (j, k): one per core, as `wxseal gateway --workers` defaults to. */
export const CLUSTER_WORKERS = Math.max(2, availableParallelism());

export interface Target {
  /** What it is, for the report. */
  name: string;
  /** Base URL of the server, http://127.0.0.1:<port>. */
  url: string;
  /** Stops the server's process. */
  close(): Promise<void>;
  /** The server's counters (GET /__bench/stats, unprotected); `{}` when it has none. */
  stats(): Promise<Record<string, unknown>>;
}

export interface TargetContext {
  /** The upstream every proxy and gateway forwards to. */
  upstreamUrl: string;
  /** Connections of each server's undici Pool to the upstream. */
  upstreamConnections: number;
  /** Path of the run's key material (client secret, server RSA key). */
  keysPath: string;
  /** Scenario (g): the device registry the gateway's `devices` section points at. */
  devices?: DeviceRegistryForTarget;
  /** Redis for the nonce store of a gateway of several processes (k). */
  redisUrl: string;
  /** The TLS part: the gateway's public listener speaks HTTPS with this certificate and key. */
  tls?: { certFile: string; keyFile: string };
}

/** Where scenario (g)'s registry is, and what the gateway needs to read it. */
export interface DeviceRegistryForTarget {
  /** sqlite:/path/devices.db */
  databaseUrl: string;
  /** The master key ring (compact form), passed to the gateway in an environment variable. */
  masterKeys: string;
  /** Devices registered (sizes the gateway's Bloom filter). */
  devices: number;
  /** Redis as L2 (run prefix, cache key passed in an environment variable); absent: L1 + SQL only. */
  redis?: { url: string; prefix: string; cacheKey: string };
  /** Seconds the gateway may spend loading the hot set into its cache before it reports ready. */
  preloadBudgetS: number;
}

/** Environment variables of the gateway child of scenario (g). */
export const DEVICE_MASTER_KEYS_ENV = 'WXSEAL_BENCH_DEVICE_MASTER_KEYS';
export const DEVICE_CACHE_KEY_ENV = 'WXSEAL_BENCH_DEVICE_CACHE_KEY';

export type TargetFactory = (ctx: TargetContext) => Promise<Target>;

/** A target that cannot run yet (e.g. the real gateway before it lands); the scenario is skipped with this message. */
export class TargetUnavailable extends Error {}

async function fetchStats(url: string): Promise<Record<string, unknown>> {
  try {
    const res = await request(new URL('/__bench/stats', url));
    const text = await res.body.text();
    return res.statusCode === 200 ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function fetchJson(url: string): Promise<Record<string, unknown>> {
  const res = await request(url);
  return JSON.parse(await res.body.text()) as Record<string, unknown>;
}

async function serverChild(name: string, module: string, ctx: TargetContext, extra: Record<string, unknown> = {}): Promise<Target> {
  const child = await startChild({
    name,
    module,
    config: { upstreamUrl: ctx.upstreamUrl, upstreamConnections: ctx.upstreamConnections, ...extra },
    env: { [KEYS_ENV]: ctx.keysPath },
  });
  const url = String(child.ready['url']);
  return { name, url, close: () => child.close(), stats: () => fetchStats(url) };
}

/** The upstream service (node:http, small JSON answer), shared by every scenario of a run. */
export async function upstream(keysPath: string): Promise<Target> {
  const child = await startChild({ name: 'upstream', module: 'servers/upstream', env: { [KEYS_ENV]: keysPath } });
  const url = String(child.ready['url']);
  return { name: 'upstream (node:http)', url, close: () => child.close(), stats: () => fetchStats(url) };
}

export const targets = {
  /** (a) A plain Fastify proxy, no wxseal: the ceiling. */
  plainProxy: (ctx: TargetContext) => serverChild('plain proxy', 'servers/plain-proxy', ctx),

  /** (i) The floor for a rejection: a plain endpoint answering every request itself with a 401. */
  plainEndpoint: (ctx: TargetContext) => serverChild('plain endpoint', 'servers/plain-endpoint', ctx),

  /** (d) The wrong order: RSA unwrap and AES decrypt before the HMAC. Bench-only. */
  decryptFirst: (ctx: TargetContext) => serverChild('decrypt-first server', 'servers/decrypt-first', ctx),

  /** (b), (c) The real gateway (packages/gateway, `startGateway(config)`), in-memory nonce store. */
  realGateway: (ctx: TargetContext) => realGatewayTarget(ctx, false),

  /** (f) The real gateway with its session-key cache on. */
  realGatewayWithSessionKeyCache: (ctx: TargetContext) => realGatewayTarget(ctx, true),

  /** (j) The plain proxy on every core (node:cluster, round-robin), the whole-machine ceiling. */
  plainProxyCluster: async (ctx: TargetContext): Promise<Target> => {
    const child = await startChild({
      name: 'plain proxy cluster',
      module: 'servers/plain-proxy-cluster',
      config: { upstreamUrl: ctx.upstreamUrl, upstreamConnections: ctx.upstreamConnections, workers: CLUSTER_WORKERS },
      env: { [KEYS_ENV]: ctx.keysPath },
    });
    const statsUrl = String(child.ready['statsUrl']);
    return { name: `plain proxy × ${CLUSTER_WORKERS} workers`, url: String(child.ready['url']), close: () => child.close(), stats: () => fetchJson(statsUrl) };
  },

  /** (k) `wxseal gateway --workers N` (the CLI, built package), session-key cache, Redis nonce store. */
  realGatewayCluster: async (ctx: TargetContext): Promise<Target> => {
    const opened = await openRedis(ctx.redisUrl);
    opened.redis?.disconnect();
    if (!opened.redis) throw new TargetUnavailable(`a gateway of several processes needs a shared nonce store: no Redis (${opened.detail})`);
    const child = await startChild({
      name: 'real gateway cluster',
      module: 'servers/real-gateway-cluster',
      config: {
        upstreamUrl: ctx.upstreamUrl,
        upstreamConnections: ctx.upstreamConnections,
        workers: CLUSTER_WORKERS,
        redisUrl: ctx.redisUrl,
        redisPrefix: `wxseal:bench:${randomBytes(6).toString('hex')}:nonce:`,
      },
      env: { [KEYS_ENV]: ctx.keysPath },
      readyTimeoutMs: 90_000,
    });
    const adminUrl = String(child.ready['adminUrl']);
    const statsUrl = String(child.ready['statsUrl']);
    return {
      name: `wxseal gateway --workers ${CLUSTER_WORKERS}`,
      url: String(child.ready['url']),
      close: () => child.close(),
      // The gateway's counters (merged over its workers), with the CPU of its whole process tree.
      stats: async () => ({ ...(await gatewayStats(adminUrl)), cpuMicros: (await fetchJson(statsUrl))['cpuMicros'] }),
    };
  },

  /** (g) The real gateway with a `devices` section (the device registry of the run) and a sign-only route. */
  realGatewayWithDevices: (ctx: TargetContext) => {
    if (!ctx.devices) throw new TargetUnavailable('no device registry was provisioned');
    return realGatewayTarget(ctx, false, ctx.devices);
  },
} satisfies Record<string, TargetFactory>;

async function realGatewayTarget(ctx: TargetContext, sessionKeyCache: boolean, devices?: DeviceRegistryForTarget): Promise<Target> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import('@wxseal/gateway')) as Record<string, unknown>;
  } catch (err) {
    throw new TargetUnavailable(`the real gateway is not available yet: @wxseal/gateway does not load (${(err as Error).message})`);
  }
  if (typeof mod['startGateway'] !== 'function') {
    throw new TargetUnavailable('the real gateway is not available yet: @wxseal/gateway does not export startGateway(config)');
  }
  const child = await startChild({
    name: 'real gateway',
    module: 'servers/real-gateway',
    config: {
      upstreamUrl: ctx.upstreamUrl,
      upstreamConnections: ctx.upstreamConnections,
      sessionKeyCache,
      ...(ctx.tls ? { tls: ctx.tls } : {}),
      ...(devices
        ? {
            devices: {
              databaseUrl: devices.databaseUrl,
              devices: devices.devices,
              preloadBudgetS: devices.preloadBudgetS,
              ...(devices.redis ? { redis: { url: devices.redis.url, prefix: devices.redis.prefix } } : {}),
            },
          }
        : {}),
    },
    env: {
      [KEYS_ENV]: ctx.keysPath,
      ...(devices ? { [DEVICE_MASTER_KEYS_ENV]: devices.masterKeys, ...(devices.redis ? { [DEVICE_CACHE_KEY_ENV]: devices.redis.cacheKey } : {}) } : {}),
    },
    // With a device registry the gateway migrates it and builds its Bloom filter from every serial before listening.
    ...(devices ? { readyTimeoutMs: 180_000 } : {}),
  });
  const adminUrl = String(child.ready['adminUrl']);
  const statsUrl = typeof child.ready['statsUrl'] === 'string' ? child.ready['statsUrl'] : undefined;
  const stats = async (): Promise<Record<string, unknown>> => {
    const out = await gatewayStats(adminUrl);
    if (statsUrl) {
      // (g): the device cache's counters, gateway.devices.stats(), from the bench's side listener.
      const res = await request(statsUrl);
      out['devices'] = JSON.parse(await res.body.text()) as unknown;
    }
    return out;
  };
  return { name: 'real gateway', url: String(child.ready['url']), close: () => child.close(), stats };
}

/**
 * The gateway's own Prometheus counters, in the shape the harness checks: requests it verified and
 * forwarded, and its session-key cache. Read from /metrics on its admin listener.
 */
async function gatewayStats(adminUrl: string): Promise<Record<string, unknown>> {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  const sum = (pattern: RegExp): number =>
    text
      .split('\n')
      .filter((line) => pattern.test(line))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  const stats: Record<string, unknown> = {
    verified: sum(/^wxseal_gateway_requests_total\{.*outcome="forwarded"/),
    requests: sum(/^wxseal_gateway_requests_total\{/),
    cpuMicros: Math.round(1e6 * sum(/^wxseal_gateway_process_cpu_seconds_total /)),
  };
  const outcomes: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^wxseal_gateway_requests_total\{.*outcome="([^"]+)".*\} (\S+)$/.exec(line);
    if (m) outcomes[m[1]!] = (outcomes[m[1]!] ?? 0) + Number(m[2]);
  }
  stats['outcomes'] = outcomes;
  if (/^wxseal_gateway_session_key_cache\{/m.test(text)) {
    stats['sessionKeyCache'] = {
      enabled: true,
      hits: sum(/^wxseal_gateway_session_key_cache\{stat="hits"\}/),
      misses: sum(/^wxseal_gateway_session_key_cache\{stat="misses"\}/),
    };
  }
  return stats;
}
