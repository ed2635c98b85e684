// Parameters of wx.requestPayment (Mini Program) and WeixinJSBridge getBrandWCPayRequest (JSAPI)
// for a prepay_id: paySign = base64 SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`
// with package = "prepay_id=…", signType "RSA", signed with the merchant API private key.
// Source: pay.weixin.qq.com/docs/merchant/apis/mini-program-payment/mini-transfer-payment.html
import { fail } from './errors.js';
import { timestampText, toPrivateKey, type PrivateKeyInput, type PublicKeyInput } from './internal.js';
import { assertNonce, generateNonce, signMessage, unixSeconds, verifyMessage } from './signing.js';
import { SM2_PAY_SIGN_UNDOCUMENTED, isSm2Key } from './sm.js';

export interface RequestPaymentParams {
  appId: string;
  /** Unix seconds as a string. */
  timeStamp: string;
  nonceStr: string;
  /** `prepay_id=…`. */
  package: string;
  signType: 'RSA';
  paySign: string;
}

export interface BuildRequestPaymentOptions {
  appId: string;
  /** prepay_id returned by the JSAPI/Mini Program order API (without the `prepay_id=` prefix). */
  prepayId: string;
  privateKey: PrivateKeyInput;
  timeStamp?: number | string;
  nonceStr?: string;
}

const APPID = /^[0-9A-Za-z_]{1,64}$/;
const PREPAY_ID = /^[0-9A-Za-z_-]{1,128}$/;

/** `appId\ntimeStamp\nnonceStr\npackage\n`. */
export function buildPaymentMessage(appId: string, timeStamp: number | string, nonceStr: string, pkg: string): string {
  if (typeof appId !== 'string' || !APPID.test(appId)) fail('WECHATPAY_BAD_ARGUMENT', 'appId must be 1-64 of [0-9A-Za-z_]');
  const ts = timestampText(timeStamp, 'timeStamp');
  assertNonce(nonceStr, 'nonceStr');
  if (typeof pkg !== 'string' || !pkg.startsWith('prepay_id=') || !PREPAY_ID.test(pkg.slice('prepay_id='.length))) {
    fail('WECHATPAY_BAD_ARGUMENT', 'package must be prepay_id=<prepay_id>');
  }
  return `${appId}\n${ts}\n${nonceStr}\n${pkg}\n`;
}

/** Signed parameters to pass to wx.requestPayment (Mini Program) or getBrandWCPayRequest (JSAPI). */
export function buildRequestPaymentParams(opts: BuildRequestPaymentOptions): RequestPaymentParams {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  if (typeof opts.prepayId !== 'string' || !PREPAY_ID.test(opts.prepayId)) fail('WECHATPAY_BAD_ARGUMENT', 'prepayId must be 1-128 of [0-9A-Za-z_-] (without "prepay_id=")');
  const timeStamp = timestampText(opts.timeStamp ?? unixSeconds(), 'timeStamp');
  const nonceStr = opts.nonceStr ?? generateNonce();
  const pkg = `prepay_id=${opts.prepayId}`;
  // 国密: WeChat documents no SM2 paySign (signType is "RSA" only): refused, see SM2_PAY_SIGN_UNDOCUMENTED.
  if (isSm2Key(toPrivateKey(opts.privateKey))) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', SM2_PAY_SIGN_UNDOCUMENTED);
  const paySign = signMessage(buildPaymentMessage(opts.appId, timeStamp, nonceStr, pkg), opts.privateKey);
  return { appId: opts.appId, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign };
}

/** Checks paySign against the merchant public key (what the WeChat client does; for mocks and tests). */
export function verifyRequestPaymentParams(params: RequestPaymentParams, publicKey: PublicKeyInput): boolean {
  if (typeof params !== 'object' || params === null || params.signType !== 'RSA') return false;
  let message: string;
  try {
    message = buildPaymentMessage(params.appId, params.timeStamp, params.nonceStr, params.package);
  } catch {
    return false;
  }
  return verifyMessage(message, params.paySign, publicKey);
}
