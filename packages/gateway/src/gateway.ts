/**
 * A running gateway, assembled: the logger, metrics, nonce store, devices and admin parts; the
 * state requests are verified and routed with (state.ts); the request pipelines behind the public
 * listener (router.ts → pipelines/, every answer through respond.ts, logged by access-log.ts);
 * the admin listener (probes.ts); and start, reload and shutdown (lifecycle.ts).
 */
import { WxsealError } from '@wxseal/protocol';
import { SessionKeyCache } from '@wxseal/server';
import type { Registry } from 'prom-client';
import { AccessLog } from './access-log.js';
import { loadGatewayConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { DeviceEndpoints } from './device-endpoints.js';
import { DeviceRuntime, type GatewayDevices } from './devices.js';
import { InFlight, Lifecycle } from './lifecycle.js';
import { Listeners } from './listeners.js';
import { Throttled, errSummary, gatewayLogger, type Logger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import { createNonceBackend } from './nonce.js';
import type { PipelineParts } from './pipelines/parts.js';
import { DevicePipeline } from './pipelines/devices.js';
import { PassthroughPipeline } from './pipelines/passthrough.js';
import { WxsealPipeline } from './pipelines/wxseal.js';
import { AdminListener } from './probes.js';
import { Responder } from './respond.js';
import { Router } from './router.js';
import { buildState, type LiveGateway, type StateSources } from './state.js';
import { UpstreamPools } from './upstream.js';
import { AdminApi } from './admin/api.js';
import { combinedInventory, tlsCertificateInventory, type CertificateInventory } from './admin/certificates.js';
import { TlsCertificateRegistry } from './tls/registry.js';
import { EdgeTls } from './tls/edge-tls.js';
import { LastSeen } from './admin/devices-service.js';
import { CredentialState } from './admin/state.js';
import { ControlPlaneRuntime, controlPlaneSettings } from './control-plane.js';
import { LiveStats, type StatsSource } from './admin/stats.js';
import type { ClusterMember } from './workers.js';

export interface StartGatewayOptions {
  /** A pino logger; the gateway logs through a child of it with redaction. Default: JSON on stdout. */
  logger?: Logger;
  /** The gateway's clock in Unix ms — verifier, device registry and cache, admin API, log throttling (default Date.now); tests inject one. */
  now?: () => number;
  /** What the admin API lists under /certificates (e.g. an adapted @wxseal/wechatpay CertificateManager). */
  certificateInventory?: CertificateInventory;
  /**
   * This process as a worker of `wxseal gateway --workers N` (workers.ts): its log lines carry
   * `worker`, only worker 1 opens the admin listener and heartbeats, and the admin listener's
   * /metrics and stats cover every worker.
   */
  cluster?: ClusterMember;
}

export interface RunningGateway {
  /** Base URL of the public listener, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin listener (/healthz, /readyz, /metrics). */
  readonly adminUrl: string;
  /** The config in force (after the last successful reload). */
  readonly config: GatewayConfig;
  /** This gateway's Prometheus registry (also served on `${adminUrl}/metrics`). */
  readonly registry: Registry;
  /** The device registry and key lookup, when the config has a `devices` section. */
  readonly devices: GatewayDevices | undefined;
  /**
   * Re-reads the config file (or takes `next`), validates it and swaps client credentials, server
   * keys, routes and limits without dropping a connection or an in-flight request. On any error
   * the current config stays in force; the error is logged and the promise rejects with it.
   * Listeners, the nonce store, the session key cache and the log level need a restart.
   */
  reload(next?: string | GatewayConfigInput | GatewayConfig): Promise<void>;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight requests finish (at most
   * `shutdown.drainTimeoutMs`), then closes the remaining connections, the upstream pools and Redis.
   */
  close(): Promise<void>;
}

/** Starts a gateway: validates the config (a path, an object or a loaded config), connects, listens. */
export async function startGateway(config: string | GatewayConfigInput | GatewayConfig, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const gateway = new Gateway(loadGatewayConfig(config), options);
  await gateway.start();
  return gateway;
}

/** A recurring dependency failure is logged once per this interval, with how many were folded in. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

class Gateway implements RunningGateway {
  readonly #live: LiveGateway;
  readonly #metrics: GatewayMetrics;
  readonly #devices: DeviceRuntime | undefined;
  readonly #listeners: Listeners;
  readonly #lifecycle: Lifecycle;

  constructor(config: GatewayConfig, options: StartGatewayOptions) {
    const member = options.cluster;
    const log = member ? gatewayLogger(options.logger, config.log.level).child({ worker: member.id }) : gatewayLogger(options.logger, config.log.level);
    const now = options.now ?? Date.now;
    // Every TLS certificate in use (edge, client CAs, upstreams), for the expiry gauge and the admin API.
    const tlsCertificates = new TlsCertificateRegistry();
    // The edge certificate is read and validated before anything opens a connection: unusable
    // material fails the start here (WXSEAL_CONFIG_INVALID naming the file and why).
    const edgeTls = config.listeners.public.tls
      ? new EdgeTls({
          config: config.listeners.public.tls,
          registry: tlsCertificates,
          log,
          countReload: (result) => metrics.tlsReloads.inc({ target: 'edge', result }),
          audit: (entry) => controlPlane?.store.audit.append(entry) ?? Promise.resolve(),
          now,
        })
      : undefined;
    const throttled = (): Throttled => new Throttled(FAILURE_LOG_INTERVAL_MS, now);
    const storeErrors = throttled();
    const redisErrors = throttled();
    const deviceErrors = throttled();
    const dependencyErrors = throttled();
    const controlPlaneErrors = throttled();
    const stats = new LiveStats(now);
    // The admin worker of a --workers gateway counts every worker (the others' snapshots over IPC).
    const gatewayStats = member?.admin ? member.statsSource(stats, (err) => log.warn({ err: errSummary(err) }, 'stats: the other workers did not answer')) : undefined;
    const statsSource: StatsSource = gatewayStats ?? stats;
    // First, before any connection is opened: an unusable state directory fails the start here.
    const cpSettings = controlPlaneSettings(config);
    const controlPlane = cpSettings
      ? new ControlPlaneRuntime(config, cpSettings, {
          now,
          log,
          applied: () => {
            live.state = buildState(live.state.config, sources);
          },
          heartbeatStats: () => (gatewayStats ? gatewayStats.cached() : stats.snapshot()),
          onError: (err, component) => controlPlaneErrors.run((suppressed) => log.warn({ component, err: errSummary(err), suppressed }, 'control plane failed')),
        })
      : undefined;
    const credentials = controlPlane ? new CredentialState(controlPlane) : undefined;
    const admin = config.admin ? { stats, lastSeen: new LastSeen() } : undefined;
    const sessionKeyCache = config.sessionKeyCache ? new SessionKeyCache(config.sessionKeyCache) : undefined;
    const metrics = new GatewayMetrics({
      tlsCertificates: () => tlsCertificates.list(),
      nonceStoreUp: () => nonce.up(),
      nonceStoreLosses: () => ({ count: nonce.losses(), lastAtMs: nonce.lossAtMs() }),
      sessionKeyCache: () => (sessionKeyCache ? { hits: sessionKeyCache.hits, misses: sessionKeyCache.misses, size: sessionKeyCache.size } : undefined),
      controlPlane: () => (controlPlane ? { stalenessMs: controlPlane.staleness(), version: controlPlane.sync.appliedVersion } : undefined),
      deviceFeedStalenessMs: () => devices?.feedStaleness(),
    });
    const nonce = createNonceBackend(config.nonceStore, {
      onStoreError: (err) => {
        const code = err instanceof WxsealError ? err.code : 'WXSEAL_NONCE_STORE_UNAVAILABLE';
        metrics.nonceStoreErrors.inc({ code });
        storeErrors.run((suppressed) => log.warn({ code, suppressed }, 'nonce store failed; requests are refused (fail closed)'));
      },
      onRedisError: (err) => redisErrors.run((suppressed) => log.warn({ err: errSummary(err), suppressed }, 'redis connection error')),
    });
    const devices = config.devices
      ? new DeviceRuntime(config.devices, {
          now,
          onError: (err, component) => deviceErrors.run((suppressed) => log.warn({ component, err: errSummary(err), suppressed }, 'device registry or cache failed')),
        })
      : undefined;
    const deviceEndpoints =
      config.devices && devices
        ? new DeviceEndpoints({
            config: config.devices,
            runtime: devices,
            nonceStore: nonce.store,
            nonceTimeoutMs: nonce.verifierTimeoutMs ?? 5_000,
            windowSeconds: config.limits.windowSeconds,
            // Read per call: a reload may change the clients.
            isClientKeyId: (keyId) => live.state.clientKeyIds.has(keyId),
            now,
          })
        : undefined;

    const sources: StateSources = {
      nonce,
      sessionKeyCache,
      devices,
      credentials,
      controlPlane,
      now,
      onDependencyError: (err, dependency) => dependencyErrors.run((suppressed) => log.warn({ dependency, err: errSummary(err), suppressed }, 'verifier dependency failed')),
    };
    const live: LiveGateway = { state: buildState(config, sources), draining: false };
    const adminApi =
      config.admin && admin && credentials && controlPlane
        ? new AdminApi({
            config: config.admin,
            state: credentials,
            controlPlane,
            stats: statsSource,
            lastSeen: admin.lastSeen,
            log,
            now,
            gatewayConfig: () => live.state.config,
            devices: devices?.repository,
            // The configuration's TLS certificates always; WeChat's when the embedder hands an inventory.
            certificates: combinedInventory([
              // A refresh of the "public" TLS owner (or of everything) re-reads the edge files, like POST /tls/edge/reload.
              tlsCertificateInventory(tlsCertificates, async (name) => (edgeTls && (name === undefined || name === 'public') && edgeTls.reload('admin').ok ? 1 : 0)),
              options.certificateInventory,
            ]),
            ownOrigins: () => this.#listeners.adminOrigins,
            edgeTls,
          })
        : undefined;

    const accessLog = new AccessLog(log, metrics, live, now, admin, devices !== undefined);
    const respond = new Responder(live, accessLog, metrics, log, now);
    const parts: PipelineParts = { log, metrics, pools: new UpstreamPools({ tls: { registry: tlsCertificates, log, reloads: metrics.tlsReloads, now }, routes: config.routes }), respond, accessLog };
    const inFlight = new InFlight(metrics);
    const router = new Router({
      live,
      inFlight,
      respond,
      wxseal: new WxsealPipeline(parts),
      passthrough: new PassthroughPipeline(parts),
      devices: deviceEndpoints && new DevicePipeline(deviceEndpoints, parts),
    });
    // With workers, /metrics is the merge the primary makes of every worker's registry.
    const metricsText = member ? () => member.metrics() : () => metrics.registry.metrics();
    this.#listeners = new Listeners(config.listeners.public, router.onRequest, new AdminListener(adminApi, nonce, metrics, live, log, controlPlane, devices, metricsText).onRequest, edgeTls);
    this.#lifecycle = new Lifecycle({
      live,
      sources,
      log,
      metrics,
      inFlight,
      listeners: this.#listeners,
      pools: parts.pools,
      nonce,
      devices,
      controlPlane,
      edgeTls,
      // Worker 1 alone answers for the gateway: the admin listener and the control-plane heartbeat.
      adminInstance: member === undefined || member.admin,
    });
    member?.attach({ registry: metrics.registry, stats: admin?.stats, reload: () => this.#lifecycle.reload() });
    this.#live = live;
    this.#metrics = metrics;
    this.#devices = devices;
  }

  get url(): string {
    return this.#listeners.url;
  }

  get adminUrl(): string {
    return this.#listeners.adminUrl;
  }

  get config(): GatewayConfig {
    return this.#live.state.config;
  }

  get registry(): Registry {
    return this.#metrics.registry;
  }

  get devices(): GatewayDevices | undefined {
    return this.#devices;
  }

  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  reload(next?: string | GatewayConfigInput | GatewayConfig): Promise<void> {
    return this.#lifecycle.reload(next);
  }

  close(): Promise<void> {
    return this.#lifecycle.close();
  }
}
