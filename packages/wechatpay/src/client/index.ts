// WeChat Pay API v3 HTTP client.
export { WECHATPAY_API_BACKUP_BASE_URL, WECHATPAY_API_BASE_URL, createWechatPayClient, isWechatPayResponseError } from './client.js';
export type {
  BreakerOptions,
  BreakerState,
  CallOptions,
  FallbackRequest,
  HttpMethod,
  RetryOptions,
  WechatPayClient,
  WechatPayClientEvent,
  WechatPayClientOptions,
  WechatPayMerchantClient,
  WechatPayRequest,
  WechatPayResponse,
} from './interface.js';
export {
  RETRYABLE_API_CODES,
  WechatPayApiError,
  WechatPayResponseError,
  WechatPayTransportError,
  WECHATPAY_TRANSPORT_ERRORS,
  isRetryableApiAnswer,
  isWechatPayApiError,
  isWechatPayTransportError,
  type WechatPayApiErrorInit,
  type WechatPayTransportErrorCode,
} from './errors.js';
export { verifyWithRefresh, type VerifiedWith, type VerifyWithRefreshOptions } from './verify.js';
export type {
  Amount,
  JsapiPrepayRequest,
  JsapiPrepayResult,
  PromotionDetail,
  Refund,
  RefundRequest,
  RefundStatus,
  TradeState,
  Transaction,
} from './types.js';
