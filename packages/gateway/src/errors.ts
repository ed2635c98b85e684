import { WxsealError, statusesOf, type ErrorCatalogue } from '@wxseal/protocol';

/**
 * Codes the gateway itself answers with (SPEC.md 10.3), beside the codes of SPEC.md section 10
 * (which include the gateway's unsigned rejections WXSEAL_ROUTE_NOT_FOUND and
 * WXSEAL_TOO_MANY_HEADERS). They are not rejections, so they never travel in `Wxseal-Error` (a
 * client would take them for one); they travel in the JSON body `{"error":{"code","message"}}`,
 * which on wxseal routes is sealed (or signed) with the request's session key, so the client can
 * authenticate them. On passthrough routes the same body comes as plain JSON.
 */
export const GATEWAY_ERRORS = {
  WXSEAL_UPSTREAM_UNAVAILABLE: {
    status: 502,
    meaning: 'The gateway could not reach the upstream (connection refused or reset, name not resolved).',
    action: 'Check that the upstream of the route is running and reachable from the gateway (the route\'s `upstream` URL).',
  },
  WXSEAL_UPSTREAM_TIMEOUT: {
    status: 504,
    meaning: 'The upstream did not connect or answer within the route\'s timeouts.',
    action: 'Find out why the upstream is slow, or raise the route\'s timeouts.',
  },
  WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE: {
    status: 502,
    meaning: 'The upstream\'s response is larger than the route\'s `maxResponseBytes`.',
    action: 'Make the upstream answer less, or raise the route\'s `maxResponseBytes`.',
  },
  WXSEAL_UPSTREAM_BAD_RESPONSE: {
    status: 502,
    meaning: 'The upstream\'s response could not be read (cut short, unknown content-encoding).',
    action: 'Check the upstream\'s logs for the request; make it answer with identity, gzip, deflate or br encoding.',
  },
  WXSEAL_GATEWAY_INTERNAL_ERROR: {
    // Still sealed (or signed) with the request's keys: its nonce is spent, and the client must be
    // able to tell this answer from a forged one.
    status: 500,
    meaning: 'The gateway failed after the request verified (building the upstream request, sealing the answer, a handler).',
    action: 'A bug or an outage of the gateway: look for the request in the gateway\'s log (by its request id) and report it.',
  },
} as const satisfies ErrorCatalogue;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** The HTTP status of each gateway code. */
export const GATEWAY_ERROR_STATUS = statusesOf(GATEWAY_ERRORS);

export const GATEWAY_ERROR_CODES = Object.keys(GATEWAY_ERRORS) as readonly GatewayErrorCode[];

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
