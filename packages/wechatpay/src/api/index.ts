// The typed calls beyond the merchant client's own (Native / H5 / App orders, App payment
// parameters, bills and their download, media uploads): functions over a WechatPayMerchantClient.
export { appPrepay, h5Prepay, nativePrepay } from './orders.js';
export { buildAppPaymentMessage, buildAppPaymentParams, verifyAppPaymentParams, type AppPaymentParams, type BuildAppPaymentOptions } from './app-payment.js';
export { downloadBill, fundFlowBill, tradeBill } from './bills.js';
export { MEDIA_IMAGE_MAX_BYTES, MEDIA_VIDEO_MAX_BYTES, mediaMeta, uploadImage, uploadVideo } from './media.js';
export { WECHATPAY_DOWNLOAD_ERRORS, WechatPayDownloadError, isWechatPayDownloadError, type WechatPayDownloadErrorCode } from './errors.js';
export type {
  AppPrepayRequest,
  AppPrepayResult,
  BillInfo,
  DownloadBillOptions,
  FundFlowAccountType,
  FundFlowBillRequest,
  H5Info,
  H5PrepayRequest,
  H5PrepayResult,
  MediaUploadRequest,
  MediaUploadResult,
  NativePrepayRequest,
  NativePrepayResult,
  PrepayCommon,
  PrepaySceneInfo,
  TradeBillRequest,
  TradeBillType,
} from './types.js';
