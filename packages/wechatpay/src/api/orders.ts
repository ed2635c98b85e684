// Native, H5 and App orders (JSAPI is the merchant client's jsapiPrepay): arguments checked, the
// merchant's mchid added, idempotent by default like jsapiPrepay (the same body for the same
// out_trade_no is answered with the same order), the answer checked for what the call returns.
import { fail } from '../errors.js';
import type { CallOptions, WechatPayMerchantClient } from '../client/interface.js';
import { answerObject, callOptions } from './answer.js';
import type { AppPrepayRequest, AppPrepayResult, H5PrepayRequest, H5PrepayResult, NativePrepayRequest, NativePrepayResult, PrepayCommon } from './types.js';

const OUT_TRADE_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;
const H5_TYPES = new Set(['iOS', 'Android', 'Wap']);

function checkCommon(req: PrepayCommon, what: string): void {
  if (typeof req !== 'object' || req === null) fail('WECHATPAY_BAD_ARGUMENT', `${what} request must be an object`);
  for (const k of ['appid', 'description', 'out_trade_no', 'notify_url'] as const) {
    if (typeof req[k] !== 'string' || req[k] === '') fail('WECHATPAY_BAD_ARGUMENT', `${k} must be a non-empty string`);
  }
  if (!OUT_TRADE_NO.test(req.out_trade_no)) fail('WECHATPAY_BAD_ARGUMENT', 'out_trade_no must be 6-32 of [0-9A-Za-z_-|*]');
  if (!Number.isSafeInteger(req.amount?.total) || req.amount.total <= 0) fail('WECHATPAY_BAD_ARGUMENT', 'amount.total must be a positive integer of fen');
}

function checkScene(scene: { payer_client_ip?: unknown } | undefined, required: boolean): void {
  if (scene === undefined && !required) return;
  if (typeof scene !== 'object' || scene === null) fail('WECHATPAY_BAD_ARGUMENT', 'scene_info must be an object');
  if (typeof scene.payer_client_ip !== 'string' || scene.payer_client_ip === '') fail('WECHATPAY_BAD_ARGUMENT', 'scene_info.payer_client_ip must be a non-empty string');
}

/** `POST /v3/pay/transactions/native` → `code_url` (show it as a QR code). */
export async function nativePrepay(m: WechatPayMerchantClient, req: NativePrepayRequest, options?: CallOptions): Promise<NativePrepayResult> {
  checkCommon(req, 'native prepay');
  checkScene(req.scene_info, false);
  const path = '/v3/pay/transactions/native';
  const res = await m.request({ method: 'POST', path, body: { ...req, mchid: m.mchid }, ...callOptions(options, true) });
  const d = answerObject(res, 'native prepay', ['code_url'], { method: 'POST', path });
  return { code_url: d['code_url'] as string };
}

/** `POST /v3/pay/transactions/h5` → `h5_url` (open it in the payer's mobile browser). */
export async function h5Prepay(m: WechatPayMerchantClient, req: H5PrepayRequest, options?: CallOptions): Promise<H5PrepayResult> {
  checkCommon(req, 'h5 prepay');
  checkScene(req.scene_info, true);
  const h5 = req.scene_info.h5_info;
  if (typeof h5 !== 'object' || h5 === null || typeof h5.type !== 'string' || !H5_TYPES.has(h5.type)) {
    fail('WECHATPAY_BAD_ARGUMENT', 'scene_info.h5_info.type must be iOS, Android or Wap');
  }
  const path = '/v3/pay/transactions/h5';
  const res = await m.request({ method: 'POST', path, body: { ...req, mchid: m.mchid }, ...callOptions(options, true) });
  const d = answerObject(res, 'h5 prepay', ['h5_url'], { method: 'POST', path });
  return { h5_url: d['h5_url'] as string };
}

/** `POST /v3/pay/transactions/app` → `prepay_id` (then `m.appPaymentParams(appid, prepay_id)` for the App). */
export async function appPrepay(m: WechatPayMerchantClient, req: AppPrepayRequest, options?: CallOptions): Promise<AppPrepayResult> {
  checkCommon(req, 'app prepay');
  checkScene(req.scene_info, false);
  const path = '/v3/pay/transactions/app';
  const res = await m.request({ method: 'POST', path, body: { ...req, mchid: m.mchid }, ...callOptions(options, true) });
  const d = answerObject(res, 'app prepay', ['prepay_id'], { method: 'POST', path });
  return { prepay_id: d['prepay_id'] as string };
}
