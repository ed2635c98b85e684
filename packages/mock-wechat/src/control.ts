// The /__mock/ control API: the same controls as the MockWechat handle, over HTTP and JSON, for
// tests written in other languages. Kept apart from the emulated endpoints; never faulted, never
// counted in stats. Optional bearer token (MockWechatOptions.controlToken).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { CodedError } from '@wxseal/protocol/errors';
import { MOCK_ERRORS, type MockErrorCode } from './errors.js';
import type { FaultKind, FaultSpec } from './faults.js';
import { sendJson } from './http-util.js';
import { createMockMpApp, type CreateMockMpAppOptions } from './mp/create-app.js';
import type { ApiSecurityMode } from './mp/apps.js';
import { createMockPayMerchant, type PayMerchantMode } from './pay/merchants.js';
import type { RotationSigning } from './pay/keys.js';
import type { PayNotifyEvent, PayNotifyOptions, PayNotifyTamper } from './pay/side.js';
import type { MockWechat } from './types.js';

export interface ControlRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  controlToken: string | undefined;
}

/** The handle the control API drives: the MockWechat handle plus the list of appids. */
export type ControlledMock = MockWechat & { readonly appids: string[] };

type ControlErrorCode = Extract<MockErrorCode, `MOCK_CONTROL_${string}`>;

/** A refused control call: answered with its catalogue status and `{ error: message }`. */
class ControlError extends CodedError<ControlErrorCode> {
  override readonly name = 'ControlError';
  readonly status: number;
  constructor(code: ControlErrorCode, message: string) {
    super(code, message);
    this.status = MOCK_ERRORS[code].status;
  }
}

function bodyObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'body must be a JSON object');
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, name: string, required = true): string | undefined {
  const v = o[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `${name} must be a non-empty string`);
  return v;
}

function num(o: Record<string, unknown>, name: string): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `${name} must be a number`);
  return v;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function faultFromJson(o: Record<string, unknown>): FaultSpec {
  const kind = str(o, 'kind') as FaultKind;
  const spec: FaultSpec = { kind };
  const path = str(o, 'path', false);
  const pathRegex = str(o, 'pathRegex', false);
  if (path !== undefined && pathRegex !== undefined) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'give path or pathRegex, not both');
  if (path !== undefined) spec.path = path;
  if (pathRegex !== undefined) {
    if (pathRegex.length > 200) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'pathRegex too long (200 chars at most)');
    try {
      spec.path = new RegExp(pathRegex);
    } catch {
      throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'pathRegex is not a valid regular expression');
    }
  }
  const latencyMs = num(o, 'latencyMs');
  const status = num(o, 'status');
  const errcode = num(o, 'errcode');
  const times = num(o, 'times');
  if (latencyMs !== undefined) spec.latencyMs = latencyMs;
  if (status !== undefined) spec.status = status;
  if (errcode !== undefined) spec.errcode = errcode;
  if (times !== undefined) spec.times = times;
  const errmsg = str(o, 'errmsg', false);
  const body = str(o, 'body', false);
  if (errmsg !== undefined) spec.errmsg = errmsg;
  if (body !== undefined) spec.body = body;
  return spec;
}

function faultToJson(f: ReturnType<MockWechat['faults']['list']>[number]): Record<string, unknown> {
  const { path, ...rest } = f;
  return { ...rest, ...(path instanceof RegExp ? { pathRegex: path.source } : path !== undefined ? { path } : {}) };
}

function payCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
  }
}

async function payAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
  }
}

function payKeys(mock: MockWechat, mchid?: string): Record<string, unknown> {
  return payCall(() => {
    const sm = mock.paySmPlatformCertificates();
    const smSerials = Object.keys(sm);
    return {
      current: mock.payPlatformSerial(),
      certificates: mock.payPlatformCertificates(mchid),
      publicKey: mock.payPublicKey(),
      // 国密: the SM platform certificates (/v3/certificates?algorithm_type=SM2), oldest first.
      sm: { current: smSerials[smSerials.length - 1] ?? null, certificates: sm },
      merchants: mock.payMerchants(),
    };
  });
}

