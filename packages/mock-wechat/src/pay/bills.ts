// Bills: `GET /v3/bill/tradebill` and `/v3/bill/fundflowbill` answer {hash_type, hash_value,
// download_url}; `GET /v3/billdownload/file?token=` (signed request, UNSIGNED answer, as WeChat Pay
// does) serves the file, gzip-compressed when tar_type=GZIP was asked; hash_value is the SHA1 of
// the uncompressed file. The CSV is built from the store's orders and refunds of that China-time
// day, in WeChat Pay's layout (values prefixed with a backtick, a summary section at the end).
// Tokens live 30 s, belong to the merchant that asked, and at most MAX_TOKENS are kept.
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { chinaTime } from '@wxseal/wechatpay';
import { paramError, payFail } from './errors.js';
import type { PayOrder, PayRefund, PayStore } from './store.js';

const BILL_DATE = /^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/;
const TOKEN_TTL_MS = 30_000;
const MAX_TOKENS = 1000;
const DAY_MS = 86_400_000;

interface BillFile {
  mchid: string;
  content: Buffer;
  gzip: boolean;
  expiresAt: number;
}

const yuan = (fen: number): string => (fen / 100).toFixed(2);
const cell = (v: string | number): string => `\`${String(v).replace(/[,\r\n`]/g, ' ')}`;

function singleParam(query: URLSearchParams, name: string, required: boolean): string | undefined {
  const all = query.getAll(name);
  if (all.length > 1) paramError(`/query/${name}`, '重复的查询参数');
  const v = all[0];
  if (v === undefined || v === '') {
    if (required) paramError(`/query/${name}`, '必填性规则校验失败，此字段为必填项');
    return undefined;
  }
  return v;
}

export class PayBills {
  readonly #files = new Map<string, BillFile>();
  readonly #store: PayStore;
  readonly #clock: () => number;

  constructor(store: PayStore, clock: () => number) {
    this.#store = store;
    this.#clock = clock;
  }

  /** The bill date checked: YYYY-MM-DD, before today (China time), within the last three months. */
  #billDate(query: URLSearchParams): string {
    const date = singleParam(query, 'bill_date', true) as string;
    const m = BILL_DATE.exec(date);
    if (!m) paramError('/query/bill_date', '格式规则校验失败，应为yyyy-MM-dd');
    const today = chinaTime(new Date(this.#clock())).slice(0, 10);
    if (date > today) payFail(400, 'NO_STATEMENT_EXIST', '账单日期不能晚于今天');
    if (date === today) payFail(400, 'STATEMENT_CREATING', '账单生成中，请于次日10点后再下载');
    const earliest = chinaTime(new Date(this.#clock() - 92 * DAY_MS)).slice(0, 10);
    if (date < earliest) payFail(400, 'NO_STATEMENT_EXIST', '仅支持下载三个月内的账单');
    return date;
  }

  #tarType(query: URLSearchParams): boolean {
    const t = singleParam(query, 'tar_type', false);
    if (t !== undefined && t !== 'GZIP') paramError('/query/tar_type', '枚举规则校验失败，应为GZIP');
    return t === 'GZIP';
  }

  /** GET /v3/bill/tradebill */
  tradeBill(mchid: string, query: URLSearchParams, origin: string): Record<string, unknown> {
    const date = this.#billDate(query);
    const type = singleParam(query, 'bill_type', false) ?? 'ALL';
    if (type !== 'ALL' && type !== 'SUCCESS' && type !== 'REFUND') paramError('/query/bill_type', '枚举规则校验失败，应为ALL、SUCCESS或REFUND');
    const gzip = this.#tarType(query);
    const onDay = (t: string | undefined): boolean => t !== undefined && t.slice(0, 10) === date;
    const paid = type === 'REFUND' ? [] : this.#store.ordersOf(mchid).filter((o) => onDay(o.success_time));
    const refunds = type === 'SUCCESS' ? [] : this.#store.refundsOf(mchid).filter((r) => onDay(r.create_time));
    return this.#issue(mchid, tradeBillCsv(this.#store, mchid, paid, refunds), gzip, origin);
  }

  /** GET /v3/bill/fundflowbill */
  fundFlowBill(mchid: string, query: URLSearchParams, origin: string): Record<string, unknown> {
    const date = this.#billDate(query);
    const account = singleParam(query, 'account_type', false) ?? 'BASIC';
    if (account !== 'BASIC' && account !== 'OPERATION' && account !== 'FEES') paramError('/query/account_type', '枚举规则校验失败，应为BASIC、OPERATION或FEES');
    const gzip = this.#tarType(query);
    const onDay = (t: string | undefined): boolean => t !== undefined && t.slice(0, 10) === date;
    const paid = account === 'BASIC' ? this.#store.ordersOf(mchid).filter((o) => onDay(o.success_time)) : [];
    const refunds = account === 'BASIC' ? this.#store.refundsOf(mchid).filter((r) => onDay(r.create_time)) : [];
    return this.#issue(mchid, fundFlowCsv(paid, refunds), gzip, origin);
  }

  #issue(mchid: string, csv: string, gzip: boolean, origin: string): Record<string, unknown> {
    const now = this.#clock();
    for (const [k, f] of this.#files) if (f.expiresAt <= now) this.#files.delete(k);
    if (this.#files.size >= MAX_TOKENS) payFail(429, 'FREQUENCY_LIMITED', '频率超限');
    const content = Buffer.from(csv, 'utf8');
    const token = randomBytes(24).toString('base64url');
    this.#files.set(token, { mchid, content, gzip, expiresAt: now + TOKEN_TTL_MS });
    return { hash_type: 'SHA1', hash_value: createHash('sha1').update(content).digest('hex'), download_url: `${origin}/v3/billdownload/file?token=${token}` };
  }

  /** GET /v3/billdownload/file?token= → the file's bytes (the caller sends them unsigned). */
  download(mchid: string, query: URLSearchParams): { bytes: Buffer; contentType: string } {
    const token = singleParam(query, 'token', true) as string;
    const f = this.#files.get(token);
    if (!f || f.expiresAt <= this.#clock()) payFail(400, 'PARAM_ERROR', '下载链接已过期或不存在，请重新申请账单');
    if (f.mchid !== mchid) payFail(403, 'NO_AUTH', '无权下载该账单');
    return f.gzip ? { bytes: gzipSync(f.content), contentType: 'application/x-gzip' } : { bytes: f.content, contentType: 'text/plain; charset=utf-8' };
  }
}

function tradeBillCsv(store: PayStore, mchid: string, paid: PayOrder[], refunds: PayRefund[]): string {
  const lines = ['交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'];
  let settled = 0;
  let refunded = 0;
  let fees = 0;
  for (const o of paid) {
    const fee = Math.round(o.total * 0.006);
    settled += o.total;
    fees += fee;
    lines.push([o.success_time ?? '', o.appid, o.mchid, '0', '', o.transaction_id ?? '', o.out_trade_no, o.openid ?? '', o.trade_type, 'SUCCESS', 'OTHERS', o.currency, yuan(o.total), '0.00', '0', '0', '0.00', '0.00', '', '', o.description, o.attach ?? '', yuan(fee), '0.60%', yuan(o.total), '0.00', ''].map(cell).join(','));
  }
  for (const r of refunds) {
    const o = store.order(mchid, r.out_trade_no);
    refunded += r.refund;
    lines.push([r.create_time, o?.appid ?? '', mchid, '0', '', r.transaction_id, r.out_trade_no, o?.openid ?? '', o?.trade_type ?? '', 'REFUND', 'OTHERS', r.currency, '0.00', '0.00', r.refund_id, r.out_refund_no, yuan(r.refund), '0.00', 'ORIGINAL', r.status, o?.description ?? '', o?.attach ?? '', '0.00', '0.60%', yuan(r.total), yuan(r.refund), ''].map(cell).join(','));
  }
  lines.push('总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额');
  lines.push([paid.length + refunds.length, yuan(settled), yuan(refunded), '0.00', yuan(fees), yuan(settled), yuan(refunded)].map(cell).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function fundFlowCsv(paid: PayOrder[], refunds: PayRefund[]): string {
  const lines = ['记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号'];
  let balance = 0;
  let income = 0;
  let outgo = 0;
  for (const o of paid) {
    balance += o.total;
    income += o.total;
    lines.push([o.success_time ?? '', o.transaction_id ?? '', `${o.transaction_id ?? ''}01`, '交易', '交易', '收入', yuan(o.total), yuan(balance), 'system', '', o.out_trade_no].map(cell).join(','));
  }
  for (const r of refunds) {
    balance -= r.refund;
    outgo += r.refund;
    lines.push([r.create_time, r.refund_id, `${r.refund_id}01`, '退款', '退款', '支出', yuan(r.refund), yuan(balance), 'system', '', r.out_refund_no].map(cell).join(','));
  }
  lines.push('资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额');
  lines.push([paid.length + refunds.length, paid.length, yuan(income), refunds.length, yuan(outgo)].map(cell).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
