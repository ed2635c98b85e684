/**
 * The device endpoints on the public listener (SPEC.md section 15), answered before routing:
 * activation (15.5, its own signature under the product secret; device-endpoints.ts) and rotation
 * (15.7, verified like any request, answered by the handler, sealed or signed).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { headersFromRaw, readRequestBody, type VerifiedRequest } from '@wxseal/server';
import type { RequestScope } from '../access-log.js';
import type { DeviceEndpoints } from '../device-endpoints.js';
import type { DevicesConfig } from '../devices-config.js';
import type { GatewayState } from '../state.js';
import type { PipelineParts } from './parts.js';

export class DevicePipeline {
  constructor(
    private readonly endpoints: DeviceEndpoints,
    private readonly parts: PipelineParts,
  ) {}

  async activate(req: IncomingMessage, res: ServerResponse, devices: DevicesConfig, scope: RequestScope): Promise<void> {
    scope.route = 'device-activation';
    scope.stage = 'activation';
    const out = await this.endpoints.activate(req, scope.clientAddress);
    if (out.code !== undefined) this.parts.metrics.rejections.inc({ route: 'device-activation', code: out.code });
    this.parts.respond.finish(res, out.wire, out.close, {
      scope,
      route: 'device-activation',
      method: 'POST',
      path: devices.activation.path,
      outcome: out.outcome === 'activated' ? 'forwarded' : 'rejected',
      ...(out.code !== undefined ? { code: out.code } : out.outcome === 'rate_limited' ? { code: 'rate_limited' } : {}),
      ...(out.serial !== undefined ? { keyId: out.serial } : {}),
    });
  }

  async rotate(req: IncomingMessage, res: ServerResponse, state: GatewayState, devices: DevicesConfig, target: string, scope: RequestScope): Promise<void> {
    const { respond } = this.parts;
    const verifier = state.verifier;
    const method = req.method ?? '';
    const path = devices.rotation.path;
    scope.route = 'device-rotation';
    scope.stage = 'verify';
    let verified: VerifiedRequest;
    try {
      const body = await readRequestBody(req, { limit: state.config.limits.maxBodyBytes, contentLength: req.headers['content-length'] });
      verified = await verifier.verify({ method, target, headers: headersFromRaw(req.rawHeaders), rawHeaders: req.rawHeaders, body });
    } catch (err) {
      respond.rejected(res, scope, verifier, err, 'device-rotation', method, path);
      return;
    }
    // The nonce is spent: from here on every answer is sealed or signed (Responder.failed included).
    scope.verified = verified;
    scope.verifier = verifier;
    scope.stage = 'rotation';
    const { noStore, ...answer } = await this.endpoints.rotate(verified, scope.clientAddress);
    scope.stage = 'seal';
    const wire = verifier.sealResponse(verified, answer);
    if (noStore) res.setHeader('cache-control', 'no-store');
    respond.finish(res, wire, false, { scope, route: 'device-rotation', method, path, outcome: 'forwarded', verified });
  }
}
