// Framework-free handling of WeChat Pay callback notifications: verify the signature over the raw
// body (unknown serial → refresh once → verify again), decrypt `resource` with the merchant's
// APIv3 key, call the typed handler, and produce the answer WeChat Pay expects:
//   success: 2xx without body (204 here, or 200)
//   failure: 4xx/5xx with {"code":"FAIL","message":"…"} — WeChat Pay then sends the callback again.
// Answers never contain keys, signatures, plaintext or the handler's error message.
// Sources: pay.weixin.qq.com/docs/merchant/apis/mini-program-payment/payment-notice.html (通知应答),
//          …/refund/refunds/refund-result-notice.html, development/interface-rules/signature-verification.html
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';
import { AEAD_ALGORITHM, decryptAeadAs } from '../aead.js';
import { SM_AEAD_ALGORITHM, SM_SIGNATURE_SCHEME } from '../sm.js';
import { WechatPayError, isWechatPayError } from '../errors.js';
import { bodyBytes, type HeaderInput } from '../internal.js';
import type { MerchantMaterialSource } from '../merchant/material.js';
import {
  MAX_NOTIFICATION_BYTES,
  decryptNotificationResource,
  parseNotificationEnvelope,
  type DecryptedNotification,
  type JsonObject,
  type NotificationEnvelope,
  type RefundResource,
  type TransactionResource,
} from '../notification.js';
import type { VerifiedSignature } from '../verification.js';
import { verifyWithRefresh } from '../client/verify.js';

/** A verified, decrypted callback as handlers see it. */
export type VerifiedNotification = DecryptedNotification & {
  mchid: string;
  /** Timestamp, nonce, serial and key kind that verified. */
  verified: VerifiedSignature;
};

export type NotificationHandler = (notification: VerifiedNotification) => void | Promise<void>;

/** Per-kind handlers (TRANSACTION.* → onTransaction, REFUND.* → onRefund, anything else → onOther). */
export interface NotificationHandlers {
  onTransaction?: (transaction: TransactionResource, notification: VerifiedNotification & { kind: 'transaction' }) => void | Promise<void>;
  onRefund?: (refund: RefundResource, notification: VerifiedNotification & { kind: 'refund' }) => void | Promise<void>;
  onOther?: (resource: JsonObject, notification: VerifiedNotification) => void | Promise<void>;
}

export type NotificationEvent =
  | { type: 'accepted'; mchid: string; id: string; event_type: string; kind: DecryptedNotification['kind']; keyKind: VerifiedSignature['keyKind'] }
  | { type: 'rejected'; mchid: string; status: number; code: string; reason: NotificationFailure; id?: string; event_type?: string }
  | { type: 'serial-refresh'; mchid: string; serial: string; known: boolean }
  | { type: 'handler-failed'; mchid: string; id: string; event_type: string; error: unknown };

/** Why a callback was refused (the `reason` of `rejected` events). */
export type NotificationFailure = 'no-raw-body' | 'too-large' | 'unknown-merchant' | 'signature' | 'malformed' | 'decrypt' | 'no-handler' | 'handler';

export interface NotificationAnswer {
  status: number;
  /** JSON text, or undefined for an answer without body. */
  body: string | undefined;
  headers: Record<string, string>;
}

export interface HandleNotificationOptions {
  headers: HeaderInput;
  /** The request body exactly as received: bytes (preferred) or text. A parsed object is refused. */
  rawBody: unknown;
  source: MerchantMaterialSource;
  mchid: string;
  handler: NotificationHandler;
  /** Clock in Unix seconds (tests). */
  nowSeconds?: number;
  /** Accepted |now − Wechatpay-Timestamp|. Default 300 s. */
  windowSeconds?: number;
  /** Largest body accepted. Default 64 KiB (MAX_NOTIFICATION_BYTES). */
  maxBytes?: number;
  /** 204 (default) or 200, both without body. */
  successStatus?: 200 | 204;
  onEvent?: (event: NotificationEvent) => void;
}

const MESSAGES: Record<NotificationFailure, string> = {
  'no-raw-body': 'raw request body unavailable',
  'too-large': 'request body too large',
  'unknown-merchant': 'merchant not configured',
  signature: 'signature verification failed',
  malformed: 'malformed notification',
  decrypt: 'cannot decrypt notification resource',
  'no-handler': 'no handler for this event type',
  handler: 'notification processing failed',
};

const STATUS: Record<NotificationFailure, number> = {
  'no-raw-body': 500,
  'too-large': 413,
  'unknown-merchant': 500,
  signature: 401,
  malformed: 400,
  decrypt: 500,
  'no-handler': 500,
  handler: 500,
};

/** The failure answer: `{"code":"FAIL","message":…}` with a fixed, non-secret message. */
export function failAnswer(reason: NotificationFailure): NotificationAnswer {
  return { status: STATUS[reason], body: JSON.stringify({ code: 'FAIL', message: MESSAGES[reason] }), headers: { 'content-type': 'application/json; charset=utf-8' } };
}

