/**
 * The device endpoints of SPEC.md section 15: activation (15.5, under the product secret, answered
 * with a sealed key, 15.6) and device-initiated rotation (15.7, an ordinary verified request).
 * The wire work is @wxseal/protocol's; this file only orders the checks and talks to the registry.
 */
import type { IncomingMessage } from 'node:http';
import {
  CodedError,
  MAX_ACTIVATION_BODY_BYTES,
  MAX_KEY_VERSION,
  WxsealError,
  checkTimestamp,
  generateDeviceKey,
  isWireErrorCode,
  parseActivationRequest,
  rejectionResponse,
  sealDeviceKey,
  verifyActivationSignature,
  type WireErrorCode,
  type WireResponse,
} from '@wxseal/protocol';
import { readRequestBody, type NonceStore, type ResponseInput, type VerifiedRequest } from '@wxseal/server';
import { isDeviceStoreError } from '@wxseal/devices';
import { withTimeout } from '@wxseal/support';
import type { DevicesConfig } from './devices-config.js';
import { TokenBuckets, type DeviceRuntime } from './devices.js';

export interface DeviceEndpointContext {
  readonly config: DevicesConfig;
  readonly runtime: DeviceRuntime;
  readonly nonceStore: NonceStore;
  readonly nonceTimeoutMs: number;
  readonly windowSeconds: number;
  /** True for a key id of the configured clients (never a device's serial). */
  readonly isClientKeyId: (keyId: string) => boolean;
  /** Unix ms. */
  readonly now: () => number;
}

export interface ActivationOutcome {
  readonly wire: WireResponse;
  /** Close the connection (a body left unread). */
  readonly close: boolean;
  readonly code?: string;
  readonly serial?: string;
  readonly outcome: 'activated' | 'rejected' | 'rate_limited';
}

/** Fixed messages: a rejection never says more about a serial or a product than its code does. */
const MESSAGES: Partial<Record<WireErrorCode, string>> = {
  WXSEAL_UNKNOWN_KEY_ID: 'unknown product or serial',
  WXSEAL_KEY_REVOKED: 'this serial cannot be activated now',
  WXSEAL_BAD_SIGNATURE: 'activation signature does not match',
  WXSEAL_REPLAYED_NONCE: 'this nonce was already accepted for this product',
  WXSEAL_NONCE_STORE_FULL: 'the nonce store refuses new nonces until old ones expire',
  WXSEAL_NONCE_STORE_UNAVAILABLE: 'the nonce store cannot be reached',
  WXSEAL_KEY_STORE_UNAVAILABLE: 'the device registry cannot be reached',
};

/** A refusal decided here, answered with its fixed message (caught below, never escapes). */
class Rejected extends CodedError<WireErrorCode> {
  override readonly name = 'Rejected';
  constructor(code: WireErrorCode) {
    super(code, MESSAGES[code] ?? 'activation refused');
  }
}

const reject = (code: WireErrorCode): never => {
  throw new Rejected(code);
};

/** Registry failures at steps 4, 7 and 8: refusals keep their meaning, anything else is an outage (503). */
function storeCode(err: unknown): WireErrorCode {
  if (isDeviceStoreError(err, 'DEVICE_PRODUCT_NOT_FOUND') || isDeviceStoreError(err, 'DEVICE_PRODUCT_MISMATCH')) return 'WXSEAL_UNKNOWN_KEY_ID';
  if (isDeviceStoreError(err, 'DEVICE_ALREADY_ACTIVE') || isDeviceStoreError(err, 'DEVICE_REVOKED')) return 'WXSEAL_KEY_REVOKED';
  return 'WXSEAL_KEY_STORE_UNAVAILABLE';
}

export class DeviceEndpoints {
  readonly #ctx: DeviceEndpointContext;
  readonly #perSerial: TokenBuckets;
  readonly #perSource: TokenBuckets;

  constructor(ctx: DeviceEndpointContext) {
    this.#ctx = ctx;
    const rl = ctx.config.activation.rateLimit;
    this.#perSerial = new TokenBuckets(rl.perSerial.burst, rl.perSerial.perMinute, rl.maxTrackedKeys, ctx.now);
    this.#perSource = new TokenBuckets(rl.perSource.burst, rl.perSource.perMinute, rl.maxTrackedKeys, ctx.now);
  }

