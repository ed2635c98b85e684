/**
 * A request on a passthrough route: streamed to the upstream and back without verification,
 * within the route's body limit. Identity headers from outside are dropped here too; the
 * gateway's own errors are plain JSON, since nothing on such a route can be authenticated.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestScope } from '../access-log.js';
import { REQUEST_ID_HEADER, addClientCertificateHeaders, firstValue, forwardRequestHeaders, forwardResponseHeaders, type OutgoingHeaders } from '../headers.js';
import { isTlsSocket, peerCertificateOf } from '../tls/client-cert.js';
import { hasBody, plainGatewayError } from '../respond.js';
import { upstreamTarget, type Route } from '../routes.js';
import { streamThrough } from '../upstream.js';
import { UPSTREAM_OUTCOME, type PipelineParts } from './parts.js';

export class PassthroughPipeline {
  constructor(private readonly parts: PipelineParts) {}

  async handle(req: IncomingMessage, res: ServerResponse, route: Route, path: string, rawQuery: string, scope: RequestScope): Promise<void> {
    const { metrics, respond, accessLog } = this.parts;
    const method = req.method ?? '';
    scope.stage = 'passthrough';
    const declared = Number(firstValue(req.headers['content-length']));
    if (Number.isFinite(declared) && declared > route.maxBodyBytes) return respond.bodyTooLarge(res, scope, route, method, path);

    // Identity headers from outside are dropped here too: a passthrough route must not become a
    // way to reach the upstream with a forged x-wxseal-openid.
    // The verified client certificate (mutual TLS) is the only identity a passthrough route has.
    const own: OutgoingHeaders = {};
    addClientCertificateHeaders(own, peerCertificateOf(req.socket));
    own[REQUEST_ID_HEADER] = scope.requestId;
    const headers = forwardRequestHeaders(req.rawHeaders, 'passthrough', { remoteAddress: req.socket.remoteAddress, encrypted: isTlsSocket(req.socket) }, own);
    const upstreamStarted = performance.now();
    const result = await streamThrough(
      this.parts.pools.get(route),
      {
        method,
        path: upstreamTarget(route, path, rawQuery),
        headers,
        body: hasBody(req) ? req : undefined,
        maxBodyBytes: route.maxBodyBytes,
        timeoutMs: route.timeoutMs,
      },
      res,
      (upstreamHeaders) => {
        respond.closeIfDraining(res);
        const out = forwardResponseHeaders(upstreamHeaders, 'passthrough');
        if (out[REQUEST_ID_HEADER] === undefined) out[REQUEST_ID_HEADER] = scope.requestId;
        return out;
      },
    );
    const upstreamMs = performance.now() - upstreamStarted;
    switch (result.kind) {
      case 'response':
        metrics.upstream.observe({ route: route.name, outcome: 'ok' }, upstreamMs / 1000);
        accessLog.done({ scope, route: route.name, method, path, status: result.status, outcome: 'forwarded', upstreamMs });
        return;
      case 'cut':
        metrics.upstream.observe({ route: route.name, outcome: 'upstream_bad_response' }, upstreamMs / 1000);
        accessLog.done({ scope, route: route.name, method, path, status: result.status, outcome: 'client_closed', upstreamMs });
        return;
      case 'client-gone':
        accessLog.done({ scope, route: route.name, method, path, outcome: 'client_closed', upstreamMs });
        return;
      case 'too-large':
        return respond.bodyTooLarge(res, scope, route, method, path);
      case 'failed': {
        const code = result.failure.code;
        const outcome = UPSTREAM_OUTCOME[code];
        metrics.upstream.observe({ route: route.name, outcome }, upstreamMs / 1000);
        this.parts.log.warn({ requestId: scope.requestId, route: route.name, upstream: route.origin, code, reason: result.failure.message }, 'upstream failed');
        // Plain JSON: nothing on a passthrough route can be authenticated.
        respond.finish(res, plainGatewayError(code), hasBody(req) && !req.readableEnded, { scope, route: route.name, method, path, outcome, code, upstreamMs });
        return;
      }
    }
  }
}
