// Trade and fund-flow bills: `GET /v3/bill/tradebill` and `/v3/bill/fundflowbill` answer (signed,
// verified) a download_url with the SHA1 of the bill; the download itself is a signed GET whose
// answer WeChat Pay does NOT sign, so its integrity rests on that digest: downloadBill decompresses
// (tar_type GZIP) and compares the SHA1 of the uncompressed bill with hash_value before returning
// anything (WECHATPAY_BILL_HASH_MISMATCH otherwise).
// The Authorization of the download goes to the client's own host only: download_url's host is
// ignored, its path (/v3/…) and query (the token) are requested from the client's baseUrl.
import { createHash, timingSafeEqual } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { fail } from '../errors.js';
import type { CallOptions, WechatPayMerchantClient } from '../client/interface.js';
import { answerObject, callOptions } from './answer.js';
import { WechatPayDownloadError } from './errors.js';
import type { BillInfo, DownloadBillOptions, FundFlowBillRequest, TradeBillRequest } from './types.js';

const BILL_DATE = /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/;
const TRADE_BILL_TYPES = new Set(['ALL', 'SUCCESS', 'REFUND']);
const ACCOUNT_TYPES = new Set(['BASIC', 'OPERATION', 'FEES']);
const DEFAULT_MAX_BILL_BYTES = 64 * 1024 * 1024;

function checkDate(d: unknown): void {
  if (typeof d !== 'string' || !BILL_DATE.test(d)) fail('WECHATPAY_BAD_ARGUMENT', 'bill_date must be YYYY-MM-DD');
}

function checkTar(t: unknown): void {
  if (t !== undefined && t !== 'GZIP') fail('WECHATPAY_BAD_ARGUMENT', 'tar_type must be GZIP or absent');
}

async function billInfo(m: WechatPayMerchantClient, path: string, query: Record<string, string | undefined>, options: CallOptions | undefined): Promise<BillInfo> {
  const res = await m.request({ method: 'GET', path, query, ...callOptions(options, true) });
  const d = answerObject(res, 'bill', ['hash_type', 'hash_value', 'download_url'], { method: 'GET', path });
  return { hash_type: d['hash_type'] as string, hash_value: d['hash_value'] as string, download_url: d['download_url'] as string };
}

/** `GET /v3/bill/tradebill?bill_date=&bill_type=&tar_type=` (交易账单). */
export async function tradeBill(m: WechatPayMerchantClient, req: TradeBillRequest, options?: CallOptions): Promise<BillInfo> {
  if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'trade bill request must be an object');
  checkDate(req.bill_date);
  if (req.bill_type !== undefined && !TRADE_BILL_TYPES.has(req.bill_type)) fail('WECHATPAY_BAD_ARGUMENT', 'bill_type must be ALL, SUCCESS or REFUND');
  checkTar(req.tar_type);
  return billInfo(m, '/v3/bill/tradebill', { bill_date: req.bill_date, bill_type: req.bill_type, tar_type: req.tar_type }, options);
}

/** `GET /v3/bill/fundflowbill?bill_date=&account_type=&tar_type=` (资金账单). */
export async function fundFlowBill(m: WechatPayMerchantClient, req: FundFlowBillRequest, options?: CallOptions): Promise<BillInfo> {
  if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', 'fund flow bill request must be an object');
  checkDate(req.bill_date);
  if (req.account_type !== undefined && !ACCOUNT_TYPES.has(req.account_type)) fail('WECHATPAY_BAD_ARGUMENT', 'account_type must be BASIC, OPERATION or FEES');
  checkTar(req.tar_type);
  return billInfo(m, '/v3/bill/fundflowbill', { bill_date: req.bill_date, account_type: req.account_type, tar_type: req.tar_type }, options);
}

/**
 * Downloads a bill announced by tradeBill / fundFlowBill: signed GET of download_url's path and
 * query on the client's host, gunzip when compressed, SHA1 compared with hash_value. Resolves to
 * the uncompressed bill (UTF-8 CSV text with a BOM-less header line, as WeChat Pay sends it).
 */
export async function downloadBill(m: WechatPayMerchantClient, bill: BillInfo, options: DownloadBillOptions = {}): Promise<Buffer> {
  if (typeof bill !== 'object' || bill === null) fail('WECHATPAY_BAD_ARGUMENT', 'bill must be the answer of tradeBill or fundFlowBill');
  if (typeof bill.download_url !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'bill.download_url must be a URL');
  if (typeof bill.hash_type !== 'string' || bill.hash_type.toUpperCase() !== 'SHA1') {
    throw new WechatPayDownloadError('WECHATPAY_BILL_HASH_UNSUPPORTED', `hash_type ${String(bill.hash_type).slice(0, 16)} is not SHA1`, { path: '' });
  }
  if (typeof bill.hash_value !== 'string' || !/^[0-9A-Fa-f]{40}$/.test(bill.hash_value)) fail('WECHATPAY_BAD_ARGUMENT', 'bill.hash_value must be a SHA1 hex digest');
  if (options.tarType !== undefined && options.tarType !== 'GZIP' && options.tarType !== 'NONE') fail('WECHATPAY_BAD_ARGUMENT', 'tarType must be GZIP or NONE');
  let url: URL;
  try {
    url = new URL(bill.download_url);
  } catch {
    fail('WECHATPAY_BAD_ARGUMENT', 'bill.download_url must be an absolute URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !url.pathname.startsWith('/v3/') || url.username || url.password) {
    fail('WECHATPAY_BAD_ARGUMENT', 'bill.download_url must be http(s)://host/v3/…');
  }
  const path = url.pathname;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const res = await m.request<Buffer>({
    method: 'GET',
    path,
    query,
    download: { maxBytes: options.maxBytes ?? DEFAULT_MAX_BILL_BYTES },
    ...callOptions({ signal: options.signal, timeoutMs: options.timeoutMs }, true),
  });
  const raw = Buffer.isBuffer(res.data) ? res.data : Buffer.alloc(0);
  const gzipped = options.tarType === 'GZIP' || (options.tarType === undefined && raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b);
  let content: Buffer;
  if (gzipped) {
    try {
      content = gunzipSync(raw, { maxOutputLength: 16 * (options.maxBytes ?? DEFAULT_MAX_BILL_BYTES) });
    } catch (err) {
      throw new WechatPayDownloadError('WECHATPAY_BILL_GZIP_INVALID', `the bill downloaded from ${path} does not gunzip`, { path, cause: err });
    }
  } else {
    content = raw;
  }
  const digest = createHash('sha1').update(content).digest();
  const expected = Buffer.from(bill.hash_value, 'hex');
  if (!timingSafeEqual(digest, expected)) {
    throw new WechatPayDownloadError('WECHATPAY_BILL_HASH_MISMATCH', `SHA1 of the bill downloaded from ${path} is ${digest.toString('hex')}, its bill answer announced ${bill.hash_value.toLowerCase()}`, { path });
  }
  return content;
}