  /**
   * POST to the activation path, SPEC.md 15.5 steps 1-8, then the delivery of 15.6. `clientAddress`
   * is the caller as the gateway sees it (behind a trusted proxy, from X-Forwarded-For); the
   * per-source limit counts by it.
   */
  async activate(req: IncomingMessage, clientAddress: string | undefined = req.socket.remoteAddress): Promise<ActivationOutcome> {
    const ctx = this.#ctx;
    const source = clientAddress ?? 'unknown';
    // Per source before anything is read: the cheapest bound on a flood from one address.
    const sourceWait = this.#perSource.take(source);
    if (sourceWait > 0) return rateLimited(sourceWait, req);
    let serial: string | undefined;
    try {
      let body: Buffer;
      try {
        body = await readRequestBody(req, { limit: MAX_ACTIVATION_BODY_BYTES, contentLength: req.headers['content-length'] });
      } catch (err) {
        if (err instanceof WxsealError && err.code === 'WXSEAL_BODY_TOO_LARGE') {
          return this.#rejection('WXSEAL_BODY_TOO_LARGE', `activation body exceeds ${MAX_ACTIVATION_BODY_BYTES} bytes`, true);
        }
        return this.#rejection('WXSEAL_MALFORMED_PAYLOAD', 'the activation body could not be read', true);
      }
      const parsed = parseActivationRequest(body); // steps 1-2
      const nowMs = ctx.now();
      const nowSeconds = Math.floor(nowMs / 1000);
      checkTimestamp(parsed.timestampSeconds, nowSeconds, ctx.windowSeconds); // step 3

      // Step 4. The registry holds one secret per product and no disabled flag (see the README).
      let productSecret: Buffer;
      try {
        productSecret = await ctx.runtime.repository.getProductSecret(parsed.productId);
      } catch (err) {
        return reject(storeCode(err));
      }
      verifyActivationSignature(parsed, [productSecret]); // step 5

      // Step 6: the gateway's own nonce store, under the scope `activate/<product>` (never a key id).
      let fresh: boolean;
      try {
        fresh = await withTimeout(
          () => ctx.nonceStore.checkAndSet({ keyId: parsed.nonceScope, nonce: parsed.nonce, expiresAt: parsed.timestampSeconds + ctx.windowSeconds, now: nowSeconds, timestamp: parsed.timestampSeconds }),
          ctx.nonceTimeoutMs,
          () => new Error('timed out'), // answered WXSEAL_NONCE_STORE_UNAVAILABLE below
        );
      } catch (err) {
        const code = err instanceof WxsealError && (err.code === 'WXSEAL_NONCE_STORE_FULL' || err.code === 'WXSEAL_NONCE_STORE_UNAVAILABLE') ? err.code : 'WXSEAL_NONCE_STORE_UNAVAILABLE';
        return reject(code);
      }
      if (fresh !== true) return reject(fresh === false ? 'WXSEAL_REPLAYED_NONCE' : 'WXSEAL_NONCE_STORE_UNAVAILABLE');

      // Per serial only now: an attempt without the product secret cannot use up a unit's budget.
      serial = parsed.serial;
      const serialWait = this.#perSerial.take(parsed.serial);
      if (serialWait > 0) return rateLimited(serialWait, req, parsed.serial);

      // Step 7, ownership before state.
      if (ctx.isClientKeyId(parsed.serial)) return reject('WXSEAL_UNKNOWN_KEY_ID');
      let known: Awaited<ReturnType<DeviceRuntime['repository']['show']>>;
      try {
        known = await ctx.runtime.repository.show(parsed.serial);
      } catch (err) {
        return reject(storeCode(err));
      }
      if (known && known.productId !== parsed.productId) return reject('WXSEAL_UNKNOWN_KEY_ID');
      // The registry has no pending state: a known serial is active or revoked, both refused (15.8;
      // re-activation within the pending window is not supported, see the README).
      if (known) return reject('WXSEAL_KEY_REVOKED');

      // Step 8: recorded durably (with its audit row) before anything is sent.
      const key = generateDeviceKey();
      let keyVersion: number;
      try {
        const issued = await ctx.runtime.repository.activate(parsed.serial, parsed.productId, { actor: 'gateway', source: source.slice(0, 128), key });
        keyVersion = issued.keyVersion;
      } catch (err) {
        return reject(storeCode(err));
      }
      const sealed = sealDeviceKey(
        { purpose: 'activate', wrappingSecret: productSecret, productId: parsed.productId, serial: parsed.serial, requestNonce: parsed.nonce },
        keyVersion,
        { deviceKey: key },
      );
      key.fill(0);
      sealed.deviceKey.fill(0);
      return { wire: { status: sealed.status, headers: sealed.headers, body: sealed.body }, close: false, serial: parsed.serial, outcome: 'activated' };
    } catch (err) {
      if (err instanceof Rejected) return this.#rejection(err.code, err.message, false, serial);
      if (err instanceof WxsealError && isWireErrorCode(err.code)) return this.#rejection(err.code, err.message, false, serial);
      throw err;
    }
  }

