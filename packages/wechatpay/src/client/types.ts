// Request and answer shapes of the typed calls (direct-merchant mode, API v3). Fields WeChat may
// omit are optional; unknown fields are kept (the objects are the parsed JSON, checked for the
// fields marked required).
// Sources: pay.weixin.qq.com/docs/merchant/apis/mini-program-payment/mini-prepay.html,
//          …/query-by-wx-trade-no.html, …/query-by-out-trade-no.html, …/close-order.html,
//          …/refund/refunds/create.html, …/refund/refunds/query-by-out-refund-no.html

export interface Amount {
  /** In fen (分). */
  total: number;
  /** CNY unless told. */
  currency?: string;
}

export interface JsapiPrepayRequest {
  /** The Mini Program / Official Account appid the payer's openid belongs to. */
  appid: string;
  /** Goods description, 1-127 characters. */
  description: string;
  /** Merchant order number, 6-32 of [0-9A-Za-z_-|*], unique per merchant. */
  out_trade_no: string;
  /** HTTPS URL without query; WeChat POSTs the payment result there. */
  notify_url: string;
  amount: Amount;
  payer: { openid: string };
  /** RFC 3339, e.g. 2018-06-08T10:34:56+08:00. */
  time_expire?: string;
  attach?: string;
  goods_tag?: string;
  support_fapiao?: boolean;
  detail?: {
    cost_price?: number;
    invoice_id?: string;
    goods_detail?: Array<{ merchant_goods_id: string; wechatpay_goods_id?: string; goods_name?: string; quantity: number; unit_price: number }>;
  };
  scene_info?: {
    payer_client_ip: string;
    device_id?: string;
    store_info?: { id: string; name?: string; area_code?: string; address?: string };
  };
  settle_info?: { profit_sharing?: boolean };
}

export interface JsapiPrepayResult {
  /** Valid for two hours. */
  prepay_id: string;
}

/** SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR (more may be added). */
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR' | (string & {});

export interface PromotionDetail {
  coupon_id?: string;
  name?: string;
  scope?: string;
  type?: string;
  amount?: number;
  stock_id?: string;
  wechatpay_contribute?: number;
  merchant_contribute?: number;
  other_contribute?: number;
  currency?: string;
  goods_detail?: Array<{ goods_id?: string; quantity?: number; unit_price?: number; discount_amount?: number; goods_remark?: string }>;
  [key: string]: unknown;
}

/** Answer of the two order queries. */
export interface Transaction {
  appid?: string;
  mchid?: string;
  out_trade_no: string;
  /** Absent before payment (NOTPAY). */
  transaction_id?: string;
  /** JSAPI, NATIVE, APP, MICROPAY, MWEB, FACEPAY. */
  trade_type?: string;
  trade_state: TradeState;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  /** RFC 3339; present once paid. */
  success_time?: string;
  payer?: { openid?: string };
  amount?: { total?: number; payer_total?: number; currency?: string; payer_currency?: string };
  scene_info?: { device_id?: string };
  promotion_detail?: PromotionDetail[];
  [key: string]: unknown;
}

export interface RefundRequest {
  /** One of transaction_id and out_trade_no. */
  transaction_id?: string;
  out_trade_no?: string;
  /** Merchant refund number: the same number refunds at most once, so repeating it is safe. */
  out_refund_no: string;
  reason?: string;
  notify_url?: string;
  /** AVAILABLE (the default source otherwise) */
  funds_account?: string;
  amount: {
    /** Refund amount in fen. */
    refund: number;
    /** Original order total in fen. */
    total: number;
    currency: string;
    from?: Array<{ account: 'AVAILABLE' | 'UNAVAILABLE' | (string & {}); amount: number }>;
  };
  goods_detail?: Array<{ merchant_goods_id: string; wechatpay_goods_id?: string; goods_name?: string; unit_price: number; refund_amount: number; refund_quantity: number }>;
}

/** SUCCESS, CLOSED, PROCESSING, ABNORMAL. */
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL' | (string & {});

/** Answer of refund and queryRefund. */
export interface Refund {
  refund_id: string;
  out_refund_no: string;
  transaction_id?: string;
  out_trade_no?: string;
  /** ORIGINAL, BALANCE, OTHER_BALANCE, OTHER_BANKCARD. */
  channel?: string;
  user_received_account?: string;
  success_time?: string;
  create_time?: string;
  status: RefundStatus;
  funds_account?: string;
  amount?: {
    total?: number;
    refund?: number;
    from?: Array<{ account?: string; amount?: number }>;
    payer_total?: number;
    payer_refund?: number;
    settlement_refund?: number;
    settlement_total?: number;
    discount_refund?: number;
    currency?: string;
    refund_fee?: number;
  };
  promotion_detail?: Array<{ promotion_id?: string; scope?: string; type?: string; amount?: number; refund_amount?: number; [key: string]: unknown }>;
  [key: string]: unknown;
}
