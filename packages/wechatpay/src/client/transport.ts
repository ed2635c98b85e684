// One HTTP exchange through undici: the attempt's deadline joined with the caller's signal, the
// answer body read up to a bound, and every failure turned into a WechatPayTransportError
// (aborted by the caller, timed out, or unreachable).
import { request as undiciRequest, type Dispatcher } from 'undici';
import { collectBounded } from '@wxseal/support';
import { WechatPayTransportError } from './errors.js';
import type { PreparedRequest } from './prepare.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface TransportOptions {
  dispatcher: Dispatcher;
  maxResponseBytes: number;
  /** host[:port], for error messages. */
  host: string;
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function sendRequest(t: TransportOptions, p: PreparedRequest, headers: Record<string, string>): Promise<RawAnswer> {
  const deadline = AbortSignal.timeout(p.timeoutMs);
  const signal = p.signal ? AbortSignal.any([p.signal, deadline]) : deadline;
  const where = { method: p.method, path: p.path };
  const limit = p.maxResponseBytes ?? t.maxResponseBytes;
  try {
    const res = await undiciRequest(p.url, { method: p.method, headers, body: p.sendBody ?? p.bodyText, signal, dispatcher: t.dispatcher });
    const declared = Number(headerValue(res.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > limit) {
      res.body.destroy();
      throw new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `answer body of ${declared} bytes exceeds ${limit}`, { status: res.statusCode, ...where });
    }
    const body = await collectBounded(res.body, {
      limit,
      tooLarge: () => {
        res.body.destroy();
        return new WechatPayTransportError('WECHATPAY_BAD_RESPONSE', `answer body exceeds ${limit} bytes`, { status: res.statusCode, ...where });
      },
    });
    return { status: res.statusCode, headers: res.headers, body };
  } catch (err) {
    if (err instanceof WechatPayTransportError) throw err;
    if (p.signal?.aborted) throw new WechatPayTransportError('WECHATPAY_ABORTED', `${p.method} ${p.path} aborted by the caller`, { ...where, cause: err });
    if (deadline.aborted) throw new WechatPayTransportError('WECHATPAY_TIMEOUT', `no answer to ${p.method} ${p.path} within ${p.timeoutMs} ms`, { ...where, cause: err });
    const msg = err instanceof Error ? err.message : String(err);
    throw new WechatPayTransportError('WECHATPAY_UNAVAILABLE', `cannot reach ${t.host} for ${p.method} ${p.path}: ${msg}`, { ...where, cause: err });
  }
}
