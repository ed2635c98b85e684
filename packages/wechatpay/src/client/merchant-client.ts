// One merchant's typed calls (JSAPI prepay, order query and close, refund and its query,
// wx.requestPayment and App SDK parameters, sensitive-field encryption): arguments checked, the call's default
// idempotency, and the answer checked for the fields the call promises.
import { buildAppPaymentParams, type AppPaymentParams } from '../api/app-payment.js';
import { fail } from '../errors.js';
import type { MerchantMaterial } from '../merchant/material.js';
import { buildRequestPaymentParams, type RequestPaymentParams } from '../mini-program.js';
import { decryptSensitive, encryptSensitive } from '../sensitive.js';
import { WechatPayTransportError } from './errors.js';
import type { BreakerState, CallOptions, HttpMethod, WechatPayMerchantClient, WechatPayRequest, WechatPayResponse } from './interface.js';
import type { JsapiPrepayRequest, JsapiPrepayResult, Refund, RefundRequest, Transaction } from './types.js';

const ID = /^[\x21-\x7e]{1,64}$/;

/** What a merchant's facade needs from the client. */
export interface MerchantClientHost {
  request<T>(mchid: string, req: WechatPayRequest): Promise<WechatPayResponse<T>>;
  materialOf(mchid: string): MerchantMaterial;
  breakerStateOf(mchid: string): BreakerState;
}

function pathId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ID.test(value)) fail('WECHATPAY_BAD_ARGUMENT', `${what} must be 1-64 printable ASCII characters`);
  return encodeURIComponent(value);
}

function objectData(res: WechatPayResponse, what: string, required: readonly string[], p: { method: HttpMethod; path: string }): Record<string, unknown> {
  const d = res.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer is not a JSON object`, { status: res.status, ...p });
  }
  for (const k of required) {
    if (typeof (d as Record<string, unknown>)[k] !== 'string') {
      throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer lacks ${k}`, { status: res.status, ...p });
    }
  }
  return d as Record<string, unknown>;
}

export class MerchantClient implements WechatPayMerchantClient {
  constructor(private readonly client: MerchantClientHost, readonly mchid: string) {}

  get breakerState(): BreakerState {
    return this.client.breakerStateOf(this.mchid);
  }

  request<T = unknown>(req: WechatPayRequest): Promise<WechatPayResponse<T>> {
    return this.client.request<T>(this.mchid, req);
  }

  private call(method: HttpMethod, path: string, defaults: { idempotent: boolean }, options: CallOptions | undefined, extra: Partial<WechatPayRequest> = {}): Promise<WechatPayResponse> {
    return this.request({ method, path, ...extra, idempotent: options?.idempotent ?? defaults.idempotent, signal: options?.signal, timeoutMs: options?.timeoutMs });
  }

