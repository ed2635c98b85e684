import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TlsCertificateEntry } from './tls/registry.js';

/**
 * What a request came to, the `outcome` label of wxseal_gateway_requests_total:
 * - `forwarded`: verified (or passthrough), answered by the upstream, response sent;
 * - `rejected`: refused by the verifier (see wxseal_gateway_rejections_total for the code);
 * - `upstream_unavailable`, `upstream_timeout`, `upstream_too_large`, `upstream_bad_response`:
 *   the upstream failed and the client got the gateway's (sealed) error;
 * - `not_found`: no route; `bad_request`: a path the gateway refuses to route;
 * - `client_cert_refused`: mutual TLS refused the request (no client certificate where one is
 *   required, one that does not verify, or one not bound to the request's key id);
 * - `client_closed`: the client went away before the answer;
 * - `internal_error`: the gateway itself failed (WXSEAL_GATEWAY_INTERNAL_ERROR, sealed or signed
 *   once the request had verified).
 */
export type RequestOutcome =
  | 'forwarded'
  | 'rejected'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'upstream_too_large'
  | 'upstream_bad_response'
  | 'not_found'
  | 'bad_request'
  | 'client_cert_refused'
  | 'body_too_large'
  | 'client_closed'
  | 'internal_error';

/**
 * The Prometheus metrics of one gateway, in a registry of its own. With `--workers N` each worker
 * has one and the primary merges them (workers.ts, prom-client's AggregatorRegistry): counters,
 * histograms and most gauges add up; a gauge with an `aggregator` says how else (the nonce store is
 * up only when it is up in every worker, staleness is the worst worker's, the version the oldest).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'outcome'>;
  readonly rejections: Counter<'route' | 'code'>;
  readonly verification: Histogram<'route'>;
  readonly upstream: Histogram<'route' | 'outcome'>;
  readonly nonceStoreErrors: Counter<'code'>;
  readonly inFlight: Gauge;
  readonly reloads: Counter<'result'>;
  /** TLS material reloads (target: edge, or an upstream's name; result: success, failure). */
  readonly tlsReloads: Counter<'target' | 'result'>;

  constructor(gauges: {
    nonceStoreUp: () => number;
    /** Losses of the nonce store's records detected so far, and the loss time applied now (Unix ms). */
    nonceStoreLosses?: () => { count: number; lastAtMs: number | undefined };
    sessionKeyCache: () => { hits: number; misses: number; size: number } | undefined;
    /** How stale this instance's control-plane view is (ms; Infinity before the first check), and the change version applied. */
    controlPlane?: () => { stalenessMs: number; version: number } | undefined;
    /** How stale this instance's device change feed is (ms), when it has devices. */
    deviceFeedStalenessMs?: () => number | undefined;
    /** The TLS certificates in use (edge, client CAs, upstream CAs and client certificates). */
    tlsCertificates?: () => readonly TlsCertificateEntry[];
  }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'wxseal_gateway_' });
    this.requests = new Counter({
      name: 'wxseal_gateway_requests_total',
      help: 'Requests by route and outcome',
      labelNames: ['route', 'outcome'],
      registers,
    });
    this.rejections = new Counter({
      name: 'wxseal_gateway_rejections_total',
      help: 'Verifier rejections by route and wxseal error code',
      labelNames: ['route', 'code'],
      registers,
    });
    this.verification = new Histogram({
      name: 'wxseal_gateway_verification_duration_seconds',
      help: 'Time to read and verify a request (body read, HMAC, nonce store, RSA or X25519 unwrap, AES)',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.upstream = new Histogram({
      name: 'wxseal_gateway_upstream_duration_seconds',
      help: 'Time the upstream took to answer (headers and, for wxseal routes, the whole body)',
      labelNames: ['route', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.nonceStoreErrors = new Counter({
      name: 'wxseal_gateway_nonce_store_errors_total',
      help: 'Nonce store failures (unreachable, timeout, full): each refused a request (fail closed)',
      labelNames: ['code'],
      registers,
    });
    this.inFlight = new Gauge({ name: 'wxseal_gateway_in_flight_requests', help: 'Requests being handled', registers });
    this.reloads = new Counter({
      name: 'wxseal_gateway_config_reloads_total',
      help: 'Config reloads by result (success, failure)',
      labelNames: ['result'],
      registers,
    });
    this.tlsReloads = new Counter({
      name: 'wxseal_gateway_tls_reloads_total',
      help: 'TLS certificate and key reloads by target (edge; upstream:<route>) and result (success, failure: the previous material stays)',
      labelNames: ['target', 'result'],
      registers,
    });
    new Gauge({
      name: 'wxseal_gateway_nonce_store_up',
      help: '1 when the nonce store is reachable (always 1 for the memory store)',
      aggregator: 'min',
      registers,
      collect() {
        this.set(gauges.nonceStoreUp());
      },
    });
    new Gauge({
      // A gauge fed from the store's own count (a counter cannot be set); it only grows.
      name: 'wxseal_gateway_nonce_store_losses',
      help: 'Losses of the shared nonce store\'s records this instance detected (restart without persistence, flush, failover, reconnect; SPEC.md 8.1)',
      aggregator: 'max',
      registers,
      collect() {
        const l = gauges.nonceStoreLosses?.();
        if (l) this.set(l.count);
      },
    });
    new Gauge({
      name: 'wxseal_gateway_nonce_store_loss_time_seconds',
      help: 'Unix time of the newest nonce-store loss this instance applies: requests signed at or before it get WXSEAL_NONCE_STORE_RESET (absent: none)',
      aggregator: 'max',
      registers,
      collect() {
        const at = gauges.nonceStoreLosses?.().lastAtMs;
        if (at !== undefined) this.set(at / 1000);
      },
    });
    new Gauge({
      name: 'wxseal_control_plane_staleness_seconds',
      help: 'Seconds since this instance last confirmed its view of the control plane (+Inf before the first check); past controlPlane.maxStalenessMs credentials are refused',
      aggregator: 'max',
      registers,
      collect() {
        const c = gauges.controlPlane?.();
        if (c) this.set(c.stalenessMs / 1000);
      },
    });
    new Gauge({
      name: 'wxseal_devices_change_feed_staleness_seconds',
      help: 'Seconds since this instance last read the device change feed (+Inf before the first read); past devices.changeFeed.maxStalenessMs device keys are confirmed in the database or refused',
      aggregator: 'max',
      registers,
      collect() {
        const ms = gauges.deviceFeedStalenessMs?.();
        if (ms !== undefined) this.set(ms / 1000);
      },
    });
    new Gauge({
      name: 'wxseal_control_plane_version',
      help: 'The control-plane change version this instance has applied',
      aggregator: 'min',
      registers,
      collect() {
        const c = gauges.controlPlane?.();
        if (c) this.set(c.version);
      },
    });
    new Gauge({
      // Seconds left, so that an alert reads `< 30 * 86400` (warning) and `< 7 * 86400` (critical);
      // negative once expired. Same value in every worker, hence the minimum.
      name: 'wxseal_tls_certificate_expiry_seconds',
      help: 'Seconds until each TLS certificate in use expires (role: edge, client-ca, upstream-ca, upstream-client; name: listener or route)',
      labelNames: ['role', 'name', 'subject'],
      aggregator: 'min',
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const e of gauges.tlsCertificates?.() ?? []) {
          this.set({ role: e.role, name: e.name, subject: e.subject }, Math.floor((e.notAfter.getTime() - now) / 1000));
        }
      },
    });
    new Gauge({
      name: 'wxseal_gateway_session_key_cache',
      help: 'Session key cache: hits, misses and size (present when the cache is enabled)',
      labelNames: ['stat'],
      registers,
      collect() {
        const s = gauges.sessionKeyCache();
        if (!s) return;
        this.set({ stat: 'hits' }, s.hits);
        this.set({ stat: 'misses' }, s.misses);
        this.set({ stat: 'size' }, s.size);
      },
    });
  }
}
