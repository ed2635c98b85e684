/**
 * The public listener's entry: each request gets its scope (request id, client address) and one
 * snapshot of the state, is refused before anything reads it when its header count or target is
 * unusable, then goes to the device endpoints or to its route's pipeline. Whatever a pipeline
 * throws is answered by Responder.failed.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestScope } from './access-log.js';
import { clientAddressOf, incomingRequestId } from './headers.js';
import type { InFlight } from './lifecycle.js';
import type { DevicePipeline } from './pipelines/devices.js';
import type { PassthroughPipeline } from './pipelines/passthrough.js';
import type { WxsealPipeline } from './pipelines/wxseal.js';
import type { Responder } from './respond.js';
import { unsafePathReason } from './routes.js';
import { peerCertificateOf } from './tls/client-cert.js';
import type { GatewayState, LiveGateway } from './state.js';

export interface RouterParts {
  readonly live: LiveGateway;
  readonly inFlight: InFlight;
  readonly respond: Responder;
  readonly wxseal: WxsealPipeline;
  readonly passthrough: PassthroughPipeline;
  /** With a devices section. */
  readonly devices: DevicePipeline | undefined;
}

export class Router {
  constructor(private readonly parts: RouterParts) {}

  /** The public server's request listener. */
  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.parts.inFlight.track(res);
    const state = this.parts.live.state; // one snapshot per request: a reload never changes it midway
    const scope: RequestScope = {
      started: performance.now(),
      requestId: incomingRequestId(req.rawHeaders) ?? randomUUID(),
      clientAddress: clientAddressOf(req.socket.remoteAddress, req.rawHeaders, state.trustedProxies),
      verified: undefined,
      verifier: undefined,
      stage: 'routing',
      route: '-',
    };
    this.#handle(req, res, state, scope).catch((err: unknown) => this.parts.respond.failed(req, res, scope, err));
  };

  async #handle(req: IncomingMessage, res: ServerResponse, state: GatewayState, scope: RequestScope): Promise<void> {
    const { respond } = this.parts;
    const target = req.url ?? '';
    const method = req.method ?? '';

    // Node stops collecting header fields at maxHeadersCount (one more than the limit): a request
    // over the limit is refused before anything reads its headers, so a repeated Wxseal-Nonce
    // cannot hide behind 2,000 junk fields.
    const maxHeaders = state.config.limits.maxHeaderCount;
    if (req.rawHeaders.length > 2 * maxHeaders) {
      return respond.refuse(req, res, scope, 'WXSEAL_TOO_MANY_HEADERS', `the request has more than ${maxHeaders} header fields`, '-', 'bad_request');
    }

    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const rawQuery = q < 0 ? '' : target.slice(q + 1);
    const unsafe = unsafePathReason(path) ?? (target.includes('#') ? 'the request target holds a fragment' : undefined);
    if (unsafe !== undefined) {
      // A wxseal rejection (SPEC.md 9 step 2.6 words it the same way), readable by any client.
      return respond.refuse(req, res, scope, 'WXSEAL_MALFORMED_HEADER', unsafe, '-', 'bad_request');
    }

    const devices = state.config.devices;
    if (devices && this.parts.devices) {
      // Answered before routing (the config refuses a route that covers these paths).
      if (devices.activation.enabled && path === devices.activation.path && method === 'POST') {
        return this.parts.devices.activate(req, res, devices, scope);
      }
      if (devices.rotation.enabled && path === devices.rotation.path) return this.parts.devices.rotate(req, res, state, devices, target, scope);
    }
    const route = state.routes.match(path);
    if (!route) return respond.refuse(req, res, scope, 'WXSEAL_ROUTE_NOT_FOUND', 'no route matches this path', path, 'not_found');
    scope.route = route.name;
    // Mutual TLS per route (or for the whole listener): refused before anything reads the body.
    const tls = state.config.listeners.public.tls;
    const policy = route.clientCertificate ?? (tls?.clientAuth?.required ? 'required' : undefined);
    if (policy !== undefined) {
      const peer = peerCertificateOf(req.socket);
      if (peer.state === 'none' && policy === 'required') {
        return respond.refuse(req, res, scope, 'WXSEAL_CLIENT_CERT_REQUIRED', 'this route requires a client certificate (mutual TLS)', path, 'client_cert_refused');
      }
      if (peer.state === 'invalid') return respond.refuse(req, res, scope, 'WXSEAL_CLIENT_CERT_INVALID', peer.reason, path, 'client_cert_refused');
    }
    if (route.mode === 'passthrough') return this.parts.passthrough.handle(req, res, route, path, rawQuery, scope);
    return this.parts.wxseal.handle(req, res, state, route, target, scope);
  }
}
