// Request and answer shapes of the typed calls beyond JSAPI (direct-merchant mode, API v3): Native,
// H5 and App orders, the trade and fund-flow bills, media uploads. Fields WeChat may omit are
// optional; answers are the parsed JSON, checked for the fields marked required.
// Sources: pay.weixin.qq.com/docs/merchant/apis/native-payment/direct-jsons/native-prepay.html,
//          …/h5-payment/direct-jsons/h5-prepay.html, …/in-app-payment/direct-jsons/app-prepay.html,
//          …/bill-download/trade-bill/get-trade-bill.html, …/bill-download/fund-bill/get-fund-bill.html,
//          …/bill-download/download-bill.html, …/merchant-media/image-upload.html, …/video-upload.html
import type { JsapiPrepayRequest } from '../client/types.js';

/** The fields every order API takes (JSAPI's without `payer`). */
export type PrepayCommon = Omit<JsapiPrepayRequest, 'payer' | 'scene_info'>;

export interface PrepaySceneInfo {
  /** The payer's IP address (IPv4 or IPv6). */
  payer_client_ip: string;
  device_id?: string;
  store_info?: { id: string; name?: string; area_code?: string; address?: string };
}

/** `POST /v3/pay/transactions/native`: `appid` is any appid bound to the merchant. */
export interface NativePrepayRequest extends PrepayCommon {
  scene_info?: PrepaySceneInfo;
}

export interface NativePrepayResult {
  /** `weixin://wxpay/bizpayurl?pr=…`: render it as a QR code; valid for two hours. */
  code_url: string;
}

/** The H5 scene: where the payment page runs. */
export interface H5Info {
  /** iOS, Android or Wap. */
  type: 'iOS' | 'Android' | 'Wap' | (string & {});
  app_name?: string;
  app_url?: string;
  bundle_id?: string;
  package_name?: string;
}

/** `POST /v3/pay/transactions/h5`: scene_info with h5_info is required. */
export interface H5PrepayRequest extends PrepayCommon {
  scene_info: PrepaySceneInfo & { h5_info: H5Info };
}

export interface H5PrepayResult {
  /** The WeChat cashier page to open in the payer's browser; valid for five minutes. */
  h5_url: string;
}

/** `POST /v3/pay/transactions/app`: `appid` is the mobile application's AppID (Open Platform). */
export interface AppPrepayRequest extends PrepayCommon {
  scene_info?: PrepaySceneInfo;
}

export interface AppPrepayResult {
  /** Valid for two hours; sign it for the App with appPaymentParams. */
  prepay_id: string;
}

/** ALL (default), SUCCESS or REFUND. */
export type TradeBillType = 'ALL' | 'SUCCESS' | 'REFUND';
/** BASIC (default), OPERATION or FEES. */
export type FundFlowAccountType = 'BASIC' | 'OPERATION' | 'FEES';

export interface TradeBillRequest {
  /** YYYY-MM-DD (China time), within the last three months, not today. */
  bill_date: string;
  bill_type?: TradeBillType;
  /** GZIP: the file is gzip-compressed (the digest stays the uncompressed file's). */
  tar_type?: 'GZIP';
}

export interface FundFlowBillRequest {
  /** YYYY-MM-DD (China time), within the last three months, not today. */
  bill_date: string;
  account_type?: FundFlowAccountType;
  tar_type?: 'GZIP';
}

/** Answer of the two bill APIs. */
export interface BillInfo {
  /** SHA1 (the only one documented). */
  hash_type: 'SHA1' | (string & {});
  /** Hex digest of the uncompressed bill. */
  hash_value: string;
  /** `https://api.mch.weixin.qq.com/v3/billdownload/file?token=…`; valid for 30 s, fetched with a signed GET. */
  download_url: string;
}

export interface DownloadBillOptions {
  /** How the bill was asked for; by default a body starting with the gzip magic bytes is decompressed. */
  tarType?: 'GZIP' | 'NONE';
  /** Largest file accepted (compressed size). Default 64 MiB. */
  maxBytes?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** A media file to upload. */
export interface MediaUploadRequest {
  /** Its name; the extension decides the type (image: jpg, jpeg, png, bmp; video: avi, wmv, mpeg, mp4, mov, mkv, flv, f4v, m4v, rmvb). */
  filename: string;
  file: Uint8Array;
  /** The file part's Content-Type; by default derived from the extension. */
  contentType?: string;
}

export interface MediaUploadResult {
  /** The MediaID to give to the API that needs the file (valid for 30 days). */
  media_id: string;
}
