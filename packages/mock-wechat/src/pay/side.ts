// The WeChat Pay API v3 side of the mock: request authentication (Authorization, exactly as WeChat
// Pay checks it), routing, signed answers (platform certificate or WeChat Pay public key), callbacks.
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PUBLIC_KEY_ID_PREFIX,
  buildCertificateListBody,
  buildNotification,
  buildRequestMessage,
  chinaTime,
  generateNonce,
  isWechatPayError,
  SIGNATURE_SCHEME,
  SM_AEAD_ALGORITHM,
  SM_SIGNATURE_SCHEME,
  parseAuthorizationWithScheme,
  signResponse,
  verifyRequest,
  type AuthorizationParams,
} from '@wxseal/wechatpay';
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { generateRsaKeyPair, privateKeyObject } from '../certs.js';
import { PAY_MESSAGES, PayError, codeForStatus } from './errors.js';
import { PayKeyRing, generatePayPlatformCertificate, type PayPlatformCertificate, type RotationSigning } from './keys.js';
import { PayMerchantRegistry, type MerchantEntry } from './merchants.js';
import { SmPayKeyRing, generateSmPayPlatformCertificate } from './sm-keys.js';
import { PayBills } from './bills.js';
import { PayGuides, type SensitiveKeyLookup } from './guides.js';
import { MEDIA_PATHS, acceptUpload, metaOf, parseMultipart, type MultipartPart } from './media.js';
import { PayStore, refundResource, transactionView, type PayOrder, type PayRefund, type PayTradeType, type RefundStatus } from './store.js';

export interface PayAnswer {
  status: number;
  /** Exact body bytes sent (what the signature covers); '' for 204; bytes for a bill download (unsigned). */
  body: string | Buffer;
  headers: Record<string, string>;
  /** The Pay error code, for logs. */
  code?: string;
}

export interface PayRequest {
  method: string;
  /** Request-target as received (path + query, undecoded). */
  target: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type PayNotifyEvent = 'TRANSACTION.SUCCESS' | 'REFUND.SUCCESS' | 'REFUND.ABNORMAL' | 'REFUND.CLOSED';

/**
 * How a callback is spoiled: 'body' (a byte of the body changed after signing), 'signature' (signed
 * with a key that is not WeChat Pay's), 'timestamp' (correctly signed but 10 minutes old), 'serial'
 * (Wechatpay-Serial names a certificate nobody holds), 'probe' (a WECHATPAY/SIGNTEST/ signature).
 */
export type PayNotifyTamper = 'body' | 'signature' | 'timestamp' | 'serial' | 'probe';

export interface PayNotifyOptions {
  mchid?: string;
  /** Callback URL (http/https); default the order's (or refund's) notify_url. */
  url?: string;
  event: PayNotifyEvent;
  out_trade_no?: string;
  out_refund_no?: string;
  tamper?: PayNotifyTamper;
  /** Key that signs: default the public key for 'public-key' merchants, the platform certificate otherwise. */
  signWith?: 'certificate' | 'public-key';
  /** Per-attempt timeout; default 5000 ms (WeChat Pay waits 5 s). */
  timeoutMs?: number;
  /** Delays before each retry while the callback does not answer 200/204 (WeChat: 15s, 15s, 30s, 3m, …); none by default. */
  retryDelaysMs?: number[];
}

export interface PayNotifyResult {
  /** HTTP status of the last attempt; 0 when it did not answer (connection error, timeout). */
  status: number;
  /** Body of the last answer (at most 64 KiB, text). */
  body: string;
  /** 200 or 204: what WeChat Pay counts as received. */
  acknowledged: boolean;
  attempts: number;
  /** What was sent (last attempt). */
  sent: { body: string; headers: Record<string, string> };
  error?: string;
}

const MAX_RESPONSE_READ = 64 * 1024;

function requestId(): string {
  return `08${randomBytes(20).toString('hex').toUpperCase()}-${String(Math.floor(Math.random() * 1e9))}`;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}

const TRANSACTION_ID_PATH = /^\/v3\/pay\/transactions\/id\/([^/]{1,64})$/;
const OUT_TRADE_NO_PATH = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]{1,64})$/;
const CLOSE_PATH = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]{1,64})\/close$/;
const GUIDES_PATH = '/v3/smartguide/guides';
const REFUND_PATH = /^\/v3\/refund\/domestic\/refunds\/([^/]{1,128})$/;
const ORDER_PATHS: Readonly<Record<string, PayTradeType>> = {
  '/v3/pay/transactions/jsapi': 'JSAPI',
  '/v3/pay/transactions/native': 'NATIVE',
  '/v3/pay/transactions/h5': 'MWEB',
  '/v3/pay/transactions/app': 'APP',
};

