/**
 * The admin listener: the admin API and console under its paths (or a 404 saying it is not
 * configured), and the probes — /healthz (the process runs), /readyz (the nonce store answers, the
 * control-plane view is confirmed within its bound, and the gateway is not draining), /metrics (Prometheus).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errSummary, type Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';
import type { NonceBackend } from './nonce.js';
import type { LiveGateway } from './state.js';
import type { ControlPlaneRuntime } from './control-plane.js';
import type { DeviceRuntime } from './devices.js';
import { AdminApi } from './admin/api.js';
import { sendJson } from './admin/http.js';

export class AdminListener {
  constructor(
    private readonly api: AdminApi | undefined,
    private readonly nonce: NonceBackend,
    private readonly metrics: GatewayMetrics,
    private readonly live: LiveGateway,
    private readonly log: Logger,
    private readonly controlPlane: ControlPlaneRuntime | undefined,
    private readonly devices: DeviceRuntime | undefined,
    /** The Prometheus text of /metrics: this registry's, or with workers every worker's merged. */
    private readonly metricsText: () => Promise<string> = () => metrics.registry.metrics(),
  ) {}

  /** The admin server's request listener. */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((err) => {
      this.log.error({ err: errSummary(err) }, 'admin request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (AdminApi.owns(path)) {
      if (this.api) return this.api.handle(req, res, path, q < 0 ? '' : url.slice(q + 1));
      return sendJson(res, 404, { error: { code: 'ADMIN_NOT_CONFIGURED', message: 'the admin API is not configured (no admin section in the gateway config)' } });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const nonceStore = await this.nonce.ready(500);
        const cp = this.controlPlane;
        const staleness = cp?.staleness();
        const fresh = cp === undefined || !cp.stale();
        const feedMax = this.live.state.config.devices?.changeFeed.maxStalenessMs;
        const feedStaleness = this.devices?.feedStaleness();
        const feedFresh = feedStaleness === undefined || feedMax === undefined || feedStaleness <= feedMax;
        const ready = nonceStore && fresh && feedFresh && !this.live.draining;
        return sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          checks: {
            nonceStore: nonceStore ? 'ok' : 'unreachable',
            draining: this.live.draining,
            ...(cp
              ? {
                  controlPlane: {
                    status: fresh ? 'ok' : 'stale',
                    // null before the first confirmed check (JSON has no Infinity)
                    stalenessMs: staleness !== undefined && Number.isFinite(staleness) ? Math.round(staleness) : null,
                    maxStalenessMs: cp.settings.maxStalenessMs,
                    version: cp.sync.appliedVersion,
                    instanceId: cp.instanceId,
                  },
                }
              : {}),
            ...(feedStaleness !== undefined
              ? { deviceFeed: { status: feedFresh ? 'ok' : 'stale', stalenessMs: Number.isFinite(feedStaleness) ? Math.round(feedStaleness) : null, maxStalenessMs: feedMax } }
              : {}),
          },
        });
      }
      case '/metrics': {
        const text = await this.metricsText();
        res.writeHead(200, { 'content-type': this.metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      default:
        return sendJson(res, 404, { error: 'not found' });
    }
  }
}
