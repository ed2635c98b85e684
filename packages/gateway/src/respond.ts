/**
 * Every answer the gateway sends on the public listener ends here, with its access-log line:
 * refusals before any verifier step (unsigned, SPEC.md section 10), the verifier's rejections,
 * answers of the gateway's own (device endpoints, plain gateway codes), the sealed or signed answer
 * of a verified request, and the answer to anything unexpected — which, once the request verified,
 * is sealed or signed too (`failed`). Each answer carries the request id; while draining, each
 * closes its connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS, rejectionResponse, type WireErrorCode, type WireResponse } from '@wxseal/protocol';
import { sendWireResponse, type ResponseInput, type Verifier } from '@wxseal/server';
import type { AccessEntry, AccessLog, RequestScope } from './access-log.js';
import { GATEWAY_ERROR_STATUS, gatewayErrorBody, type GatewayErrorCode } from './errors.js';
import { REQUEST_ID_HEADER, type OutgoingHeaders } from './headers.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics, RequestOutcome } from './metrics.js';
import type { Route } from './routes.js';
import type { LiveGateway } from './state.js';

/** The body of an unexpected failure after verification; sealed or signed like any answer. */
const INTERNAL_ERROR_ANSWER: ResponseInput = Object.freeze({
  status: GATEWAY_ERROR_STATUS.WXSEAL_GATEWAY_INTERNAL_ERROR,
  contentType: 'application/json',
  body: gatewayErrorBody('WXSEAL_GATEWAY_INTERNAL_ERROR'),
});

/** A gateway code as plain JSON, for requests nothing can authenticate (passthrough, unverified). */
export function plainGatewayError(code: GatewayErrorCode): WireResponse {
  return { status: GATEWAY_ERROR_STATUS[code], headers: { 'content-type': 'application/json' }, body: gatewayErrorBody(code) };
}

/** True when the request announces a body (which a refusal would leave unread). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * An unexpected error as logged for a request: its name, code and message, with quoted parts of the
 * message cut (V8 quotes the input it failed on, e.g. JSON.parse's, which could be plaintext) and
 * the rest bounded. Never the stack's arguments, a body or a header value.
 */
function requestErrSummary(err: unknown): { name: string; code?: string; message: string } {
  const name = err instanceof Error ? err.name : typeof err;
  const code = (err as { code?: unknown })?.code;
  const raw = err instanceof Error ? err.message : '';
  const message = raw.replace(/"[^"]*"|'[^']*'|`[^`]*`/g, '…').slice(0, 200);
  return typeof code === 'string' ? { name, code, message } : { name, message };
}

export class Responder {
  constructor(
    private readonly live: LiveGateway,
    private readonly accessLog: AccessLog,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    /** Unix ms. */
    private readonly now: () => number,
  ) {}

  /** While draining, every response closes its connection so clients reconnect elsewhere. */
  closeIfDraining(res: ServerResponse): void {
    if (this.live.draining && !res.headersSent) res.setHeader('connection', 'close');
  }

  /** Sends an answer the gateway made itself, with the request id, and logs the request. */
  finish(res: ServerResponse, wire: WireResponse, close: boolean, entry: AccessEntry): void {
    this.closeIfDraining(res);
    sendWireResponse(res, { status: wire.status, headers: { ...wire.headers, [REQUEST_ID_HEADER]: entry.scope.requestId }, body: wire.body }, { close });
    entry.status = wire.status;
    this.accessLog.done(entry);
  }