/** The Mini Program platform certificates: RSA at the top level, SM2 (SM2withSM3 apps) under `sm2`. */
function mpPlatform(mock: MockWechat): Record<string, unknown> {
  return {
    current: mock.platformSerial(),
    deprecated: mock.deprecatedPlatformSerial() ?? null,
    certificates: mock.platformCertificates(),
    sm2: { current: mock.sm2PlatformSerial(), deprecated: mock.deprecatedSm2PlatformSerial() ?? null, certificates: mock.sm2PlatformCertificates() },
  };
}

const SUITES = ['RSA', 'SM'] as const;
type Suite = (typeof SUITES)[number];

/** `suite` ('RSA' | 'SM'), or the `algorithm` spelling of each side ('RSA' | 'SM2'); RSA when absent. */
function suiteOf(o: Record<string, unknown>): Suite {
  const suite = str(o, 'suite', false);
  const algorithm = str(o, 'algorithm', false);
  if (suite !== undefined && !SUITES.includes(suite as Suite)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "suite must be 'RSA' or 'SM'");
  if (algorithm !== undefined && algorithm !== 'RSA' && algorithm !== 'SM2') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "algorithm must be 'RSA' or 'SM2'");
  const fromAlgorithm: Suite | undefined = algorithm === undefined ? undefined : algorithm === 'SM2' ? 'SM' : 'RSA';
  if (suite !== undefined && fromAlgorithm !== undefined && suite !== fromAlgorithm) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'suite and algorithm disagree');
  return (suite as Suite | undefined) ?? fromAlgorithm ?? 'RSA';
}

const API_SECURITY_MODES: readonly ApiSecurityMode[] = ['off', 'optional', 'required'];

function appOptions(o: Record<string, unknown>): CreateMockMpAppOptions {
  const mode = str(o, 'mode', false);
  if (mode !== undefined && !API_SECURITY_MODES.includes(mode as ApiSecurityMode)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `mode must be one of ${API_SECURITY_MODES.join(', ')}`);
  const appid = str(o, 'appid', false);
  const fixtures = num(o, 'fixtures');
  for (const flag of ['acceptAnyCode', 'requireRequestSerial'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `${flag} must be a boolean`);
  }
  const sm = suiteOf(o) === 'SM';
  return {
    ...(appid !== undefined ? { appid } : {}),
    ...(mode !== undefined ? { mode: mode as ApiSecurityMode } : {}),
    ...(fixtures !== undefined ? { fixtures } : {}),
    ...(o['acceptAnyCode'] === true ? { acceptAnyCode: true } : {}),
    ...(o['requireRequestSerial'] === true ? { requireRequestSerial: true } : {}),
    ...(sm ? { symmetricAlgorithm: 'SM4_GCM' as const, asymmetricAlgorithm: 'SM2withSM3' as const } : {}),
  };
}

const TAMPERS: readonly PayNotifyTamper[] = ['body', 'signature', 'timestamp', 'serial', 'probe'];

function simulationOptions(o: Record<string, unknown>): { mchid?: string; url?: string; notify?: boolean; tamper?: PayNotifyTamper; signWith?: 'certificate' | 'public-key' } {
  const mchid = str(o, 'mchid', false);
  const url = str(o, 'url', false);
  const tamper = str(o, 'tamper', false);
  const signWith = str(o, 'signWith', false);
  if (tamper !== undefined && !TAMPERS.includes(tamper as PayNotifyTamper)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `tamper must be one of ${TAMPERS.join(', ')}`);
  if (signWith !== undefined && signWith !== 'certificate' && signWith !== 'public-key') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "signWith must be 'certificate' or 'public-key'");
  if (o['notify'] !== undefined && typeof o['notify'] !== 'boolean') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'notify must be a boolean');
  return {
    ...(mchid !== undefined ? { mchid } : {}),
    ...(url !== undefined ? { url } : {}),
    ...(typeof o['notify'] === 'boolean' ? { notify: o['notify'] } : {}),
    ...(tamper !== undefined ? { tamper: tamper as PayNotifyTamper } : {}),
    ...(signWith !== undefined ? { signWith: signWith as 'certificate' | 'public-key' } : {}),
  };
}

