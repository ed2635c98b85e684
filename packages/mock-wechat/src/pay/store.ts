// Orders and refunds in memory, with WeChat Pay's business rules: JSAPI prepay (idempotent per
// out_trade_no), query by transaction_id / out_trade_no, close, refund (idempotent per
// out_refund_no), query refund. Request bodies are validated field by field (PARAM_ERROR).
import { randomBytes, randomInt } from 'node:crypto';
import { chinaTime } from '@wxseal/wechatpay';
import { PAY_MESSAGES, paramError, payFail } from './errors.js';

export type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';
/** The order APIs the mock serves (trade_type of the order). */
export type PayTradeType = 'JSAPI' | 'NATIVE' | 'MWEB' | 'APP';
export type RefundStatus = 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL';

export interface PayOrder {
  mchid: string;
  appid: string;
  out_trade_no: string;
  /** JSAPI, NATIVE, MWEB (H5) or APP. */
  trade_type: PayTradeType;
  description: string;
  notify_url: string;
  attach?: string;
  time_expire?: string;
  total: number;
  currency: string;
  /** The payer: known from the start for JSAPI, set at payment for the other kinds. */
  openid?: string;
  prepay_id: string;
  /** NATIVE: the QR code content. */
  code_url?: string;
  /** H5: the cashier page. */
  h5_url?: string;
  created_at: number;
  trade_state: TradeState;
  transaction_id?: string;
  success_time?: string;
  refunded: number;
  fingerprint: string;
}

export interface PayRefund {
  mchid: string;
  out_refund_no: string;
  refund_id: string;
  out_trade_no: string;
  transaction_id: string;
  refund: number;
  total: number;
  currency: string;
  reason?: string;
  notify_url?: string;
  funds_account?: string;
  status: RefundStatus;
  create_time: string;
  success_time?: string;
}

type Json = Record<string, unknown>;

const MAX_ORDERS = 20_000;
const MAX_REFUNDS = 20_000;
const OUT_TRADE_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
const OUT_REFUND_NO = /^[0-9A-Za-z_\-|*@]{1,64}$/;
const MAX_AMOUNT = 100_000_000_000;

export const TRADE_STATE_DESC: Record<TradeState, string> = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  REFUND: '订单发生过退款',
};

function digits(n: number): string {
  let s = '';
  while (s.length < n) s += String(randomInt(0, 10));
  return s;
}

function compactDate(nowMs: number): string {
  return chinaTime(new Date(nowMs)).slice(0, 19).replace(/[-T:]/g, '');
}

// ---- body validation -----------------------------------------------------------------------

export function parseJsonBody(body: Buffer): Json {
  if (body.length === 0) payFail(400, 'PARAM_ERROR', '请求体为空');
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    payFail(400, 'PARAM_ERROR', '请求体不是合法的JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) payFail(400, 'PARAM_ERROR', '请求体必须是JSON对象');
  return v as Json;
}

function str(o: Json, key: string, pointer: string, max: number, required: true): string;
function str(o: Json, key: string, pointer: string, max: number, required: false): string | undefined;
function str(o: Json, key: string, pointer: string, max: number, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) paramError(`${pointer}/${key}`, '必填性规则校验失败，此字段为必填项');
    return undefined;
  }
  if (typeof v !== 'string') paramError(`${pointer}/${key}`, '类型规则校验失败，此字段应为字符串');
  const bytes = Buffer.byteLength(v);
  if (required && bytes === 0) paramError(`${pointer}/${key}`, '字符串规则校验失败，字节数 0，小于最小值 1');
  if (bytes > max) paramError(`${pointer}/${key}`, `字符串规则校验失败，字节数 ${bytes}，大于最大值 ${max}`);
  return v;
}

function obj(o: Json, key: string, pointer: string, required: boolean): Json | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) paramError(`${pointer}/${key}`, '必填性规则校验失败，此字段为必填项');
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) paramError(`${pointer}/${key}`, '类型规则校验失败，此字段应为对象');
  return v as Json;
}

function amountInt(o: Json, key: string, pointer: string, min: number): number {
  const v = o[key];
  if (v === undefined || v === null) paramError(`${pointer}/${key}`, '必填性规则校验失败，此字段为必填项');
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) paramError(`${pointer}/${key}`, '类型规则校验失败，此字段应为整数');
  if (v < min || v > MAX_AMOUNT) paramError(`${pointer}/${key}`, `数值规则校验失败，取值 ${v}，不在 [${min}, ${MAX_AMOUNT}] 之内`);
  return v;
}

