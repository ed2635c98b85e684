import type { AccessLog } from '../access-log.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics, RequestOutcome } from '../metrics.js';
import type { GatewayErrorCode } from '../errors.js';
import type { Responder } from '../respond.js';
import type { UpstreamPools } from '../upstream.js';

/** What the request pipelines share: built once by the gateway, the same for every request. */
export interface PipelineParts {
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly pools: UpstreamPools;
  readonly respond: Responder;
  readonly accessLog: AccessLog;
}

/** The `outcome` label of an upstream failure, by the gateway code it is answered with. */
export const UPSTREAM_OUTCOME: Record<GatewayErrorCode, RequestOutcome> = {
  WXSEAL_UPSTREAM_UNAVAILABLE: 'upstream_unavailable',
  WXSEAL_UPSTREAM_TIMEOUT: 'upstream_timeout',
  WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE: 'upstream_too_large',
  WXSEAL_UPSTREAM_BAD_RESPONSE: 'upstream_bad_response',
  WXSEAL_GATEWAY_INTERNAL_ERROR: 'internal_error',
};