function notifyOptions(o: Record<string, unknown>): PayNotifyOptions {
  const event = str(o, 'event')! as PayNotifyEvent;
  const outTradeNo = str(o, 'out_trade_no', false);
  const outRefundNo = str(o, 'out_refund_no', false);
  const { notify: _notify, ...rest } = simulationOptions(o);
  return { ...rest, event, ...(outTradeNo !== undefined ? { out_trade_no: outTradeNo } : {}), ...(outRefundNo !== undefined ? { out_refund_no: outRefundNo } : {}) };
}

/** Answers one control request; returns the HTTP status sent. */
export async function handleControl(mock: ControlledMock, req: ControlRequest, res: ServerResponse): Promise<number> {
  const reply = (status: number, body: unknown): number => {
    sendJson(res, status, body, { 'Cache-Control': 'no-store' });
    return status;
  };
  try {
    if (req.controlToken !== undefined) {
      const auth = req.headers.authorization;
      const given = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!sameSecret(given, req.controlToken)) throw new ControlError('MOCK_CONTROL_UNAUTHORIZED', 'control token required (Authorization: Bearer …)');
    }
    const route = `${req.method} ${req.path}`;
    const appidOf = (o: Record<string, unknown>) => {
      const appid = str(o, 'appid')!;
      if (!mock.appids.includes(appid)) throw new ControlError('MOCK_CONTROL_NOT_FOUND', `unknown appid ${appid}`);
      return appid;
    };
    switch (route) {
      case 'GET /__mock/health':
        return reply(200, { ok: true, url: mock.url, apps: mock.appids });
      case 'GET /__mock/stats':
        return reply(200, mock.stats);
      case 'POST /__mock/stats/reset':
        mock.resetStats();
        return reply(200, { ok: true });
      case 'GET /__mock/platform-certificates':
        return reply(200, mpPlatform(mock));
      case 'POST /__mock/platform/rotate':
        // RSA and SM2 platform keys rotate together (see MockWechat.rotatePlatformKey).
        await mock.rotatePlatformKey();
        return reply(200, mpPlatform(mock));
      case 'POST /__mock/platform/finish-rotation':
        mock.finishRotation();
        return reply(200, mpPlatform(mock));
      case 'POST /__mock/apps': {
        // Generates an app (RSA, or 国密 with suite 'SM') and registers it; answers the client side (test material only).
        const options = appOptions(bodyObject(req.body));
        if (options.appid !== undefined && mock.appids.includes(options.appid)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', `appid ${options.appid} already exists`);
        let app: Awaited<ReturnType<typeof createMockMpApp>>;
        try {
          app = await createMockMpApp(options);
          mock.addApp(app.config);
        } catch (err) {
          throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
        }
        return reply(200, { client: app.clientConfig(mock), suite: options.asymmetricAlgorithm === 'SM2withSM3' ? 'SM' : 'RSA', jsCodes: app.jsCodes, phoneCodes: app.phoneCodes });
      }
      case 'GET /__mock/tokens': {
        const appid = appidOf({ appid: req.query.get('appid') ?? undefined });
        return reply(200, { appid, stats: mock.tokenStats(appid), current: { stable: mock.currentToken(appid, 'stable') ?? null, classic: mock.currentToken(appid, 'classic') ?? null } });
      }
      case 'POST /__mock/tokens/invalidate': {
        const appid = appidOf(bodyObject(req.body));
        return reply(200, { invalidated: mock.invalidateTokens(appid) });
      }
      case 'POST /__mock/tokens/reset-quota': {
        const appid = appidOf(bodyObject(req.body));
        mock.resetForceRefreshQuota(appid);
        return reply(200, { ok: true });
      }
      case 'GET /__mock/faults':
        return reply(200, { faults: mock.faults.list().map(faultToJson) });
      case 'POST /__mock/faults': {
        let id: number;
        try {
          id = mock.faults.add(faultFromJson(bodyObject(req.body)));
        } catch (err) {
          if (err instanceof ControlError) throw err;
          throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
        }
        return reply(200, { id });
      }
      case 'DELETE /__mock/faults':
        mock.faults.clear();
        return reply(200, { ok: true });
      case 'POST /__mock/fixtures/js-code': {
        const o = bodyObject(req.body);
        const appid = appidOf(o);
        const unionid = str(o, 'unionid', false);
        const sessionKey = str(o, 'session_key', false) ?? Buffer.from(createHash('sha256').update(`${appid}|${String(o.code)}|${Date.now()}`).digest().subarray(0, 16)).toString('base64');
        try {
          mock.addJsCode(appid, str(o, 'code')!, { openid: str(o, 'openid')!, session_key: sessionKey, ...(unionid !== undefined ? { unionid } : {}) });
        } catch (err) {
          if (err instanceof ControlError) throw err;
          throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
        }
        return reply(200, { ok: true });
      }
      case 'POST /__mock/fixtures/phone-code': {
        const o = bodyObject(req.body);
        const appid = appidOf(o);
        const pure = str(o, 'purePhoneNumber', false);
        const cc = str(o, 'countryCode', false);
        try {
          mock.addPhoneCode(appid, str(o, 'code')!, { phoneNumber: str(o, 'phoneNumber')!, ...(pure !== undefined ? { purePhoneNumber: pure } : {}), ...(cc !== undefined ? { countryCode: cc } : {}) });
        } catch (err) {
          if (err instanceof ControlError) throw err;
          throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
        }
        return reply(200, { ok: true });
      }
      case 'GET /__mock/pay/platform-certificates': {
        const mchid = req.query.get('mchid') ?? undefined;
        return reply(200, payKeys(mock, mchid));
      }
      case 'POST /__mock/pay/platform/rotate': {
        const o = bodyObject(req.body);
        const signWith = str(o, 'signWith', false);
        if (signWith !== undefined && signWith !== 'new' && signWith !== 'old' && signWith !== 'alternate') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "signWith must be 'new', 'old' or 'alternate'");
        const options: { signWith?: RotationSigning } = signWith !== undefined ? { signWith: signWith as RotationSigning } : {};
        // suite 'SM' / algorithm 'SM2': the SM platform certificates (国密 merchants) instead.
        const serial = suiteOf(o) === 'SM' ? await payAsync(() => mock.rotatePaySmPlatformCertificate(options)) : await mock.rotatePayPlatformCertificate(options);
        return reply(200, { rotatedTo: serial, ...payKeys(mock) });
      }
      case 'POST /__mock/pay/platform/withdraw-old': {
        const sm = suiteOf(bodyObject(req.body)) === 'SM';
        return reply(200, { withdrawn: payCall(() => (sm ? mock.withdrawOldPaySmPlatformCertificate() : mock.withdrawOldPayPlatformCertificate())), ...payKeys(mock) });
      }
      case 'POST /__mock/pay/merchants': {
        // Generates a merchant (RSA, or 国密 with algorithm 'SM2' / suite 'SM') and registers it; answers the client side (test material only).
        const o = bodyObject(req.body);
        const mode = str(o, 'mode', false);
        if (mode !== undefined && mode !== 'certificate' && mode !== 'public-key' && mode !== 'both') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "mode must be 'certificate', 'public-key' or 'both'");
        const sm = suiteOf(o) === 'SM';
        if (sm && mode !== undefined && mode !== 'certificate') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', "an SM2 merchant uses mode 'certificate' (SM platform certificates)");
        const mchid = str(o, 'mchid', false);
        let merchant: Awaited<ReturnType<typeof createMockPayMerchant>>;
        try {
          merchant = await createMockPayMerchant({ ...(mchid !== undefined ? { mchid } : {}), ...(mode !== undefined ? { mode: mode as PayMerchantMode } : {}), ...(sm ? { algorithm: 'SM2' as const } : {}) });
          await mock.addPayMerchant(merchant.config);
        } catch (err) {
          throw new ControlError('MOCK_CONTROL_BAD_REQUEST', (err as Error).message);
        }
        return reply(200, { client: merchant.client, mode: merchant.config.mode, algorithm: sm ? 'SM2' : 'RSA', ...payKeys(mock, merchant.config.mchid) });
      }
      case 'POST /__mock/pay/notify': {
        const o = bodyObject(req.body);
        const result = await payAsync(() => mock.payNotify(notifyOptions(o)));
        return reply(200, result);
      }
      case 'POST /__mock/pay/simulate-payment': {
        const o = bodyObject(req.body);
        const outTradeNo = str(o, 'out_trade_no')!;
        const extra = simulationOptions(o);
        const result = await payAsync(() => mock.simulatePayment(outTradeNo, extra));
        return reply(200, { order: mock.payOrder(outTradeNo, extra.mchid) ?? null, notification: result ?? null });
      }
      case 'POST /__mock/pay/complete-refund': {
        const o = bodyObject(req.body);
        const outRefundNo = str(o, 'out_refund_no')!;
        const status = str(o, 'status', false);
        if (status !== undefined && status !== 'SUCCESS' && status !== 'CLOSED' && status !== 'ABNORMAL') throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'status must be SUCCESS, CLOSED or ABNORMAL');
        const extra = simulationOptions(o);
        const result = await payAsync(() => mock.completePayRefund(outRefundNo, { ...extra, ...(status !== undefined ? { status } : {}) }));
        return reply(200, { refund: mock.payRefund(outRefundNo, extra.mchid) ?? null, notification: result ?? null });
      }
      case 'GET /__mock/pay/order': {
        const no = req.query.get('out_trade_no');
        if (!no) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'out_trade_no is required');
        const order = mock.payOrder(no, req.query.get('mchid') ?? undefined);
        return reply(order ? 200 : 404, { order: order ?? null });
      }
      case 'GET /__mock/pay/refund': {
        const no = req.query.get('out_refund_no');
        if (!no) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'out_refund_no is required');
        const refund = mock.payRefund(no, req.query.get('mchid') ?? undefined);
        return reply(refund ? 200 : 404, { refund: refund ?? null });
      }
      case 'POST /__mock/outage': {
        const ms = num(bodyObject(req.body), 'durationMs');
        if (ms === undefined || ms < 0 || ms > 3_600_000) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'durationMs must be 0..3600000');
        // Answer first, then go down: the caller gets its confirmation before the listener closes.
        reply(202, { ok: true, downForMs: ms });
        await new Promise<void>((resolve) => (res.writableFinished ? resolve() : res.once('finish', () => resolve())));
        setImmediate(() => void mock.outage(ms).catch(() => undefined));
        return 202;
      }
      default:
        if (req.path.startsWith('/__mock/faults/') && req.method === 'DELETE') {
          const id = Number(req.path.slice('/__mock/faults/'.length));
          if (!Number.isSafeInteger(id)) throw new ControlError('MOCK_CONTROL_BAD_REQUEST', 'fault id must be an integer');
          return reply(mock.faults.remove(id) ? 200 : 404, { removed: id });
        }
        throw new ControlError('MOCK_CONTROL_NOT_FOUND', `no control endpoint ${route}`);
    }
  } catch (err) {
    if (err instanceof ControlError) return reply(err.status, { error: err.message });
    return reply(500, { error: 'control request failed' });
  }
}
