/**
 * The end of every request on the public listener: one access-log line, the request counter, and
 * with an admin section the live stats and the devices' last-seen times. The line holds no query,
 * body, identity or header value.
 */
import { performance } from 'node:perf_hooks';
import type { VerifiedRequest, Verifier } from '@wxseal/server';
import type { Logger } from './logger.js';
import type { GatewayMetrics, RequestOutcome } from './metrics.js';
import type { LiveGateway } from './state.js';
import type { LastSeen } from './admin/devices-service.js';
import type { LiveStats, StatsOutcome } from './admin/stats.js';

/** One request on the public listener, from its arrival to its log line. */
export interface RequestScope {
  /** performance.now() at arrival. */
  readonly started: number;
  /** The client's valid `x-request-id`, or a new UUID: sent to the upstream, returned, logged. */
  readonly requestId: string;
  /** The socket's peer, or the client behind a trusted proxy (config `trustedProxies`). */
  readonly clientAddress: string | undefined;
  /**
   * Set as soon as the verifier accepted the request, i.e. its nonce is spent: from then on any
   * failure is answered sealed or signed with the request's keys (WXSEAL_GATEWAY_INTERNAL_ERROR),
   * never with an unsigned 5xx the client could not tell from a forgery.
   */
  verified: VerifiedRequest | undefined;
  verifier: Verifier | undefined;
  /** What the request was doing, for the log line of an unexpected failure. */
  stage: string;
  route: string;
}

/** What a request came to, as logged. `status` is absent when no answer was sent (client gone). */
export interface AccessEntry {
  readonly scope: RequestScope;
  readonly route: string;
  readonly method: string;
  readonly path: string;
  status?: number | undefined;
  readonly outcome: RequestOutcome;
  readonly code?: string;
  readonly verified?: VerifiedRequest;
  readonly keyId?: string;
  readonly upstreamMs?: number;
}

/** The admin API's views of the traffic, present with an admin section. */
export interface TrafficViews {
  readonly stats: LiveStats;
  readonly lastSeen: LastSeen;
}

const STATS_OUTCOME: Record<RequestOutcome, StatsOutcome> = {
  forwarded: 'accepted',
  rejected: 'rejected',
  body_too_large: 'rejected',
  upstream_unavailable: 'upstream_error',
  upstream_timeout: 'upstream_error',
  upstream_too_large: 'upstream_error',
  upstream_bad_response: 'upstream_error',
  not_found: 'other',
  bad_request: 'other',
  client_cert_refused: 'rejected',
  client_closed: 'other',
  internal_error: 'other',
};

export class AccessLog {
  constructor(
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly live: LiveGateway,
    /** Unix ms. */
    private readonly now: () => number,
    private readonly views: TrafficViews | undefined,
    private readonly hasDevices: boolean,
  ) {}

  done(e: AccessEntry): void {
    this.metrics.requests.inc({ route: e.route, outcome: e.outcome });
    const durationMs = performance.now() - e.scope.started;
    if (this.views) {
      this.views.stats.record(STATS_OUTCOME[e.outcome], e.outcome === 'body_too_large' ? 'WXSEAL_BODY_TOO_LARGE' : e.code, durationMs);
      // lastSeenAt of the admin API: devices only (a configured client's key id is never a serial).
      if (e.verified && this.hasDevices && !this.live.state.clientKeyIds.has(e.verified.keyId)) this.views.lastSeen.seen(e.verified.keyId, this.now());
    }
    // The access-log line is built only when it is written (the bench and many deployments run
    // with info off).
    if (!this.log.isLevelEnabled('info')) return;
    const entry: Record<string, unknown> = {
      requestId: e.scope.requestId,
      clientAddress: e.scope.clientAddress,
      route: e.route,
      method: e.method,
      path: e.path,
      status: e.status,
      outcome: e.outcome,
      durationMs: Math.round(durationMs * 100) / 100,
    };
    if (e.code !== undefined) entry.code = e.code;
    if (e.keyId !== undefined) entry.keyId = e.keyId;
    if (e.upstreamMs !== undefined) entry.upstreamMs = Math.round(e.upstreamMs * 100) / 100;
    if (e.verified) {
      entry.keyId = e.verified.keyId;
      entry.mode = e.verified.mode;
      if (e.verified.secretId !== undefined) entry.secretId = e.verified.secretId;
      if (e.verified.traceparent !== undefined) entry.traceparent = e.verified.traceparent;
    }
    this.log.info(entry, 'request');
  }
}
