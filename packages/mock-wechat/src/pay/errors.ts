// WeChat Pay API v3 error answers: an HTTP status and `{code, message[, detail]}`.
// Codes and texts follow pay.weixin.qq.com (接口规则 HTTP 状态码, 签名相关 FAQ, the per-API error
// tables) and what WeChat Pay answers in the wild. Clients must key on status + code, never on message.
import { CodedError } from '@wxseal/protocol/errors';

export const PAY_MESSAGES = {
  authorizationMalformed: 'Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》',
  authorizationScheme: 'Http头Authorization认证类型不正确，请参考《微信支付商户REST API签名规则》',
  timestamp: 'Http头Authorization中的timestamp与发起请求的时间不得超过5分钟',
  unknownSerial: '商户证书序列号有误。请使用签名私钥匹配的证书序列号',
  unknownMerchant: '商户未申请过证书。请到商户平台上申请证书授权',
  badSignature: '错误的签名，验签失败',
  noCertificates: '无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。可查看指引https://pay.weixin.qq.com/docs/merchant/products/platform-certificate/wxp-pub-key-guide.html',
  orderNotExist: '订单不存在',
  refundNotExist: '退款单不存在',
  orderClosed: '订单已关闭',
  orderPaid: '该订单已支付',
  outTradeNoUsed: '商户订单号重复',
  frequency: '频率超限',
  system: '系统错误',
  serviceUnavailable: '服务不可用，请稍后重试',
  notFound: '请求的资源不存在',
  sensitiveSerialMissing: '请求中含有敏感信息字段，HTTP头缺少Wechatpay-Serial（加密所用的平台证书序列号或微信支付公钥ID）',
  sensitiveSerialUnknown: 'HTTP头Wechatpay-Serial不是该商户可用的平台证书序列号或微信支付公钥ID',
} as const;

/**
 * A WeChat Pay error answer. `code` is WeChat Pay's own wire code (PARAM_ERROR, SIGN_ERROR, …),
 * emulated as WeChat Pay spells it, so it is in no catalogue of ours.
 */
export class PayError extends CodedError<string> {
  override readonly name = 'PayError';
  readonly status: number;
  readonly detail: Record<string, unknown> | undefined;
  constructor(status: number, code: string, message: string, detail?: Record<string, unknown>) {
    super(code, message);
    this.status = status;
    this.detail = detail;
  }

  body(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.detail !== undefined ? { detail: this.detail } : {}) };
  }
}

export function payFail(status: number, code: string, message: string, detail?: Record<string, unknown>): never {
  throw new PayError(status, code, message, detail);
}

/** PARAM_ERROR in WeChat's wording: 输入源“/body/payer/openid”映射到值字段“openid”…. */
export function paramError(pointer: string, rule: string): never {
  const field = pointer.split('/').pop() ?? pointer;
  throw new PayError(400, 'PARAM_ERROR', `输入源“${pointer}”映射到值字段“${field}”${rule}`, { location: pointer.split('/')[1] ?? 'body', field: pointer });
}

/** The code an injected HTTP status answers with on a Pay path. */
export function codeForStatus(status: number): { code: string; message: string } {
  if (status === 429) return { code: 'FREQUENCY_LIMITED', message: PAY_MESSAGES.frequency };
  if (status === 400) return { code: 'PARAM_ERROR', message: '参数错误' };
  if (status === 401) return { code: 'SIGN_ERROR', message: PAY_MESSAGES.badSignature };
  if (status === 403) return { code: 'NO_AUTH', message: '商户无权限' };
  if (status === 404) return { code: 'RESOURCE_NOT_EXISTS', message: PAY_MESSAGES.notFound };
  if (status === 502 || status === 503) return { code: 'SERVICE_UNAVAILABLE', message: PAY_MESSAGES.serviceUnavailable };
  return { code: 'SYSTEM_ERROR', message: PAY_MESSAGES.system };
}