/** What a route answers: JSON (signed), or the raw bytes of a file (unsigned, as WeChat Pay serves bills). */
type RouteResult = { status: number; body: unknown; file?: { bytes: Buffer; contentType: string } };
/** A request as the routes see it: the multipart parts of an upload, parsed once. */
type RoutedRequest = PayRequest & { parts?: MultipartPart[] };

/** scheme://host[:port] the client reached the mock at (download URLs point back there). */
function originOf(headers: IncomingHttpHeaders): string {
  const host = header(headers, 'host');
  return host !== undefined && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? `http://${host}` : 'https://api.mch.weixin.qq.com';
}

function pathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export class PaySide {
  readonly merchants = new PayMerchantRegistry();
  readonly store: PayStore;
  readonly bills: PayBills;
  /** 服务人员 (/v3/smartguide/guides): the endpoints with sensitive fields both ways. */
  readonly guides = new PayGuides();
  readonly keys: PayKeyRing;
  /** The SM platform certificates (国密 merchants; /v3/certificates?algorithm_type=SM2). */
  readonly smKeys: SmPayKeyRing;
  readonly #clock: () => number;
  readonly #window: number;

  constructor(keys: PayKeyRing, clock: () => number, windowSeconds: number) {
    this.keys = keys;
    this.smKeys = new SmPayKeyRing(generateSmPayPlatformCertificate({ nowMs: clock() }));
    this.#clock = clock;
    this.#window = windowSeconds;
    this.store = new PayStore(clock);
    this.bills = new PayBills(this.store, clock);
  }

  #now(): number {
    return Math.floor(this.#clock() / 1000);
  }

  // ---- signing ----------------------------------------------------------------------------

  /** Which key signs an answer for this merchant and request. */
  #signer(merchant: MerchantEntry | undefined, requestSerial: string | undefined): { serial: string; key: KeyObject } {
    const wantsPublicKey = typeof requestSerial === 'string' && requestSerial.startsWith(PUBLIC_KEY_ID_PREFIX);
    if (merchant?.sm === true) return this.smKeys.signer();
    if (merchant?.mode === 'public-key') return this.keys.publicKeySigner();
    if (wantsPublicKey && merchant?.mode !== 'certificate') return this.keys.publicKeySigner();
    return this.keys.signer();
  }

  #answer(status: number, payload: unknown, merchant: MerchantEntry | undefined, headers: IncomingHttpHeaders, code?: string): PayAnswer {
    const body = status === 204 ? '' : JSON.stringify(payload);
    const signer = this.#signer(merchant, header(headers, 'wechatpay-serial'));
    const signed = signResponse({ body, privateKey: signer.key, serial: signer.serial, timestamp: this.#now(), requestId: requestId() });
    const out: Record<string, string> = { ...(signed as Record<string, string>) };
    if (status !== 204) out['Content-Type'] = 'application/json; charset=utf-8';
    return { status, body, headers: out, ...(code !== undefined ? { code } : {}) };
  }

  #error(err: PayError, merchant: MerchantEntry | undefined, headers: IncomingHttpHeaders): PayAnswer {
    return this.#answer(err.status, err.body(), merchant, headers, err.code);
  }

  /** An injected fault as WeChat Pay would answer it: JSON `{code, message}`, signed. */
  faultAnswer(headers: IncomingHttpHeaders, status: number, code?: string, message?: string): PayAnswer {
    const fallback = codeForStatus(status);
    return this.#answer(status, { code: code ?? fallback.code, message: message ?? fallback.message }, this.#merchantOf(headers), headers, code ?? fallback.code);
  }

  /** The merchant an Authorization header names (unverified; only to pick the signing key). */
  #merchantOf(headers: IncomingHttpHeaders): MerchantEntry | undefined {
    const auth = header(headers, 'authorization');
    if (auth === undefined) return undefined;
    try {
      return this.merchants.get(parseAuthorizationWithScheme(auth).params.mchid);
    } catch {
      return undefined;
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  /** Answers one /v3/ request; never throws. */
  handle(req: PayRequest): PayAnswer {
    let merchant: MerchantEntry | undefined;
    try {
      const route = this.#route(req.method, req.path);
      if (route === undefined) throw new PayError(404, 'NOT_FOUND', `${PAY_MESSAGES.notFound}：${req.method} ${req.path.slice(0, 200)}`);
      merchant = this.#merchantOf(req.headers);
      // An upload is signed over its meta part only: parse the multipart body first.
      let routed: RoutedRequest = req;
      if (MEDIA_PATHS.has(req.path)) {
        const parts = parseMultipart(header(req.headers, 'content-type'), req.body);
        routed = { ...req, parts };
      }
      const auth = this.#authenticate(routed.parts ? { ...req, body: metaOf(routed.parts) } : req, merchant);
      merchant = this.merchants.get(auth.mchid);
      if (!merchant) throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.unknownMerchant);
      const result = route(merchant, routed);
      if (result.file) return { status: result.status, body: result.file.bytes, headers: { 'Content-Type': result.file.contentType, 'Request-ID': requestId() } };
      return this.#answer(result.status, result.body, merchant, req.headers);
    } catch (err) {
      if (err instanceof PayError) return this.#error(err, merchant, req.headers);
      return this.#error(new PayError(500, 'SYSTEM_ERROR', PAY_MESSAGES.system), merchant, req.headers);
    }
  }

  /** Authorization → merchant key → signature over METHOD\nURL\ntimestamp\nnonce\nbody\n (raw body). */
  #authenticate(req: PayRequest, claimed: MerchantEntry | undefined): AuthorizationParams {
    const authorization = header(req.headers, 'authorization');
    if (authorization === undefined || authorization === '') {
      throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.authorizationMalformed, { field: 'authorization', location: 'header', detail: { issue: 'missing authorization' } });
    }
    let unknownMerchant = false;
    try {
      return verifyRequest({
        authorization,
        method: req.method,
        url: req.target,
        body: req.body,
        nowSeconds: this.#now(),
        windowSeconds: this.#window,
        // 国密 merchants sign with SM2-with-SM3, the others with RSA.
        schemes: [claimed?.sm === true ? SM_SIGNATURE_SCHEME : SIGNATURE_SCHEME],
        resolveKey: (mchid, serialNo) => {
          const m = this.merchants.get(mchid);
          if (!m) {
            unknownMerchant = true;
            return undefined;
          }
          let serial: string;
          try {
            serial = serialNo.toUpperCase().replace(/^0+/, '') || '0';
          } catch {
            return undefined;
          }
          return serial === m.serial ? m.publicKey : undefined;
        },
      });
    } catch (err) {
      if (!isWechatPayError(err)) throw err;
      switch (err.code) {
        case 'WECHATPAY_UNSUPPORTED_ALGORITHM':
          throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.authorizationScheme);
        case 'WECHATPAY_TIMESTAMP_EXPIRED':
          throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.timestamp, { field: 'timestamp', location: 'authorization', detail: { issue: 'timestamp expired' } });
        case 'WECHATPAY_UNKNOWN_SERIAL':
          throw new PayError(401, 'SIGN_ERROR', unknownMerchant ? PAY_MESSAGES.unknownMerchant : PAY_MESSAGES.unknownSerial, { field: unknownMerchant ? 'mchid' : 'serial_no', location: 'authorization' });
        case 'WECHATPAY_BAD_SIGNATURE':
          throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.badSignature, this.#signInformation(req, authorization));
        default:
          throw new PayError(401, 'SIGN_ERROR', PAY_MESSAGES.authorizationMalformed, { field: 'authorization', location: 'header' });
      }
    }
  }

  /** WeChat's diagnostic for a signature mismatch: the start of the message it verified. */
  #signInformation(req: PayRequest, authorization: string): Record<string, unknown> {
    let truncated = '';
    let length = 0;
    try {
      const p = parseAuthorizationWithScheme(authorization).params;
      const message = buildRequestMessage({ method: req.method, url: req.target, timestamp: p.timestamp, nonce: p.nonce_str, body: req.body });
      length = Buffer.byteLength(message);
      const head = `${req.method}\n${req.target}\n${p.timestamp}\n${p.nonce_str}\n`;
      truncated = `${head}${req.body.subarray(0, 8).toString('utf8')}\n`;
    } catch {
      // leave empty
    }
    return {
      detail: { issue: 'sign not match' },
      field: 'signature',
      location: 'authorization',
      sign_information: { method: req.method, sign_message_length: length, truncated_sign_message: truncated, url: req.path.slice(0, 200) },
    };
  }

  #route(method: string, path: string): ((m: MerchantEntry, req: RoutedRequest) => RouteResult) | undefined {
    if (path === '/v3/certificates' && method === 'GET') return (m, req) => this.#certificates(m, req.query);
    const kind = ORDER_PATHS[path];
    if (kind !== undefined && method === 'POST') return (m, req) => ({ status: 200, body: this.store.prepay(kind, m.mchid, req.body) });
    if (path === '/v3/bill/tradebill' && method === 'GET') return (m, req) => ({ status: 200, body: this.bills.tradeBill(m.mchid, req.query, originOf(req.headers)) });
    if (path === '/v3/bill/fundflowbill' && method === 'GET') return (m, req) => ({ status: 200, body: this.bills.fundFlowBill(m.mchid, req.query, originOf(req.headers)) });
    if (path === '/v3/billdownload/file' && method === 'GET') return (m, req) => ({ status: 200, body: undefined, file: this.bills.download(m.mchid, req.query) });
    if (MEDIA_PATHS.has(path) && method === 'POST') return (_m, req) => ({ status: 200, body: acceptUpload(path, req.parts ?? []) });
    let match = TRANSACTION_ID_PATH.exec(path);
    if (match && method === 'GET') {
      const id = pathParam(match[1] ?? '');
      return (m, req) => ({ status: 200, body: this.store.queryByTransactionId(m.mchid, id, req.query) });
    }
    match = OUT_TRADE_NO_PATH.exec(path);
    if (match && method === 'GET') {
      const no = pathParam(match[1] ?? '');
      return (m, req) => ({ status: 200, body: this.store.queryByOutTradeNo(m.mchid, no, req.query) });
    }
    match = CLOSE_PATH.exec(path);
    if (match && method === 'POST') {
      const no = pathParam(match[1] ?? '');
      return (m, req) => {
        this.store.close(m.mchid, no, req.body);
        return { status: 204, body: '' };
      };
    }
    if (path === '/v3/refund/domestic/refunds' && method === 'POST') return (m, req) => ({ status: 200, body: this.store.createRefund(m.mchid, req.body) });
    if (path === GUIDES_PATH && method === 'POST') return (m, req) => ({ status: 200, body: this.guides.register(m.mchid, req.body, header(req.headers, 'wechatpay-serial'), this.#sensitiveKey(m)) });
    if (path === GUIDES_PATH && method === 'GET') return (m, req) => ({ status: 200, body: this.guides.query(m.mchid, req.query, m.publicKey, m.sm) });
    match = REFUND_PATH.exec(path);
    if (match && method === 'GET') {
      const no = pathParam(match[1] ?? '');
      return (m) => ({ status: 200, body: this.store.queryRefund(m.mchid, no) });
    }
    return undefined;
  }

  /**
   * Which of WeChat Pay's private keys decrypts a sensitive field sent by this merchant under the
   * request's Wechatpay-Serial: an SM platform certificate for a 国密 merchant, a platform
   * certificate or (public-key / migrating merchants) the WeChat Pay public key otherwise.
   */
  #sensitiveKey(m: MerchantEntry): SensitiveKeyLookup {
    return (serial) => {
      if (serial === undefined || serial === '') throw new PayError(400, 'PARAM_ERROR', PAY_MESSAGES.sensitiveSerialMissing, { field: 'Wechatpay-Serial', location: 'header' });
      if (m.sm) {
        const key = /^[0-9A-Fa-f]{1,64}$/.test(serial) ? this.smKeys.privateKeyOf(serial) : undefined;
        if (key) return { key, sm2: true };
      } else if (serial.startsWith(PUBLIC_KEY_ID_PREFIX)) {
        if (m.mode !== 'certificate' && serial === this.keys.publicKey.id) return { key: this.keys.publicKey.key, sm2: false };
      } else if (m.mode !== 'public-key' && /^[0-9A-Fa-f]{1,64}$/.test(serial)) {
        const key = this.keys.privateKeyOf(serial);
        if (key) return { key, sm2: false };
      }
      throw new PayError(400, 'PARAM_ERROR', PAY_MESSAGES.sensitiveSerialUnknown, { field: 'Wechatpay-Serial', location: 'header' });
    };
  }

  #certificates(m: MerchantEntry, query: URLSearchParams): { status: number; body: unknown } {
    const alg = query.get('algorithm_type');
    if (alg !== null && alg !== 'RSA' && alg !== 'SM2' && alg !== 'ALL') throw new PayError(400, 'PARAM_ERROR', '输入源“/query/algorithm_type”映射到值字段“algorithm_type”枚举规则校验失败');
    if (m.mode === 'public-key') throw new PayError(404, 'RESOURCE_NOT_EXISTS', PAY_MESSAGES.noCertificates);
    if (alg === 'SM2') {
      if (!m.sm) return { status: 200, body: { data: [] } };
      return { status: 200, body: JSON.parse(buildCertificateListBody(this.smKeys.certificatePems(), m.apiV3Key, SM_AEAD_ALGORITHM)) as unknown };
    }
    return { status: 200, body: JSON.parse(buildCertificateListBody(this.keys.certificatePems(), m.apiV3Key)) as unknown };
  }

  // ---- rotation ---------------------------------------------------------------------------

  /** Adds an SM platform certificate (listed at once under algorithm_type=SM2). */
  rotateSm(options: { next?: PayPlatformCertificate; signWith?: RotationSigning } = {}): string {
    const next = options.next ?? generateSmPayPlatformCertificate({ nowMs: this.#clock() });
    this.smKeys.add(next, options.signWith ?? 'new');
    return this.smKeys.newestSerial;
  }

  async rotate(options: { next?: PayPlatformCertificate; signWith?: RotationSigning } = {}): Promise<string> {
    const next = options.next ?? (await generatePayPlatformCertificate({ nowMs: this.#clock() }));
    this.keys.add(next, options.signWith ?? 'new');
    return this.keys.newestSerial;
  }

  // ---- orders and callbacks -----------------------------------------------------------------

  findOrder(outTradeNo: string, mchid?: string): PayOrder {
    if (mchid !== undefined) {
      const o = this.store.order(mchid, outTradeNo);
      if (!o) throw new Error(`no order ${outTradeNo} of merchant ${mchid}`);
      return o;
    }
    const all = this.store.ordersByOutTradeNo(outTradeNo);
    if (all.length === 0) throw new Error(`no order ${outTradeNo}`);
    if (all.length > 1) throw new Error(`several merchants have an order ${outTradeNo}: give mchid`);
    return all[0] as PayOrder;
  }

  findRefund(outRefundNo: string, mchid?: string): PayRefund {
    if (mchid !== undefined) {
      const r = this.store.refund(mchid, outRefundNo);
      if (!r) throw new Error(`no refund ${outRefundNo} of merchant ${mchid}`);
      return r;
    }
    const all = this.store.refundsByOutRefundNo(outRefundNo);
    if (all.length === 0) throw new Error(`no refund ${outRefundNo}`);
    if (all.length > 1) throw new Error(`several merchants have a refund ${outRefundNo}: give mchid`);
    return all[0] as PayRefund;
  }

  /** Builds (and POSTs) a callback. */
  async notify(opts: PayNotifyOptions): Promise<PayNotifyResult> {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('notify options must be an object');
    const events: PayNotifyEvent[] = ['TRANSACTION.SUCCESS', 'REFUND.SUCCESS', 'REFUND.ABNORMAL', 'REFUND.CLOSED'];
    if (!events.includes(opts.event)) throw new TypeError(`event must be one of ${events.join(', ')}`);
    let resource: Record<string, unknown>;
    let mchid: string;
    let defaultUrl: string | undefined;
    let summary: string;
    let originalType: string;
    if (opts.event === 'TRANSACTION.SUCCESS') {
      if (typeof opts.out_trade_no !== 'string') throw new TypeError('out_trade_no is required for TRANSACTION.SUCCESS');
      const order = this.findOrder(opts.out_trade_no, opts.mchid);
      if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND') throw new Error(`order ${order.out_trade_no} is not paid (simulatePayment first)`);
      resource = { ...transactionView(order), trade_state: 'SUCCESS', trade_state_desc: '支付成功' };
      mchid = order.mchid;
      defaultUrl = order.notify_url;
      summary = '支付成功';
      originalType = 'transaction';
    } else {
      if (typeof opts.out_refund_no !== 'string') throw new TypeError(`out_refund_no is required for ${opts.event}`);
      const r = this.findRefund(opts.out_refund_no, opts.mchid);
      const status = opts.event.slice('REFUND.'.length) as RefundStatus;
      resource = refundResource(r, status);
      mchid = r.mchid;
      defaultUrl = r.notify_url;
      summary = status === 'SUCCESS' ? '退款成功' : status === 'CLOSED' ? '退款关闭' : '退款异常';
      originalType = 'refund';
    }
    const merchant = this.merchants.get(mchid);
    if (!merchant) throw new Error(`unknown merchant ${mchid}`);
    const url = opts.url ?? defaultUrl;
    if (url === undefined) throw new Error('no callback URL: give url');
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new TypeError('url must be an absolute http(s) URL');
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TypeError('url must be http(s)');
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) throw new RangeError('timeoutMs must be 1..60000');
    const delays = opts.retryDelaysMs ?? [];
    if (!Array.isArray(delays) || delays.length > 16 || delays.some((d) => !Number.isFinite(d) || d < 0 || d > 3_600_000)) throw new RangeError('retryDelaysMs: at most 16 delays of 0..3600000 ms');
    const signWith = opts.signWith ?? (merchant.mode === 'public-key' ? 'public-key' : 'certificate');
    if (signWith === 'certificate' && merchant.mode === 'public-key') throw new Error('a public-key merchant holds no platform certificate');

    const resourceJson = JSON.stringify(resource);
    let last: PayNotifyResult | undefined;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await sleep(delays[attempt - 1] ?? 0);
      const sent = await this.#buildCallback(merchant, opts, resourceJson, summary, originalType, signWith);
      last = await post(target, sent, timeoutMs, attempt + 1);
      if (last.acknowledged) break;
    }
    return last as PayNotifyResult;
  }

  async #buildCallback(
    merchant: MerchantEntry,
    opts: PayNotifyOptions,
    resourceJson: string,
    summary: string,
    originalType: string,
    signWith: 'certificate' | 'public-key',
  ): Promise<{ body: string; headers: Record<string, string> }> {
    const signer = signWith === 'public-key' ? this.keys.publicKeySigner() : merchant.sm ? this.smKeys.signer() : this.keys.signer();
    const now = this.#now();
    const timestamp = opts.tamper === 'timestamp' ? now - 600 : now;
    const built = buildNotification({
      event_type: opts.event,
      resource: resourceJson,
      original_type: originalType,
      summary,
      apiV3Key: merchant.apiV3Key,
      privateKey: signer.key,
      serial: signer.serial,
      create_time: chinaTime(new Date(this.#clock())),
      timestamp,
    });
    let body = built.body;
    const headers: Record<string, string> = { ...(built.headers as Record<string, string>) };
    switch (opts.tamper) {
      case 'body':
        // Same length, one character of the summary changed: only the signature can tell.
        body = body.replace(`"summary":"${summary}"`, `"summary":"${summary.slice(0, -1)}败"`);
        if (body === built.body) body = body.replace('"id":"', '"id":"X');
        break;
      case 'signature': {
        const message = `${headers['Wechatpay-Timestamp']}\n${headers['Wechatpay-Nonce']}\n${body}\n`;
        headers['Wechatpay-Signature'] = sign('sha256', Buffer.from(message), await this.#foreignKey()).toString('base64');
        break;
      }
      case 'serial':
        headers['Wechatpay-Serial'] = signWith === 'public-key' ? `${PUBLIC_KEY_ID_PREFIX}0000000000000000000000000000000` : '7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF';
        break;
      case 'probe':
        headers['Wechatpay-Signature'] = `WECHATPAY/SIGNTEST/${generateNonce(32)}`;
        break;
      default:
        break;
    }
    return { body, headers };
  }

  #foreign: Promise<KeyObject> | undefined;
  /** A key that is not WeChat Pay's: generated once, never listed anywhere. */
  #foreignKey(): Promise<KeyObject> {
    this.#foreign ??= generateRsaKeyPair().then((pair) => privateKeyObject(pair.privateKeyPem));
    return this.#foreign;
  }
}

async function post(target: URL, sent: { body: string; headers: Record<string, string> }, timeoutMs: number, attempts: number): Promise<PayNotifyResult> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: { ...sent.headers, 'User-Agent': 'Mozilla/4.0 (mock-wechat; WeChat Pay callback)', Accept: '*/*' },
      body: sent.body,
      redirect: 'manual',
      signal: ac.signal,
    });
    const body = await readBounded(res);
    return { status: res.status, body, acknowledged: res.status === 200 || res.status === 204, attempts, sent };
  } catch (err) {
    return { status: 0, body: '', acknowledged: false, attempts, sent, error: ac.signal.aborted ? 'timeout' : (err as Error).name || 'error' };
  } finally {
    clearTimeout(timer);
  }
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value) {
      const room = MAX_RESPONSE_READ - size;
      chunks.push(value.subarray(0, Math.max(0, room)));
      size += Math.min(value.length, Math.max(0, room));
      if (size >= MAX_RESPONSE_READ) {
        await reader.cancel().catch(() => undefined);
        break;
      }
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