function currencyOf(o: Json, pointer: string, required: boolean): string {
  const c = str(o, 'currency', pointer, 16, false);
  if (c === undefined) {
    if (required) paramError(`${pointer}/currency`, '必填性规则校验失败，此字段为必填项');
    return 'CNY';
  }
  if (c !== 'CNY') paramError(`${pointer}/currency`, '枚举规则校验失败，境内商户仅支持CNY');
  return c;
}

function notifyUrlOf(o: Json, required: boolean): string | undefined {
  const raw = required ? str(o, 'notify_url', '/body', 255, true) : str(o, 'notify_url', '/body', 255, false);
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    paramError('/body/notify_url', '格式规则校验失败，应为合法的URL');
  }
  // WeChat requires https and a public host; the mock also takes http (local test servers).
  if (u.protocol !== 'https:' && u.protocol !== 'http:') paramError('/body/notify_url', '格式规则校验失败，仅支持http(s)');
  if (u.search || u.hash || u.username || u.password) paramError('/body/notify_url', '格式规则校验失败，不能携带参数');
  return raw;
}

function checkMchid(bodyMchid: string, authMchid: string, pointer: string): void {
  if (bodyMchid !== authMchid) payFail(400, 'PARAM_ERROR', `${pointer}与Authorization中的商户号不一致`, { location: pointer.split('/')[1] ?? 'body', field: pointer });
}

// ---- the store -----------------------------------------------------------------------------

export class PayStore {
  readonly #orders = new Map<string, PayOrder>();
  readonly #byTransaction = new Map<string, PayOrder>();
  readonly #refunds = new Map<string, PayRefund>();
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  order(mchid: string, outTradeNo: string): PayOrder | undefined {
    return this.#orders.get(`${mchid}|${outTradeNo}`);
  }