  /** An unsigned section-10 rejection raised before any verifier step; a body left unread closes the connection. */
  refuse(req: IncomingMessage, res: ServerResponse, scope: RequestScope, code: WireErrorCode, message: string, path: string, outcome: RequestOutcome): void {
    this.finish(res, this.#unsigned(code, message), hasBody(req), { scope, route: scope.route, method: req.method ?? '', path, outcome, code });
  }

  /** The section-10 WXSEAL_BODY_TOO_LARGE of a passthrough route, so any wxseal client reads its code. */
  bodyTooLarge(res: ServerResponse, scope: RequestScope, route: Route, method: string, path: string): void {
    const wire = this.#unsigned('WXSEAL_BODY_TOO_LARGE', `the body exceeds ${route.maxBodyBytes} bytes`);
    this.finish(res, wire, true, { scope, route: route.name, method, path, outcome: 'body_too_large' });
  }

  /** The verifier's answer to a request it refused (`failure`: what verify threw or resolved with). */
  rejected(res: ServerResponse, scope: RequestScope, verifier: Verifier, failure: unknown, route: string, method: string, path: string): void {
    const wire = verifier.rejection(failure);
    const code = wire.headers[HEADERS.error] ?? 'WXSEAL_MALFORMED_HEADER';
    this.metrics.rejections.inc({ route, code });
    // A body over the limit is left unread: the connection closes instead.
    this.finish(res, wire, code === 'WXSEAL_BODY_TOO_LARGE', { scope, route, method, path, outcome: 'rejected', code });
  }

  /**
   * Sends the sealed (or signed) answer of a verified request with the upstream's forwarded
   * headers: one flat header list for writeHead, in the order setHeader calls would give, instead
   * of a setHeader per header (each validated, lower-cased and stored, then serialised again).
   */
  sealed(res: ServerResponse, wire: WireResponse, passHeaders: OutgoingHeaders, entry: AccessEntry): void {
    const head: Array<string | string[]> = [];
    for (const name of Object.keys(passHeaders)) head.push(name, passHeaders[name]!);
    for (const name of Object.keys(wire.headers)) head.push(name, wire.headers[name]!);
    if (passHeaders[REQUEST_ID_HEADER] === undefined) head.push(REQUEST_ID_HEADER, entry.scope.requestId);
    if (wire.status !== 204 && wire.status !== 304) head.push('content-length', String(wire.body.length));
    // While draining, every response closes its connection (closeIfDraining, here in the list).
    if (this.live.draining) head.push('connection', 'close');
    res.writeHead(wire.status, head);
    res.end(wire.body);
    entry.status = wire.status;
    this.accessLog.done(entry);
  }

  /**
   * The answer to anything unexpected (a bug, a dependency that throws, an answer that cannot be
   * sealed): once the request verified, a sealed (or signed) 500 WXSEAL_GATEWAY_INTERNAL_ERROR with
   * the request's keys — its nonce is spent, so the client must be able to authenticate the
   * outcome; before that, the same code as plain JSON. Never throws.
   */
  failed(req: IncomingMessage, res: ServerResponse, scope: RequestScope, err: unknown): void {
    const path = (req.url ?? '').split('?')[0]!;
    const method = req.method ?? '';
    try {
      this.log.error(
        { requestId: scope.requestId, route: scope.route, stage: scope.stage, verified: scope.verified !== undefined, err: requestErrSummary(err) },
        'request handling failed',
      );
    } catch {
      // A failing logger must not stop the answer.
    }
    try {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      let wire: WireResponse;
      if (scope.verified !== undefined && scope.verifier !== undefined) {
        try {
          wire = scope.verifier.sealResponse(scope.verified, INTERNAL_ERROR_ANSWER);
        } catch {
          // Sealing a fixed answer cannot fail with keys that just opened the request; if it
          // did, no answer at all (the client sees a network error) beats an unsigned 5xx.
          res.destroy();
          return;
        }
      } else {
        wire = plainGatewayError('WXSEAL_GATEWAY_INTERNAL_ERROR');
      }
      // Whatever the request still had on the wire is unread: its connection cannot be reused.
      this.finish(res, wire, !req.complete, {
        scope,
        route: scope.route,
        method,
        path: scope.verified?.path ?? path,
        outcome: 'internal_error',
        code: 'WXSEAL_GATEWAY_INTERNAL_ERROR',
        ...(scope.verified ? { verified: scope.verified } : {}),
      });
    } catch {
      res.destroy();
    }
  }

  /** A section-10 rejection without a verifier: unsigned, with the gateway's time. */
  #unsigned(code: WireErrorCode, message: string): WireResponse {
    return rejectionResponse(code, message, Math.floor(this.now() / 1000));
  }
}
