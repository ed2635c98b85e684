// Shared by the typed calls of api/: the call's request options, and the answer checked for the
// string fields the call promises.
import { WechatPayTransportError } from '../client/errors.js';
import type { CallOptions, HttpMethod, WechatPayRequest, WechatPayResponse } from '../client/interface.js';

/** The per-call options merged into a request, with the call's default idempotency. */
export function callOptions(options: CallOptions | undefined, idempotent: boolean): Pick<WechatPayRequest, 'idempotent' | 'signal' | 'timeoutMs'> {
  return { idempotent: options?.idempotent ?? idempotent, signal: options?.signal, timeoutMs: options?.timeoutMs };
}

/** The answer as an object holding the `required` string fields, else WECHATPAY_BAD_RESPONSE. */
export function answerObject(res: WechatPayResponse, what: string, required: readonly string[], where: { method: HttpMethod; path: string }): Record<string, unknown> {
  const d = res.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer is not a JSON object`, { status: res.status, ...where });
  }
  const o = d as Record<string, unknown>;
  for (const k of required) {
    if (typeof o[k] !== 'string' || o[k] === '') throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `${what}: answer lacks ${k}`, { status: res.status, ...where });
  }
  return o;
}