/** The code of NoNotificationHandlerError (the notification side's own; verification failures are WechatPayError). */
export const WECHATPAY_NOTIFY_ERRORS = {
  WECHATPAY_NO_NOTIFICATION_HANDLER: {
    meaning: 'A verified notification arrived for an event type no handler takes; it was answered 500, so WeChat Pay sends it again.',
    action: 'Add a handler for the event type (onTransaction, onRefund, or onOther).',
  },
} as const satisfies ErrorCatalogue;

/** Thrown by notificationRouter when no handler takes the event (answered 500: WeChat retries). */
export class NoNotificationHandlerError extends CodedError<keyof typeof WECHATPAY_NOTIFY_ERRORS> {
  override readonly name = 'NoNotificationHandlerError';
  constructor(readonly eventType: string) {
    super('WECHATPAY_NO_NOTIFICATION_HANDLER', `no handler registered for ${eventType}`);
  }
}

/** One handler from per-kind handlers; an event no handler takes is refused with 500 (WeChat retries). */
export function notificationRouter(handlers: NotificationHandlers): NotificationHandler {
  return async (n) => {
    if (n.kind === 'transaction' && handlers.onTransaction) return handlers.onTransaction(n.resource, n);
    if (n.kind === 'refund' && handlers.onRefund) return handlers.onRefund(n.resource, n);
    if (handlers.onOther) return handlers.onOther(n.resource as JsonObject, n);
    throw new NoNotificationHandlerError(n.envelope.event_type);
  };
}

/** Verifies, decrypts and dispatches one callback; never throws, always returns WeChat's answer. */
export async function handleNotification(opts: HandleNotificationOptions): Promise<NotificationAnswer> {
  const { mchid } = opts;
  const emit = (e: NotificationEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // Diagnostics never change the answer.
    }
  };
  const refuse = (reason: NotificationFailure, code: string, envelope?: NotificationEnvelope): NotificationAnswer => {
    const answer = failAnswer(reason);
    emit({ type: 'rejected', mchid, status: answer.status, code, reason, ...(envelope ? { id: envelope.id, event_type: envelope.event_type } : {}) });
    return answer;
  };

  if (typeof opts.rawBody !== 'string' && !(opts.rawBody instanceof Uint8Array)) return refuse('no-raw-body', 'WECHATPAY_BAD_ARGUMENT');
  const bytes = bodyBytes(opts.rawBody);
  const max = opts.maxBytes ?? MAX_NOTIFICATION_BYTES;
  if (bytes.length > max) return refuse('too-large', 'WECHATPAY_MALFORMED');

  let material;
  try {
    material = opts.source.current(mchid);
  } catch (err) {
    return refuse('unknown-merchant', isWechatPayError(err) ? err.code : 'ERROR');
  }

  let verified: VerifiedSignature;
  try {
    const v = await verifyWithRefresh({
      source: opts.source,
      mchid,
      material,
      headers: opts.headers,
      body: bytes,
      nowSeconds: opts.nowSeconds,
      windowSeconds: opts.windowSeconds,
      onRefresh: (serial, known) => emit({ type: 'serial-refresh', mchid, serial, known }),
    });
    verified = v.verified;
    material = v.material;
  } catch (err) {
    return refuse('signature', err instanceof WechatPayError ? err.code : 'ERROR');
  }

  let envelope: NotificationEnvelope;
  try {
    envelope = parseNotificationEnvelope(bytes);
  } catch (err) {
    return refuse('malformed', isWechatPayError(err) ? err.code : 'ERROR');
  }

  let decrypted: DecryptedNotification;
  try {
    const apiV3Key = material.apiV3Key;
    // SM2-signed callbacks carry AEAD_SM4_GCM resources (国密 merchants).
    const algorithm = verified.scheme === SM_SIGNATURE_SCHEME ? SM_AEAD_ALGORITHM : AEAD_ALGORITHM;
    decrypted = decryptNotificationResource(envelope, (r, alg) => decryptAeadAs(alg, apiV3Key, r), algorithm);
  } catch (err) {
    const c = isWechatPayError(err) ? err.code : 'ERROR';
    return refuse(c === 'WECHATPAY_MALFORMED' ? 'malformed' : 'decrypt', c, envelope);
  }

  const notification = { ...decrypted, mchid, verified } as VerifiedNotification;
  try {
    await opts.handler(notification);
  } catch (err) {
    emit({ type: 'handler-failed', mchid, id: envelope.id, event_type: envelope.event_type, error: err });
    return refuse(err instanceof NoNotificationHandlerError ? 'no-handler' : 'handler', 'HANDLER_ERROR', envelope);
  }
  emit({ type: 'accepted', mchid, id: envelope.id, event_type: envelope.event_type, kind: decrypted.kind, keyKind: verified.keyKind });
  return { status: opts.successStatus ?? 204, body: undefined, headers: {} };
}
