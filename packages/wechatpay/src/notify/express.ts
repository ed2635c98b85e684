// Express (4 and 5) middleware for WeChat Pay callbacks; also a plain node:http request handler.
// It needs the raw body: either mount it where no JSON parser ran (it reads the stream itself,
// bounded), or after `express.raw({ type: '*/*' })` (it takes req.body as a Buffer). A body already
// parsed into an object (express.json before it) cannot be verified and is refused with 500.
//   app.post('/wechatpay/notify', wechatPayExpress({ mchid, source, onTransaction }))
import type { IncomingMessage, ServerResponse } from 'node:http';
import { declaredLengthExceeds, readBounded } from '@wxseal/support';
import type { MerchantMaterialSource } from '../merchant/material.js';
import { MAX_NOTIFICATION_BYTES } from '../notification.js';
import { failAnswer, handleNotification, notificationRouter, type NotificationAnswer, type NotificationEvent, type NotificationHandlers } from './core.js';

export interface ExpressNotificationOptions extends NotificationHandlers {
  /** The merchant the callbacks belong to, or a function of the request. */
  mchid: string | ((request: IncomingMessage & { params?: Record<string, string> }) => string);
  source: MerchantMaterialSource;
  /** Largest body read. Default 64 KiB. */
  limit?: number;
  /** Clock in Unix seconds (tests). */
  clock?: () => number;
  windowSeconds?: number;
  successStatus?: 200 | 204;
  onEvent?: (event: NotificationEvent) => void;
}

type RequestLike = IncomingMessage & { body?: unknown; params?: Record<string, string> };

const BODY_TOO_LARGE = new Error('notification body over the limit'); // never leaves readBody

/**
 * Reads the request stream (bounded); undefined when the body is over `limit`. The rest is
 * drained so the answer can be written: at once for a declared length over the limit, once the
 * body has ended when it goes past the limit while being read.
 */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (declaredLengthExceeds(req.headers['content-length'], limit)) {
    req.resume();
    return undefined;
  }
  try {
    return await readBounded(req, { limit, tooLarge: () => BODY_TOO_LARGE, rest: 'drain' });
  } catch (err) {
    if (err !== BODY_TOO_LARGE) throw err;
    await drained(req);
    return undefined;
  }
}

/** Resolves when a draining request has ended (rejects with its error). */
function drained(req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) {
      resolve();
      return;
    }
    req.once('end', () => resolve());
    req.once('error', reject);
  });
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

function write(res: ServerResponse, answer: NotificationAnswer): void {
  res.statusCode = answer.status;
  for (const [k, v] of Object.entries(answer.headers)) res.setHeader(k, v);
  res.end(answer.body);
}

/** Express middleware / node:http handler answering WeChat Pay callbacks. */
export function wechatPayExpress(opts: ExpressNotificationOptions): (req: RequestLike, res: ServerResponse, next?: (err?: unknown) => void) => void {
  const limit = opts.limit ?? MAX_NOTIFICATION_BYTES;
  const handler = notificationRouter(opts);
  return (req, res, next) => {
    void (async () => {
      let raw: unknown;
      if (Buffer.isBuffer(req.body) || typeof req.body === 'string') raw = req.body;
      else if (!req.readableEnded && (req.body === undefined || isEmptyObject(req.body))) {
        // Nothing consumed the stream (Express 5 leaves req.body undefined, Express 4's parsers {}): read it.
        const b = await readBody(req, limit);
        if (b === undefined) return write(res, failAnswer('too-large'));
        raw = b;
      } else raw = req.body; // parsed already: handleNotification refuses it (500, no-raw-body)
      const mchid = typeof opts.mchid === 'function' ? opts.mchid(req) : opts.mchid;
      const answer = await handleNotification({
        headers: req.headers,
        rawBody: raw,
        source: opts.source,
        mchid,
        handler,
        nowSeconds: opts.clock?.(),
        windowSeconds: opts.windowSeconds,
        maxBytes: limit,
        successStatus: opts.successStatus,
        onEvent: opts.onEvent,
      });
      write(res, answer);
    })().catch((err: unknown) => {
      if (next) next(err);
      else if (!res.headersSent) write(res, failAnswer('handler'));
    });
  };
}