  async jsapiPrepay(req: JsapiPrepayRequest, options?: CallOptions): Promise<JsapiPrepayResult> {
    if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'prepay request must be an object');
    for (const k of ['appid', 'description', 'out_trade_no', 'notify_url'] as const) {
      if (typeof req[k] !== 'string' || req[k] === '') fail('WECHATPAY_BAD_ARGUMENT', `${k} must be a non-empty string`);
    }
    if (!Number.isSafeInteger(req.amount?.total) || req.amount.total <= 0) fail('WECHATPAY_BAD_ARGUMENT', 'amount.total must be a positive integer of fen');
    if (typeof req.payer?.openid !== 'string' || req.payer.openid === '') fail('WECHATPAY_BAD_ARGUMENT', 'payer.openid must be a non-empty string');
    const path = '/v3/pay/transactions/jsapi';
    const res = await this.call('POST', path, { idempotent: true }, options, { body: { ...req, mchid: this.mchid } });
    const d = objectData(res, 'jsapi prepay', ['prepay_id'], { method: 'POST', path });
    return { prepay_id: d['prepay_id'] as string };
  }

  requestPaymentParams(appId: string, prepayId: string): RequestPaymentParams {
    const material = this.client.materialOf(this.mchid);
    return buildRequestPaymentParams({ appId, prepayId, privateKey: material.privateKey });
  }

  appPaymentParams(appId: string, prepayId: string): AppPaymentParams {
    const material = this.client.materialOf(this.mchid);
    return buildAppPaymentParams({ appId, partnerId: this.mchid, prepayId, privateKey: material.privateKey });
  }

  async queryOrderById(transactionId: string, options?: CallOptions): Promise<Transaction> {
    const path = `/v3/pay/transactions/id/${pathId(transactionId, 'transaction_id')}`;
    const res = await this.call('GET', path, { idempotent: true }, options, { query: { mchid: this.mchid } });
    return objectData(res, 'query order', ['out_trade_no', 'trade_state'], { method: 'GET', path }) as Transaction;
  }

  async queryOrderByOutTradeNo(outTradeNo: string, options?: CallOptions): Promise<Transaction> {
    const path = `/v3/pay/transactions/out-trade-no/${pathId(outTradeNo, 'out_trade_no')}`;
    const res = await this.call('GET', path, { idempotent: true }, options, { query: { mchid: this.mchid } });
    return objectData(res, 'query order', ['out_trade_no', 'trade_state'], { method: 'GET', path }) as Transaction;
  }

  async closeOrder(outTradeNo: string, options?: CallOptions): Promise<void> {
    const path = `/v3/pay/transactions/out-trade-no/${pathId(outTradeNo, 'out_trade_no')}/close`;
    await this.call('POST', path, { idempotent: true }, options, { body: { mchid: this.mchid } });
  }

  async refund(req: RefundRequest, options?: CallOptions): Promise<Refund> {
    if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'refund request must be an object');
    if (typeof req.out_refund_no !== 'string' || req.out_refund_no === '') fail('WECHATPAY_BAD_ARGUMENT', 'out_refund_no must be a non-empty string');
    if ((req.transaction_id === undefined) === (req.out_trade_no === undefined)) fail('WECHATPAY_BAD_ARGUMENT', 'give exactly one of transaction_id and out_trade_no');
    if (!Number.isSafeInteger(req.amount?.refund) || !Number.isSafeInteger(req.amount?.total) || req.amount.refund <= 0 || req.amount.refund > req.amount.total) {
      fail('WECHATPAY_BAD_ARGUMENT', 'amount.refund and amount.total must be integers of fen with 0 < refund ≤ total');
    }
    const path = '/v3/refund/domestic/refunds';
    const res = await this.call('POST', path, { idempotent: true }, options, { body: req });
    return objectData(res, 'refund', ['refund_id', 'out_refund_no', 'status'], { method: 'POST', path }) as Refund;
  }

  async queryRefund(outRefundNo: string, options?: CallOptions): Promise<Refund> {
    const path = `/v3/refund/domestic/refunds/${pathId(outRefundNo, 'out_refund_no')}`;
    const res = await this.call('GET', path, { idempotent: true }, options);
    return objectData(res, 'query refund', ['refund_id', 'out_refund_no', 'status'], { method: 'GET', path }) as Refund;
  }

  encryptSensitive(plaintext: string): { ciphertext: string; wechatpaySerial: string } {
    const material = this.client.materialOf(this.mchid);
    if (material.encryptionKey === undefined || material.wechatpaySerial === undefined) {
      fail('WECHATPAY_BAD_ARGUMENT', `merchant ${this.mchid} has no WeChat Pay encryption key (no public key or valid platform certificate yet)`);
    }
    return { ciphertext: encryptSensitive(plaintext, material.encryptionKey), wechatpaySerial: material.wechatpaySerial };
  }

  decryptSensitive(ciphertext: string): string {
    return decryptSensitive(ciphertext, this.client.materialOf(this.mchid).privateKey);
  }
}
