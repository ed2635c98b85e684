// Parameters of the App SDK's PayReq (WXApi sendReq / IWXAPI.sendReq) for an App prepay_id:
// sign = base64 SHA256withRSA over `appid\ntimestamp\nnoncestr\nprepayid\n` (four lines, each
// ending in \n, the last one too) with the merchant API private key; package is the fixed
// `Sign=WXPay`, partnerid the merchant's mchid.
// Source: pay.weixin.qq.com/docs/merchant/apis/in-app-payment/app-transfer-payment.html
// (APP调起支付: 签名串一共有四行 … 应用id / 时间戳 / 随机字符串 / 预支付交易会话ID).
import { fail } from '../errors.js';
import { timestampText, toPrivateKey, type PrivateKeyInput, type PublicKeyInput } from '../internal.js';
import { assertNonce, generateNonce, signMessage, unixSeconds, verifyMessage } from '../signing.js';
import { SM2_PAY_SIGN_UNDOCUMENTED, isSm2Key } from '../sm.js';

/** What the App hands to the WeChat SDK (field names as the SDK's PayReq spells them on the wire). */
export interface AppPaymentParams {
  appid: string;
  /** The merchant's mchid. */
  partnerid: string;
  prepayid: string;
  /** Always `Sign=WXPay`. */
  package: 'Sign=WXPay';
  noncestr: string;
  /** Unix seconds as a string. */
  timestamp: string;
  /** base64 SHA256withRSA signature. */
  sign: string;
}

export interface BuildAppPaymentOptions {
  /** The mobile application's AppID (Open Platform), the one the App order was placed with. */
  appId: string;
  /** The merchant's mchid. */
  partnerId: string;
  /** prepay_id returned by the App order API. */
  prepayId: string;
  privateKey: PrivateKeyInput;
  timestamp?: number | string;
  nonceStr?: string;
}

const APPID = /^[0-9A-Za-z_]{1,32}$/;
const MCHID = /^[0-9]{1,32}$/;
const PREPAY_ID = /^[0-9A-Za-z_-]{1,64}$/;

/** `appid\ntimestamp\nnoncestr\nprepayid\n`. */
export function buildAppPaymentMessage(appId: string, timestamp: number | string, nonceStr: string, prepayId: string): string {
  if (typeof appId !== 'string' || !APPID.test(appId)) fail('WECHATPAY_BAD_ARGUMENT', 'appId must be 1-32 of [0-9A-Za-z_]');
  const ts = timestampText(timestamp, 'timestamp');
  assertNonce(nonceStr, 'nonceStr');
  if (nonceStr.length > 32) fail('WECHATPAY_BAD_ARGUMENT', 'nonceStr must be at most 32 characters');
  if (typeof prepayId !== 'string' || !PREPAY_ID.test(prepayId)) fail('WECHATPAY_BAD_ARGUMENT', 'prepayId must be 1-64 of [0-9A-Za-z_-]');
  return `${appId}\n${ts}\n${nonceStr}\n${prepayId}\n`;
}

/** Signed parameters to pass to the WeChat App SDK. */
export function buildAppPaymentParams(opts: BuildAppPaymentOptions): AppPaymentParams {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  if (typeof opts.partnerId !== 'string' || !MCHID.test(opts.partnerId)) fail('WECHATPAY_BAD_ARGUMENT', 'partnerId must be the mchid (1-32 digits)');
  const timestamp = timestampText(opts.timestamp ?? unixSeconds(), 'timestamp');
  const noncestr = opts.nonceStr ?? generateNonce();
  // 国密: WeChat documents no SM2 paySign (signType is "RSA" only): refused, see SM2_PAY_SIGN_UNDOCUMENTED.
  if (isSm2Key(toPrivateKey(opts.privateKey))) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', SM2_PAY_SIGN_UNDOCUMENTED);
  const sign = signMessage(buildAppPaymentMessage(opts.appId, timestamp, noncestr, opts.prepayId), opts.privateKey);
  return { appid: opts.appId, partnerid: opts.partnerId, prepayid: opts.prepayId, package: 'Sign=WXPay', noncestr, timestamp, sign };
}

/** Checks `sign` against the merchant public key (what the WeChat client does; for mocks and tests). */
export function verifyAppPaymentParams(params: AppPaymentParams, publicKey: PublicKeyInput): boolean {
  if (typeof params !== 'object' || params === null || params.package !== 'Sign=WXPay') return false;
  let message: string;
  try {
    message = buildAppPaymentMessage(params.appid, params.timestamp, params.noncestr, params.prepayid);
  } catch {
    return false;
  }
  return verifyMessage(message, params.sign, publicKey);
}