  /**
   * The rotation handler (SPEC.md 15.7 step 2) for a request the verifier accepted: its answers are
   * sealed or signed by the caller like any response.
   */
  async rotate(verified: VerifiedRequest, source: string | undefined): Promise<ResponseInput & { noStore?: boolean }> {
    const ctx = this.#ctx;
    const json = (status: number, message: string): ResponseInput => ({ status, contentType: 'application/json', body: JSON.stringify({ error: { message } }) });
    if (verified.method !== 'POST') return json(405, 'rotation is POST');
    if (ctx.isClientKeyId(verified.keyId)) return json(403, 'only a device can rotate its key');
    if (verified.body.length > 0) return json(400, 'a rotation request has an empty body');
    const serial = verified.keyId;
    try {
      // The key that verified this request wraps the answer: read it by the id the resolver gave it.
      const record = await ctx.runtime.repository.load(serial);
      if (!record || record.status !== 'active') return json(403, 'this serial cannot rotate');
      if (record.keyVersion >= MAX_KEY_VERSION) return json(403, 'this serial has no key version left');
      const wrappingSecret = verified.secretId === 'previous' ? record.previousKey : record.currentKey;
      // Gone since verification (its grace ended, or a concurrent rotation): the device asks again.
      if (!wrappingSecret) return json(503, 'try again later');
      const key = generateDeviceKey();
      const issued = await ctx.runtime.repository.rotate(serial, {
        graceSeconds: ctx.config.rotationGraceSeconds,
        actor: 'gateway',
        reason: 'device-initiated rotation',
        ...(source !== undefined ? { source: source.slice(0, 128) } : {}),
        key,
      });
      const sealed = sealDeviceKey(
        { purpose: 'rotate', wrappingSecret, productId: issued.productId, serial, requestNonce: verified.nonce },
        issued.keyVersion,
        { deviceKey: key },
      );
      key.fill(0);
      sealed.deviceKey.fill(0);
      return { status: 200, contentType: 'application/json', body: sealed.body, noStore: true };
    } catch (err) {
      if (isDeviceStoreError(err, 'DEVICE_REVOKED') || isDeviceStoreError(err, 'DEVICE_NOT_FOUND')) return json(403, 'this serial cannot rotate');
      // A key that was not recorded is never sent (15.7): outages and lost races alike answer 503.
      return json(503, 'the new key could not be recorded; try again later');
    }
  }

  #rejection(code: WireErrorCode, message: string, close: boolean, serial?: string): ActivationOutcome {
    const wire = rejectionResponse(code, message, Math.floor(this.#ctx.now() / 1000));
    return { wire, close, code, outcome: 'rejected', ...(serial !== undefined ? { serial } : {}) };
  }
}

function rateLimited(seconds: number, req: IncomingMessage, serial?: string): ActivationOutcome {
  // 429 without a wxseal code (SPEC.md 15.5): rate limits are the server's business.
  const body = Buffer.from(JSON.stringify({ error: { message: 'too many activation attempts' } }), 'utf8');
  return {
    wire: { status: 429, headers: { 'content-type': 'application/json', 'retry-after': String(seconds) }, body },
    close: !req.readableEnded,
    outcome: 'rate_limited',
    ...(serial !== undefined ? { serial } : {}),
  };
}
