// Callback notifications ("回调通知"): WeChat Pay POSTs a JSON envelope
//   { id, create_time, event_type, resource_type, summary,
//     resource: { algorithm: "AEAD_AES_256_GCM", ciphertext, associated_data, nonce, original_type } }
// signed like a response (timestamp\nnonce\nbody\n over the raw body). The merchant verifies the
// signature, decrypts `resource` with the APIv3 key and answers within 5 s.
// Sources: pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/payment-notice.html,
//          pay.weixin.qq.com/docs/merchant/apis/refund/refunds/refund-result-notice.html
import { randomUUID } from 'node:crypto';
import { fail } from './errors.js';
import { AEAD_ALGORITHM, decryptAeadAs, encryptAeadAs, type AeadAlgorithm, type AeadDecryptInput, type ApiV3Key } from './aead.js';
import { SM_AEAD_ALGORITHM, SM_SIGNATURE_SCHEME, isSm2Key } from './sm.js';
import { toPrivateKey } from './internal.js';
import { bodyBytes, decodeUtf8, type HeaderInput, type PrivateKeyInput } from './internal.js';
import { signResponse, verifySignature, type SignedResponseHeaders, type VerificationKey, type VerificationKeySet, type VerifiedSignature } from './verification.js';

/** A JSON value as decrypted resources carry them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface NotificationResource {
  algorithm: string;
  ciphertext: string;
  /** May be empty. */
  associated_data: string;
  nonce: string;
  original_type: string;
}

/** The outer (unencrypted) callback document. */
export interface NotificationEnvelope {
  id: string;
  create_time: string;
  event_type: string;
  resource_type: string;
  summary: string;
  resource: NotificationResource;
}

/** Largest notification body read (callbacks are a few KiB). */
export const MAX_NOTIFICATION_BYTES = 64 * 1024;

