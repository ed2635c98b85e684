/**
 * A gateway's life after assembly: start (dependencies first, then the listeners), reload (a new
 * config swapped in whole, without dropping a connection), and shutdown (drain the in-flight
 * requests within a bound, then close connections, pools and stores).
 */
import type { ServerResponse } from 'node:http';
import { loadGatewayConfig, markLoaded, type GatewayConfig, type GatewayConfigInput } from './config.js';
import type { DeviceRuntime } from './devices.js';
import { GatewayConfigError } from './errors.js';
import type { Listeners } from './listeners.js';
import { errSummary, type Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';
import type { NonceBackend } from './nonce.js';
import { buildState, type LiveGateway, type StateSources } from './state.js';
import type { UpstreamPools } from './upstream.js';
import type { ControlPlaneRuntime } from './control-plane.js';
import { perInstanceState } from './fleet-config.js';
import type { EdgeTls } from './tls/edge-tls.js';

/** Config sections a reload cannot apply: they keep their running values until a restart. */
const RESTART_ONLY = ['listeners', 'nonceStore', 'sessionKeyCache', 'log', 'devices', 'admin', 'fleet', 'controlPlane'] as const;

/** The requests being handled on the public listener, for the gauge and for draining. */
export class InFlight {
  #count = 0;
  #onIdle: (() => void) | undefined;

  constructor(private readonly metrics: GatewayMetrics) {}

  get count(): number {
    return this.#count;
  }

  /** Counts the request until its response closes. */
  track(res: ServerResponse): void {
    this.#count++;
    this.metrics.inFlight.inc();
    res.once('close', this.#released);
  }

  // One function for every response, so tracking a request allocates no closure.
  readonly #released = (): void => {
    this.#count--;
    this.metrics.inFlight.dec();
    if (this.#count === 0) this.#onIdle?.();
  };

  /** True once no request is in flight, false when `ms` passed first. */
  async idle(ms: number): Promise<boolean> {
    const idle = await new Promise<boolean>((resolve) => {
      if (this.#count === 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      this.#onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.#onIdle = undefined;
    return idle;
  }
}

export interface LifecycleParts {
  readonly live: LiveGateway;
  readonly sources: StateSources;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly inFlight: InFlight;
  readonly listeners: Listeners;
  readonly pools: UpstreamPools;
  readonly nonce: NonceBackend;
  readonly devices: DeviceRuntime | undefined;
  readonly controlPlane: ControlPlaneRuntime | undefined;
  /** The public listener's TLS material (listeners.public.tls); reloaded with the config. */
  readonly edgeTls: EdgeTls | undefined;
  /** False in workers 2..N of a --workers gateway: no admin listener, no heartbeat (worker 1 answers for them). */
  readonly adminInstance: boolean;
}

export class Lifecycle {
  #closing: Promise<void> | undefined;

  constructor(private readonly parts: LifecycleParts) {}

  async start(): Promise<void> {
    const { live, log, listeners, nonce, devices, controlPlane } = this.parts;
    const config = live.state.config;
    try {
      if (config.nonceStore.type === 'redis') {
        // Wait (bounded) for the first connection so the first requests are not refused needlessly;
        // without Redis the gateway still starts, refuses wxseal requests and reports not ready.
        const ok = await nonce.waitReady(config.nonceStore.connectTimeoutMs);
        if (!ok) log.warn({ redis: config.nonceStore.displayUrl }, 'redis is not reachable yet; wxseal requests are refused until it is');
      }
      // The credentials in force come from the control plane: applied before traffic (fail closed until then).
      await controlPlane?.start({ heartbeat: this.parts.adminInstance });
      // The Bloom filter is built before traffic: until then every unknown serial would reach SQL.
      await devices?.start();
      await listeners.listen(config.listeners, { admin: this.parts.adminInstance });
      await this.parts.edgeTls?.start();
      // The watch on the routes' upstream TLS files (their material was read with the config).
      await this.parts.pools.start();
    } catch (err) {
      await this.parts.edgeTls?.close();
      listeners.public.close();
      listeners.admin.close();
      await controlPlane?.close();
      await nonce.close();
      await this.parts.pools.close(0);
      await devices?.close();
      throw err;
    }
    log.info(
      {
        url: listeners.url,
        profile: config.profile,
        ...(this.parts.adminInstance ? { adminUrl: listeners.adminUrl } : {}),
        routes: live.state.routes.routes.map((r) => ({ name: r.name, prefix: r.prefix, mode: r.mode, upstream: r.origin })),
        clients: config.clients.length,
        serverKeys: config.serverKeys.map((k) => k.id),
        ...(config.admin && this.parts.adminInstance ? { admin: { api: `${listeners.adminUrl}/admin/api/v1`, console: `${listeners.adminUrl}/console/`, stateDir: config.admin.stateDir } } : {}),
        ...(this.parts.controlPlane ? { controlPlane: { database: this.parts.controlPlane.settings.database.displayUrl, instanceId: this.parts.controlPlane.instanceId } } : {}),
        nonceStore: config.nonceStore.type === 'redis' ? { type: 'redis', url: config.nonceStore.displayUrl } : { type: 'memory' },
        ...(config.devices
          ? {
              devices: {
                database: config.devices.database.displayUrl,
                redis: config.devices.redis?.displayUrl,
                activation: config.devices.activation.enabled ? config.devices.activation.path : false,
                rotation: config.devices.rotation.enabled ? config.devices.rotation.path : false,
              },
            }
          : {}),
      },
      'gateway listening',
    );
    const perInstance = perInstanceState(config);
    if (perInstance.length > 0) {
      log.warn({ fleet: config.fleet, perInstance: perInstance.map((p) => ({ setting: p.path, why: p.message })) }, 'this gateway keeps some state per instance (not shared with other gateways)');
    }
  }

  /**
   * Reloads the config (see RunningGateway.reload), then the edge TLS material from its files
   * whatever the config's outcome: SIGHUP is also how an operator says "the certificate changed".
   * A TLS failure keeps the current certificate and is reported on its own (log, metric, audit);
   * it does not fail the config reload.
   */
  async reload(next?: string | GatewayConfigInput | GatewayConfig): Promise<void> {
    try {
      await this.#reloadConfig(next);
    } finally {
      this.parts.edgeTls?.reload('signal');
      // The upstream TLS files too (a no-op for a route the new config just brought in).
      this.parts.pools.reloadTls();
    }
  }

  async #reloadConfig(next?: string | GatewayConfigInput | GatewayConfig): Promise<void> {
    const { live, log, metrics } = this.parts;
    const current = live.state.config;
    try {
      const source = next ?? current.configPath;
      if (source === undefined) {
        throw new GatewayConfigError([{ path: '', message: 'this gateway was started from an object; pass the new config to reload()' }]);
      }
      // The same profile as at start: a reload never swaps dev settings into a release gateway.
      const loaded = loadGatewayConfig(source, { profile: current.profile });
      const ignored = RESTART_ONLY.filter((k) => JSON.stringify(loaded[k]) !== JSON.stringify(current[k]) || (k === 'nonceStore' && nonceUrlChanged(loaded, current)));
      // Sections that need a restart keep their running values, so `config` tells what is in force.
      const applied = markLoaded({
        ...loaded,
        listeners: current.listeners,
        nonceStore: current.nonceStore,
        sessionKeyCache: current.sessionKeyCache,
        log: current.log,
        devices: current.devices,
        admin: current.admin,
        fleet: current.fleet,
        controlPlane: current.controlPlane,
      });
      // Atomic: requests already verified keep their own state and session keys.
      live.state = buildState(applied, this.parts.sources);
      // The routes' upstream TLS material as this load read it; the pools of replaced material drain.
      await this.parts.pools.configure(applied.routes);
      metrics.reloads.inc({ result: 'success' });
      log.info({ clients: applied.clients.length, serverKeys: applied.serverKeys.map((k) => k.id), routes: applied.routes.length }, 'config reloaded');
      if (ignored.length > 0) log.warn({ sections: ignored }, 'these config sections changed but need a restart; the running values stay');
    } catch (err) {
      metrics.reloads.inc({ result: 'failure' });
      log.error({ err: errSummary(err) }, 'config reload failed; the current config stays in force');
      throw err;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const { live, log, inFlight, listeners } = this.parts;
    const drainMs = live.state.config.shutdown.drainTimeoutMs;
    live.draining = true;
    log.info({ inFlight: inFlight.count, drainTimeoutMs: drainMs }, 'draining');
    const publicClosed = new Promise<void>((resolve) => listeners.public.close(() => resolve()));
    listeners.public.closeIdleConnections();
    if (!(await inFlight.idle(drainMs))) log.warn({ inFlight: inFlight.count }, 'drain timeout: closing the remaining connections');
    // Whatever is left is idle keep-alive sockets (or requests past the drain bound).
    listeners.public.closeAllConnections();
    await publicClosed;
    // (close() on a server that never listened calls back at once, with an error to ignore)
    const adminClosed = new Promise<void>((resolve) => listeners.admin.close(() => resolve()));
    listeners.admin.closeAllConnections();
    await adminClosed;
    await this.parts.pools.close(1000);
    await this.parts.nonce.close();
    await this.parts.devices?.close();
    await this.parts.controlPlane?.close();
    await this.parts.edgeTls?.close();
    log.info('gateway stopped');
  }
}

function nonceUrlChanged(a: GatewayConfig, b: GatewayConfig): boolean {
  return a.nonceStore.type === 'redis' && b.nonceStore.type === 'redis' && a.nonceStore.url !== b.nonceStore.url;
}