  /** Orders of any merchant with this out_trade_no. */
  ordersByOutTradeNo(outTradeNo: string): PayOrder[] {
    return [...this.#orders.values()].filter((o) => o.out_trade_no === outTradeNo);
  }

  refund(mchid: string, outRefundNo: string): PayRefund | undefined {
    return this.#refunds.get(`${mchid}|${outRefundNo}`);
  }

  refundsByOutRefundNo(outRefundNo: string): PayRefund[] {
    return [...this.#refunds.values()].filter((r) => r.out_refund_no === outRefundNo);
  }

  /** POST /v3/pay/transactions/jsapi → {prepay_id}. */
  jsapiPrepay(authMchid: string, body: Buffer): Json {
    return this.prepay('JSAPI', authMchid, body);
  }

  /**
   * The four order APIs: JSAPI and APP → {prepay_id}, NATIVE → {code_url}, MWEB (H5) → {h5_url}.
   * JSAPI needs payer.openid, H5 needs scene_info.payer_client_ip and scene_info.h5_info.type.
   */
  prepay(kind: PayTradeType, authMchid: string, body: Buffer): Json {
    const o = parseJsonBody(body);
    const appid = str(o, 'appid', '/body', 32, true);
    const mchid = str(o, 'mchid', '/body', 32, true);
    const description = str(o, 'description', '/body', 127, true);
    const outTradeNo = str(o, 'out_trade_no', '/body', 32, true);
    if (!OUT_TRADE_NO.test(outTradeNo)) paramError('/body/out_trade_no', '格式规则校验失败，应为6-32位数字、大小写字母或_-|*');
    const timeExpire = str(o, 'time_expire', '/body', 64, false);
    const attach = str(o, 'attach', '/body', 128, false);
    const notifyUrl = notifyUrlOf(o, true) as string;
    str(o, 'goods_tag', '/body', 32, false);
    const amount = obj(o, 'amount', '/body', true) as Json;
    const total = amountInt(amount, 'total', '/body/amount', 1);
    const currency = currencyOf(amount, '/body/amount', false);
    let openid: string | undefined;
    if (kind === 'JSAPI') {
      const payer = obj(o, 'payer', '/body', true) as Json;
      openid = str(payer, 'openid', '/body/payer', 128, true);
    }
    obj(o, 'detail', '/body', false);
    const scene = obj(o, 'scene_info', '/body', kind === 'MWEB');
    let h5Type: string | undefined;
    if (scene !== undefined) {
      str(scene, 'payer_client_ip', '/body/scene_info', 45, true);
      str(scene, 'device_id', '/body/scene_info', 32, false);
      obj(scene, 'store_info', '/body/scene_info', false);
      if (kind === 'MWEB') {
        const h5 = obj(scene, 'h5_info', '/body/scene_info', true) as Json;
        h5Type = str(h5, 'type', '/body/scene_info/h5_info', 32, true);
        if (h5Type !== 'iOS' && h5Type !== 'Android' && h5Type !== 'Wap') paramError('/body/scene_info/h5_info/type', '枚举规则校验失败，应为iOS、Android或Wap');
        str(h5, 'app_name', '/body/scene_info/h5_info', 64, false);
        str(h5, 'app_url', '/body/scene_info/h5_info', 128, false);
        str(h5, 'bundle_id', '/body/scene_info/h5_info', 128, false);
        str(h5, 'package_name', '/body/scene_info/h5_info', 128, false);
      }
    }
    obj(o, 'settle_info', '/body', false);
    checkMchid(mchid, authMchid, '/body/mchid');

    const fingerprint = JSON.stringify([kind, appid, description, total, currency, openid ?? null, notifyUrl, attach ?? null, timeExpire ?? null, h5Type ?? null]);
    const existing = this.order(mchid, outTradeNo);
    if (existing) {
      if (existing.trade_state === 'CLOSED') payFail(400, 'ORDER_CLOSED', PAY_MESSAGES.orderClosed);
      if (existing.trade_state !== 'NOTPAY') payFail(400, 'INVALID_REQUEST', PAY_MESSAGES.orderPaid);
      if (existing.fingerprint !== fingerprint) payFail(403, 'OUT_TRADE_NO_USED', PAY_MESSAGES.outTradeNoUsed);
      return prepayAnswer(existing);
    }
    const now = this.#clock();
    const prepayId = `wx${compactDate(now)}${randomBytes(10).toString('hex')}`;
    const order: PayOrder = {
      mchid,
      appid,
      out_trade_no: outTradeNo,
      trade_type: kind,
      description,
      notify_url: notifyUrl,
      total,
      currency,
      prepay_id: prepayId,
      created_at: Math.floor(now / 1000),
      trade_state: 'NOTPAY',
      refunded: 0,
      fingerprint,
      ...(openid !== undefined ? { openid } : {}),
      ...(kind === 'NATIVE' ? { code_url: `weixin://wxpay/bizpayurl?pr=${randomBytes(6).toString('base64url')}` } : {}),
      ...(kind === 'MWEB' ? { h5_url: `https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=${prepayId}&package=${String(randomInt(1_000_000_000, 2_000_000_000))}` } : {}),
      ...(attach !== undefined ? { attach } : {}),
      ...(timeExpire !== undefined ? { time_expire: timeExpire } : {}),
    };
    this.#put(order);
    return prepayAnswer(order);
  }

  /** Every order of a merchant (bills). */
  ordersOf(mchid: string): PayOrder[] {
    return [...this.#orders.values()].filter((o) => o.mchid === mchid);
  }

  /** Every refund of a merchant (bills). */
  refundsOf(mchid: string): PayRefund[] {
    return [...this.#refunds.values()].filter((r) => r.mchid === mchid);
  }

  #put(order: PayOrder): void {
    if (this.#orders.size >= MAX_ORDERS) {
      const oldest = this.#orders.keys().next().value;
      if (oldest !== undefined) {
        const o = this.#orders.get(oldest);
        this.#orders.delete(oldest);
        if (o?.transaction_id) this.#byTransaction.delete(o.transaction_id);
      }
    }
    this.#orders.set(`${order.mchid}|${order.out_trade_no}`, order);
  }

  /** GET /v3/pay/transactions/out-trade-no/{no}?mchid= */
  queryByOutTradeNo(authMchid: string, outTradeNo: string, query: URLSearchParams): Json {
    const mchid = this.#queryMchid(authMchid, query);
    const order = this.order(mchid, outTradeNo);
    if (!order) payFail(404, 'ORDER_NOT_EXIST', PAY_MESSAGES.orderNotExist);
    return transactionView(order);
  }

  /** GET /v3/pay/transactions/id/{transaction_id}?mchid= (paid orders only: unpaid ones have no transaction_id). */
  queryByTransactionId(authMchid: string, transactionId: string, query: URLSearchParams): Json {
    const mchid = this.#queryMchid(authMchid, query);
    const order = this.#byTransaction.get(transactionId);
    if (!order || order.mchid !== mchid) payFail(404, 'ORDER_NOT_EXIST', PAY_MESSAGES.orderNotExist);
    return transactionView(order);
  }

  #queryMchid(authMchid: string, query: URLSearchParams): string {
    const all = query.getAll('mchid');
    if (all.length === 0 || all[0] === '') paramError('/query/mchid', '必填性规则校验失败，此字段为必填项');
    if (all.length > 1) paramError('/query/mchid', '重复的查询参数');
    const mchid = all[0] as string;
    checkMchid(mchid, authMchid, '/query/mchid');
    return mchid;
  }

  /** POST /v3/pay/transactions/out-trade-no/{no}/close {mchid} → 204. Closing a closed order again is a no-op. */
  close(authMchid: string, outTradeNo: string, body: Buffer): void {
    const o = parseJsonBody(body);
    const mchid = str(o, 'mchid', '/body', 32, true);
    checkMchid(mchid, authMchid, '/body/mchid');
    const order = this.order(mchid, outTradeNo);
    if (!order) payFail(404, 'ORDER_NOT_EXIST', PAY_MESSAGES.orderNotExist);
    if (order.trade_state === 'SUCCESS' || order.trade_state === 'REFUND') payFail(400, 'INVALID_REQUEST', PAY_MESSAGES.orderPaid);
    order.trade_state = 'CLOSED';
  }

  /** Marks an order paid (what the payer's confirmation does). */
  pay(order: PayOrder): void {
    if (order.trade_state === 'CLOSED') throw new Error(`order ${order.out_trade_no} is closed`);
    if (order.trade_state !== 'NOTPAY') return;
    const now = this.#clock();
    order.trade_state = 'SUCCESS';
    // A Native/H5/App payer is known once they pay.
    order.openid ??= `o${randomBytes(14).toString('base64url')}`;
    order.transaction_id = `42000${digits(5)}${compactDate(now).slice(0, 8)}${digits(10)}`;
    order.success_time = chinaTime(new Date(now));
    this.#byTransaction.set(order.transaction_id, order);
  }

  /** POST /v3/refund/domestic/refunds. New refunds are PROCESSING until completeRefund(). */
  createRefund(authMchid: string, body: Buffer): Json {
    const o = parseJsonBody(body);
    const transactionId = str(o, 'transaction_id', '/body', 32, false);
    const outTradeNo = str(o, 'out_trade_no', '/body', 32, false);
    if (transactionId === undefined && outTradeNo === undefined) paramError('/body/out_trade_no', '必填性规则校验失败，transaction_id和out_trade_no必须二选一');
    const outRefundNo = str(o, 'out_refund_no', '/body', 64, true);
    if (!OUT_REFUND_NO.test(outRefundNo)) paramError('/body/out_refund_no', '格式规则校验失败，应为1-64位数字、大小写字母或_-|*@');
    const reason = str(o, 'reason', '/body', 80, false);
    const notifyUrl = notifyUrlOf(o, false);
    const fundsAccount = str(o, 'funds_account', '/body', 32, false);
    if (fundsAccount !== undefined && fundsAccount !== 'AVAILABLE' && fundsAccount !== 'UNSETTLED') paramError('/body/funds_account', '枚举规则校验失败');
    const amount = obj(o, 'amount', '/body', true) as Json;
    const refund = amountInt(amount, 'refund', '/body/amount', 1);
    const total = amountInt(amount, 'total', '/body/amount', 1);
    const currency = currencyOf(amount, '/body/amount', true);

    let order: PayOrder | undefined;
    if (transactionId !== undefined) {
      order = this.#byTransaction.get(transactionId);
      if (order && order.mchid !== authMchid) order = undefined;
      if (order && outTradeNo !== undefined && order.out_trade_no !== outTradeNo) payFail(400, 'INVALID_REQUEST', 'transaction_id与out_trade_no不匹配');
    } else {
      order = this.order(authMchid, outTradeNo as string);
    }
    if (!order) payFail(404, 'RESOURCE_NOT_EXISTS', PAY_MESSAGES.orderNotExist);

    const existing = this.refund(authMchid, outRefundNo);
    if (existing) {
      if (existing.out_trade_no !== order.out_trade_no || existing.refund !== refund || existing.total !== total) {
        payFail(400, 'INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
      }
      return refundView(existing);
    }
    if (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND') payFail(400, 'INVALID_REQUEST', '订单未支付或已关闭，不能退款');
    if (total !== order.total) payFail(400, 'INVALID_REQUEST', '订单金额与订单实际金额不一致');
    if (order.refunded + refund > order.total) payFail(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
    if (this.#refunds.size >= MAX_REFUNDS) payFail(500, 'SYSTEM_ERROR', PAY_MESSAGES.system);

    const now = this.#clock();
    const r: PayRefund = {
      mchid: authMchid,
      out_refund_no: outRefundNo,
      refund_id: `50${digits(27)}`,
      out_trade_no: order.out_trade_no,
      transaction_id: order.transaction_id ?? '',
      refund,
      total,
      currency,
      status: 'PROCESSING',
      create_time: chinaTime(new Date(now)),
      ...(reason !== undefined ? { reason } : {}),
      ...(notifyUrl !== undefined ? { notify_url: notifyUrl } : {}),
      ...(fundsAccount !== undefined ? { funds_account: fundsAccount } : {}),
    };
    order.refunded += refund;
    order.trade_state = 'REFUND';
    this.#refunds.set(`${authMchid}|${outRefundNo}`, r);
    return refundView(r);
  }

  /** GET /v3/refund/domestic/refunds/{out_refund_no} */
  queryRefund(authMchid: string, outRefundNo: string): Json {
    const r = this.refund(authMchid, outRefundNo);
    if (!r) payFail(404, 'RESOURCE_NOT_EXISTS', PAY_MESSAGES.refundNotExist);
    return refundView(r);
  }

  /** Ends a PROCESSING refund (SUCCESS by default); a refund that does not succeed gives its amount back. */
  completeRefund(r: PayRefund, status: Exclude<RefundStatus, 'PROCESSING'>): void {
    if (r.status !== 'PROCESSING') return;
    r.status = status;
    if (status === 'SUCCESS') r.success_time = chinaTime(new Date(this.#clock()));
    else {
      const order = this.order(r.mchid, r.out_trade_no);
      if (order) order.refunded = Math.max(0, order.refunded - r.refund);
    }
  }
}

/** Query-order answer (and the decrypted TRANSACTION.* resource). */
export function transactionView(o: PayOrder): Json {
  const paid = o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND';
  return {
    appid: o.appid,
    mchid: o.mchid,
    out_trade_no: o.out_trade_no,
    ...(paid ? { transaction_id: o.transaction_id } : {}),
    trade_type: o.trade_type,
    trade_state: o.trade_state,
    trade_state_desc: TRADE_STATE_DESC[o.trade_state],
    ...(paid ? { bank_type: 'OTHERS', success_time: o.success_time } : {}),
    attach: o.attach ?? '',
    ...(o.openid !== undefined ? { payer: { openid: o.openid } } : {}),
    amount: paid ? { total: o.total, payer_total: o.total, currency: o.currency, payer_currency: o.currency } : { total: o.total, currency: o.currency, payer_currency: o.currency },
  };
}

/** What an order API answers for an order. */
function prepayAnswer(o: PayOrder): Json {
  if (o.trade_type === 'NATIVE') return { code_url: o.code_url };
  if (o.trade_type === 'MWEB') return { h5_url: o.h5_url };
  return { prepay_id: o.prepay_id };
}

/** Refund answer (create and query). */
export function refundView(r: PayRefund): Json {
  return {
    refund_id: r.refund_id,
    out_refund_no: r.out_refund_no,
    transaction_id: r.transaction_id,
    out_trade_no: r.out_trade_no,
    channel: 'ORIGINAL',
    user_received_account: '支付用户零钱',
    ...(r.success_time !== undefined ? { success_time: r.success_time } : {}),
    create_time: r.create_time,
    status: r.status,
    funds_account: r.funds_account ?? 'AVAILABLE',
    amount: {
      total: r.total,
      refund: r.refund,
      from: [],
      payer_total: r.total,
      payer_refund: r.refund,
      settlement_refund: r.refund,
      settlement_total: r.total,
      discount_refund: 0,
      currency: r.currency,
      refund_fee: 0,
    },
    promotion_detail: [],
  };
}

/** The decrypted REFUND.* resource. */
export function refundResource(r: PayRefund, status: RefundStatus): Json {
  return {
    mchid: r.mchid,
    out_trade_no: r.out_trade_no,
    transaction_id: r.transaction_id,
    out_refund_no: r.out_refund_no,
    refund_id: r.refund_id,
    refund_status: status,
    ...(r.success_time !== undefined ? { success_time: r.success_time } : {}),
    user_received_account: '支付用户零钱',
    amount: { total: r.total, refund: r.refund, payer_total: r.total, payer_refund: r.refund },
  };
}