function parseJsonObject(text: string, what: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail('WECHATPAY_MALFORMED', `${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('WECHATPAY_MALFORMED', `${what} is not a JSON object`);
  return v as JsonObject;
}

function str(o: JsonObject, key: string, what: string, optional = false): string {
  const v = o[key];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') fail('WECHATPAY_MALFORMED', `${what}.${key} must be a string`);
  return v;
}

/** Parses and shape-checks the callback envelope (no signature check, no decryption). */
export function parseNotificationEnvelope(body: string | Uint8Array): NotificationEnvelope {
  const bytes = bodyBytes(body);
  if (bytes.length > MAX_NOTIFICATION_BYTES) fail('WECHATPAY_MALFORMED', `notification body exceeds ${MAX_NOTIFICATION_BYTES} bytes`);
  const o = parseJsonObject(decodeUtf8(bytes, 'notification body'), 'notification body');
  const r = o['resource'];
  if (typeof r !== 'object' || r === null || Array.isArray(r)) fail('WECHATPAY_MALFORMED', 'notification.resource must be an object');
  const resource: NotificationResource = {
    algorithm: str(r, 'algorithm', 'resource'),
    ciphertext: str(r, 'ciphertext', 'resource'),
    associated_data: str(r, 'associated_data', 'resource', true),
    nonce: str(r, 'nonce', 'resource'),
    original_type: str(r, 'original_type', 'resource', true),
  };
  return {
    id: str(o, 'id', 'notification'),
    create_time: str(o, 'create_time', 'notification'),
    event_type: str(o, 'event_type', 'notification'),
    resource_type: str(o, 'resource_type', 'notification'),
    summary: str(o, 'summary', 'notification', true),
    resource,
  };
}

/** Decrypted resource of a payment notification (TRANSACTION.SUCCESS). Direct and partner fields. */
export interface TransactionResource {
  out_trade_no: string;
  transaction_id: string;
  trade_type?: string;
  /** SUCCESS for TRANSACTION.SUCCESS. */
  trade_state: string;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  success_time?: string;
  /** Direct merchants. */
  appid?: string;
  mchid?: string;
  /** Service providers (partner mode). */
  sp_appid?: string;
  sp_mchid?: string;
  sub_appid?: string;
  sub_mchid?: string;
  payer?: { openid?: string; sp_openid?: string; sub_openid?: string };
  amount: { total: number; payer_total?: number; currency?: string; payer_currency?: string };
  scene_info?: { device_id?: string };
  promotion_detail?: JsonObject[];
  /** The whole decrypted object, including fields not listed here. */
  raw: JsonObject;
}

/** Decrypted resource of a refund notification (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED). */
export interface RefundResource {
  out_trade_no: string;
  transaction_id: string;
  out_refund_no: string;
  refund_id: string;
  /** SUCCESS, CLOSED, ABNORMAL. */
  refund_status: string;
  success_time?: string;
  user_received_account?: string;
  mchid?: string;
  sp_mchid?: string;
  sub_mchid?: string;
  amount: { total: number; refund: number; payer_total?: number; payer_refund?: number };
  raw: JsonObject;
}

export type DecryptedNotification =
  | { kind: 'transaction'; envelope: NotificationEnvelope; plaintext: string; resource: TransactionResource }
  | { kind: 'refund'; envelope: NotificationEnvelope; plaintext: string; resource: RefundResource }
  | { kind: 'other'; envelope: NotificationEnvelope; plaintext: string; resource: JsonObject };

function obj(o: JsonObject, key: string, what: string): JsonObject {
  const v = o[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('WECHATPAY_MALFORMED', `${what}.${key} must be an object`);
  return v;
}

function int(o: JsonObject, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail('WECHATPAY_MALFORMED', `${what}.${key} must be an integer`);
  return v;
}

function copyOptional<T extends object>(target: T, src: JsonObject, keys: readonly string[], kind: 'string' | 'number' | 'object'): void {
  for (const k of keys) {
    const v = src[k];
    if (v === undefined) continue;
    const ok = kind === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === kind;
    if (!ok) fail('WECHATPAY_MALFORMED', `resource.${k} must be a ${kind}`);
    (target as Record<string, unknown>)[k] = v;
  }
}

/** Types a decrypted TRANSACTION.* resource (checks the fields it declares). */
export function toTransactionResource(raw: JsonObject): TransactionResource {
  const amountRaw = obj(raw, 'amount', 'resource');
  const amount: TransactionResource['amount'] = { total: int(amountRaw, 'total', 'resource.amount') };
  copyOptional(amount, amountRaw, ['payer_total'], 'number');
  copyOptional(amount, amountRaw, ['currency', 'payer_currency'], 'string');
  const t: TransactionResource = {
    out_trade_no: str(raw, 'out_trade_no', 'resource'),
    transaction_id: str(raw, 'transaction_id', 'resource'),
    trade_state: str(raw, 'trade_state', 'resource'),
    amount,
    raw,
  };
  copyOptional(t, raw, ['trade_type', 'trade_state_desc', 'bank_type', 'attach', 'success_time', 'appid', 'mchid', 'sp_appid', 'sp_mchid', 'sub_appid', 'sub_mchid'], 'string');
  copyOptional(t, raw, ['payer', 'scene_info'], 'object');
  const promo = raw['promotion_detail'];
  if (promo !== undefined) {
    if (!Array.isArray(promo) || promo.some((p) => typeof p !== 'object' || p === null || Array.isArray(p))) fail('WECHATPAY_MALFORMED', 'resource.promotion_detail must be an array of objects');
    t.promotion_detail = promo as JsonObject[];
  }
  return t;
}

/** Types a decrypted REFUND.* resource. */
export function toRefundResource(raw: JsonObject): RefundResource {
  const amountRaw = obj(raw, 'amount', 'resource');
  const amount: RefundResource['amount'] = { total: int(amountRaw, 'total', 'resource.amount'), refund: int(amountRaw, 'refund', 'resource.amount') };
  copyOptional(amount, amountRaw, ['payer_total', 'payer_refund'], 'number');
  const r: RefundResource = {
    out_trade_no: str(raw, 'out_trade_no', 'resource'),
    transaction_id: str(raw, 'transaction_id', 'resource'),
    out_refund_no: str(raw, 'out_refund_no', 'resource'),
    refund_id: str(raw, 'refund_id', 'resource'),
    refund_status: str(raw, 'refund_status', 'resource'),
    amount,
    raw,
  };
  copyOptional(r, raw, ['success_time', 'user_received_account', 'mchid', 'sp_mchid', 'sub_mchid'], 'string');
  return r;
}

/**
 * Decrypts a parsed envelope's resource and types it by event_type. `algorithm` is the one expected
 * (AEAD_AES_256_GCM unless told; AEAD_SM4_GCM for notifications signed with SM2): any other
 * resource.algorithm is WECHATPAY_UNSUPPORTED_ALGORITHM. `decrypt` receives it as its second argument.
 */
export function decryptNotificationResource(
  envelope: NotificationEnvelope,
  decrypt: (resource: AeadDecryptInput, algorithm: AeadAlgorithm) => string,
  algorithm: AeadAlgorithm = AEAD_ALGORITHM,
): DecryptedNotification {
  if (envelope.resource.algorithm !== algorithm) fail('WECHATPAY_UNSUPPORTED_ALGORITHM', `resource.algorithm ${envelope.resource.algorithm} is not ${algorithm}`);
  const plaintext = decrypt({ ciphertext: envelope.resource.ciphertext, nonce: envelope.resource.nonce, associated_data: envelope.resource.associated_data }, algorithm);
  const raw = parseJsonObject(plaintext, 'decrypted resource');
  if (envelope.event_type.startsWith('TRANSACTION.')) return { kind: 'transaction', envelope, plaintext, resource: toTransactionResource(raw) };
  if (envelope.event_type.startsWith('REFUND.')) return { kind: 'refund', envelope, plaintext, resource: toRefundResource(raw) };
  return { kind: 'other', envelope, plaintext, resource: raw };
}

export interface ParseNotificationOptions {
  headers: HeaderInput;
  /** The RAW request body (bytes preferred). Never a re-serialised object. */
  body: string | Uint8Array;
  keys: VerificationKeySet | Iterable<VerificationKey>;
  /** The APIv3 key (32 bytes). Exactly one of apiV3Key and decrypt. */
  apiV3Key?: ApiV3Key;
  /** A custom resource decryptor (e.g. decryptAesGcmAnyKeyLength for vectors with other key sizes). */
  decrypt?: (resource: AeadDecryptInput, algorithm: AeadAlgorithm) => string;
  nowSeconds?: number;
  windowSeconds?: number;
}

export interface ParsedNotification {
  verified: VerifiedSignature;
  notification: DecryptedNotification;
}

/** Verifies the signature headers over the raw body, then parses, decrypts and types the callback. */
export function parseNotification(opts: ParseNotificationOptions): ParsedNotification {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  if ((opts.apiV3Key === undefined) === (opts.decrypt === undefined)) fail('WECHATPAY_BAD_ARGUMENT', 'give exactly one of apiV3Key and decrypt');
  const bytes = bodyBytes(opts.body);
  if (bytes.length > MAX_NOTIFICATION_BYTES) fail('WECHATPAY_MALFORMED', `notification body exceeds ${MAX_NOTIFICATION_BYTES} bytes`);
  const verifyOpts = { headers: opts.headers, body: bytes, keys: opts.keys, nowSeconds: opts.nowSeconds, windowSeconds: opts.windowSeconds };
  const verified = verifySignature(verifyOpts);
  const envelope = parseNotificationEnvelope(bytes);
  const apiV3Key = opts.apiV3Key;
  const decrypt = opts.decrypt ?? ((r: AeadDecryptInput, algorithm: AeadAlgorithm) => decryptAeadAs(algorithm, apiV3Key as ApiV3Key, r));
  // A notification signed with SM2 carries an AEAD_SM4_GCM resource; one signed with RSA an AES one.
  const algorithm: AeadAlgorithm = verified.scheme === SM_SIGNATURE_SCHEME ? SM_AEAD_ALGORITHM : AEAD_ALGORITHM;
  return { verified, notification: decryptNotificationResource(envelope, decrypt, algorithm) };
}

export interface BuildNotificationOptions {
  /** e.g. TRANSACTION.SUCCESS, REFUND.SUCCESS. */
  event_type: string;
  /** The resource to encrypt: an object (serialised with JSON.stringify) or its JSON text. */
  resource: JsonObject | string;
  /** e.g. "transaction", "refund". */
  original_type: string;
  summary: string;
  apiV3Key: ApiV3Key;
  /** WeChat Pay's signing key and the serial / PUB_KEY_ID_ sent with it. */
  privateKey: PrivateKeyInput;
  serial: string;
  id?: string;
  /** RFC 3339 with +08:00, as WeChat writes it; now when omitted. */
  create_time?: string;
  /** "encrypt-resource" unless told. */
  resource_type?: string;
  /** AEAD associated data; WeChat uses original_type (e.g. "transaction"); may be "". */
  associated_data?: string;
  /** AEAD nonce (12 chars); random when omitted. */
  nonce?: string;
  /** Header timestamp / nonce; now / random when omitted. */
  timestamp?: number | string;
  headerNonce?: string;
  /** Resource AEAD; default AEAD_SM4_GCM when privateKey is SM2, AEAD_AES_256_GCM otherwise. */
  algorithm?: AeadAlgorithm;
}

export interface BuiltNotification {
  /** The exact body to POST. */
  body: string;
  headers: SignedResponseHeaders & { 'Content-Type': 'application/json' };
  envelope: NotificationEnvelope;
}

/** RFC 3339 in China Standard Time (UTC+8), second precision: 2021-06-24T16:37:26+08:00. */
export function chinaTime(date: Date): string {
  const t = new Date(date.getTime() + 8 * 3600_000).toISOString().slice(0, 19);
  return `${t}+08:00`;
}

/** Builds an encrypted, signed notification as WeChat Pay sends it (for mock servers and tests). */
export function buildNotification(opts: BuildNotificationOptions): BuiltNotification {
  if (typeof opts !== 'object' || opts === null) fail('WECHATPAY_BAD_ARGUMENT', 'options must be an object');
  const plaintext = typeof opts.resource === 'string' ? opts.resource : JSON.stringify(opts.resource);
  const algorithm: AeadAlgorithm = opts.algorithm ?? (isSm2Key(toPrivateKey(opts.privateKey)) ? SM_AEAD_ALGORITHM : AEAD_ALGORITHM);
  const sealed = encryptAeadAs(algorithm, opts.apiV3Key, { plaintext, nonce: opts.nonce, associated_data: opts.associated_data ?? opts.original_type });
  const envelope: NotificationEnvelope = {
    id: opts.id ?? randomUUID(),
    create_time: opts.create_time ?? chinaTime(new Date()),
    resource_type: opts.resource_type ?? 'encrypt-resource',
    event_type: opts.event_type,
    summary: opts.summary,
    resource: { original_type: opts.original_type, algorithm, ciphertext: sealed.ciphertext, associated_data: sealed.associated_data, nonce: sealed.nonce },
  };
  for (const k of ['id', 'create_time', 'resource_type', 'event_type', 'summary'] as const) {
    if (typeof envelope[k] !== 'string') fail('WECHATPAY_BAD_ARGUMENT', `${k} must be a string`);
  }
  if (typeof envelope.resource.original_type !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'original_type must be a string');
  const body = JSON.stringify(envelope);
  const signed = signResponse({ body, privateKey: opts.privateKey, serial: opts.serial, timestamp: opts.timestamp, nonce: opts.headerNonce });
  return { body, headers: { ...signed, 'Content-Type': 'application/json' }, envelope };
}
