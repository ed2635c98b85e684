/**
 * A request on a sealed or sign-only route: read and verify (SPEC.md section 9), forward the
 * plaintext with the verified identity as headers, and seal (or sign) the upstream's answer — or
 * the gateway's own error when the upstream fails — with the request's keys.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { headersFromRaw, isVerificationFailure, readRequestBody, type ResponseInput, type VerifiedRequest } from '@wxseal/server';
import type { RequestScope } from '../access-log.js';
import { GATEWAY_ERROR_STATUS, gatewayErrorBody, type GatewayErrorCode } from '../errors.js';
import { REQUEST_ID_HEADER, addClientCertificateHeaders, addIdentityHeaders, forwardRequestHeaders, forwardResponseHeaders, type OutgoingHeaders } from '../headers.js';
import { errSummary } from '../logger.js';
import type { RequestOutcome } from '../metrics.js';
import { upstreamTarget, type Route } from '../routes.js';
import type { GatewayState } from '../state.js';
import { Cancel, UpstreamFailure, isClientGone, requestBuffered } from '../upstream.js';
import { UPSTREAM_OUTCOME, type PipelineParts } from './parts.js';
import { bindingRefusal, isTlsSocket, peerCertificateOf } from '../tls/client-cert.js';

export class WxsealPipeline {
  constructor(private readonly parts: PipelineParts) {}

  async handle(req: IncomingMessage, res: ServerResponse, state: GatewayState, route: Route, target: string, scope: RequestScope): Promise<void> {
    const { metrics, respond, accessLog } = this.parts;
    const verifier = state.verifier;
    const method = req.method ?? '';
    let verified: VerifiedRequest | undefined;
    let failure: unknown;
    // A key id bound to a client certificate comes with that certificate or not at all; checked
    // before the body is read and the signature verified (the expensive part).
    const mismatch = bindingRefusal(state.config, req.rawHeaders, req.socket);
    if (mismatch !== undefined) {
      respond.refuse(req, res, scope, 'WXSEAL_CLIENT_CERT_MISMATCH', mismatch, target.split('?')[0]!, 'client_cert_refused');
      return;
    }
    scope.stage = 'verify';
    try {
      const body = await readRequestBody(req, { limit: route.maxBodyBytes, contentLength: req.headers['content-length'] });
      const out = await verifier.verifyOrFailure({
        method,
        target,
        headers: headersFromRaw(req.rawHeaders),
        rawHeaders: req.rawHeaders,
        body,
        ...(route.modes ? { allowedModes: route.modes } : {}),
      });
      // A forged signature comes back as a value rather than an exception (no stack per forgery).
      if (isVerificationFailure(out)) failure = out;
      else verified = out;
    } catch (err) {
      failure = err;
    }
    metrics.verification.observe({ route: route.name }, (performance.now() - scope.started) / 1000);
    if (verified === undefined) {
      respond.rejected(res, scope, verifier, failure, route.name, method, target.split('?')[0]!);
      return;
    }
    // The nonce is spent: from here on every answer is sealed or signed (Responder.failed included).
    scope.verified = verified;
    scope.verifier = verifier;

    // The verified identity goes first (an upstream that caps its header count still sees it),
    // then the request id, then the caller's headers: every x-wxseal-* header the caller sent is
    // dropped by forwardRequestHeaders, as are the names set here.
    scope.stage = 'upstream-headers';
    const headers: OutgoingHeaders = {};
    addIdentityHeaders(headers, verified);
    addClientCertificateHeaders(headers, peerCertificateOf(req.socket));
    headers[REQUEST_ID_HEADER] = scope.requestId;
    forwardRequestHeaders(req.rawHeaders, 'wxseal', { remoteAddress: req.socket.remoteAddress, encrypted: isTlsSocket(req.socket) }, headers);
    // The answer is sealed as the representation itself; ask for no compression.
    headers['accept-encoding'] = 'identity';
    if (verified.contentType !== undefined) headers['content-type'] = verified.contentType;

    scope.stage = 'upstream';
    const clientGone = new Cancel();
    const onClose = (): void => {
      if (!res.writableFinished) clientGone.abort(undefined);
    };
    res.once('close', onClose);
    const upstreamStarted = performance.now();
    let answer: ResponseInput;
    let passHeaders: OutgoingHeaders = {};
    let outcome: RequestOutcome = 'forwarded';
    let gatewayCode: GatewayErrorCode | undefined;
    try {
      const up = await requestBuffered(this.parts.pools.get(route), {
        method: verified.method,
        path: upstreamTarget(route, verified.path, verified.rawQuery),
        headers,
        body: verified.body,
        timeoutMs: route.timeoutMs,
        maxResponseBytes: route.maxResponseBytes,
        clientGone,
      });
      metrics.upstream.observe({ route: route.name, outcome: 'ok' }, (performance.now() - upstreamStarted) / 1000);
      answer = { status: up.status, contentType: up.contentType, body: up.body };
      passHeaders = forwardResponseHeaders(up.headers, verified.mode);
    } catch (err) {
      res.off('close', onClose);
      if (isClientGone(err)) {
        accessLog.done({ scope, route: route.name, method, path: verified.path, outcome: 'client_closed', verified });
        return;
      }
      // Anything but an upstream failure is the gateway's own: answered by Responder.failed, sealed.
      if (!(err instanceof UpstreamFailure)) throw err;
      gatewayCode = err.code;
      outcome = UPSTREAM_OUTCOME[err.code];
      metrics.upstream.observe({ route: route.name, outcome }, (performance.now() - upstreamStarted) / 1000);
      this.parts.log.warn(
        {
          requestId: scope.requestId,
          route: route.name,
          upstream: route.origin,
          code: err.code,
          reason: err.message,
          cause: err.cause === undefined ? undefined : errSummary(err.cause),
        },
        'upstream failed',
      );
      // Sealed (or signed) like any answer, so the client can tell the gateway's 502 from a forged one.
      answer = { status: GATEWAY_ERROR_STATUS[err.code], contentType: 'application/json', body: gatewayErrorBody(err.code) };
    }
    res.off('close', onClose);

    scope.stage = 'seal';
    const wire = verifier.sealResponse(verified, answer);
    if (res.destroyed) {
      accessLog.done({ scope, route: route.name, method, path: verified.path, outcome: 'client_closed', verified });
      return;
    }
    scope.stage = 'respond';
    respond.sealed(res, wire, passHeaders, {
      scope,
      route: route.name,
      method,
      path: verified.path,
      outcome,
      ...(gatewayCode ? { code: gatewayCode } : {}),
      verified,
      upstreamMs: performance.now() - upstreamStarted,
    });
  }
}
