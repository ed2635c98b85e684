import { WxsealError } from '@wxseal/protocol';

/**
 * Codes the gateway itself answers with, beside the codes of SPEC.md section 10 (which include the
 * gateway's unsigned rejections WXSEAL_ROUTE_NOT_FOUND and WXSEAL_TOO_MANY_HEADERS). They are not
 * rejections, so they never travel in `Wxseal-Error` (a client would take them for one); they
 * travel in the JSON body `{"error":{"code","message"}}`, which on wxseal routes is sealed (or
 * signed) with the request's session key, so the client can authenticate them. On passthrough
 * routes the same body comes as plain JSON.
 */
export const GATEWAY_ERROR_STATUS = {
  /** The upstream refused the connection, reset it, or could not be resolved. Sealed 502. */
  WXSEAL_UPSTREAM_UNAVAILABLE: 502,
  /** The upstream did not connect or answer within the route's timeouts. Sealed 504. */
  WXSEAL_UPSTREAM_TIMEOUT: 504,
  /** The upstream's response is larger than the route's `maxResponseBytes`. Sealed 502. */
  WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE: 502,
  /** The upstream's response could not be read (cut short, unknown content-encoding). Sealed 502. */
  WXSEAL_UPSTREAM_BAD_RESPONSE: 502,
  /**
   * Anything that went wrong after the request verified (building the upstream request, sealing
   * the answer, a handler): still sealed (or signed) with the request's keys, since its nonce is
   * spent and the client must be able to tell this answer from a forged one. Sealed 500.
   */
  WXSEAL_GATEWAY_INTERNAL_ERROR: 500,
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_STATUS;

export const GATEWAY_ERROR_CODES = Object.keys(GATEWAY_ERROR_STATUS) as readonly GatewayErrorCode[];

/** Fixed, client-facing messages: they never echo upstream details. */
export const GATEWAY_ERROR_MESSAGES: Readonly<Record<GatewayErrorCode, string>> = {
  WXSEAL_UPSTREAM_UNAVAILABLE: 'the upstream service cannot be reached',
  WXSEAL_UPSTREAM_TIMEOUT: 'the upstream service did not answer in time',
  WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE: 'the upstream response is too large to seal',
  WXSEAL_UPSTREAM_BAD_RESPONSE: 'the upstream response could not be read',
  WXSEAL_GATEWAY_INTERNAL_ERROR: 'the gateway failed to handle this request',
};

/** The JSON body of a gateway error. */
export function gatewayErrorBody(code: GatewayErrorCode): Buffer {
  return Buffer.from(JSON.stringify({ error: { code, message: GATEWAY_ERROR_MESSAGES[code] } }), 'utf8');
}

/** One mistake in a gateway config: where (`routes[1].upstream`) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * A config that does not validate. A WxsealError with code WXSEAL_CONFIG_INVALID whose message
 * lists every issue, one per line, each led by the path of the field.
 */
export class GatewayConfigError extends WxsealError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source ? ` (${source})` : '';
    const lines = issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}`);
    super('WXSEAL_CONFIG_INVALID', `invalid gateway config${where}:\n${lines.join('\n')}`);
    this.issues = issues;
  }
}
