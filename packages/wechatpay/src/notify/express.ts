// Express (4 and 5) middleware for WeChat Pay callbacks; also a plain node:http request handler.
// It needs the raw body: either mount it where no JSON parser ran (it reads the stream itself,
// bounded), or after `express.raw({ type: '*/*' })` (it takes req.body as a Buffer). A body already
// parsed into an object (express.json before it) cannot be verified and is refused with 500.
//   app.post('/wechatpay/notify', wechatPayExpress({ mchid, source, onTransaction }))
import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** Reads the request stream (bounded); undefined when the body is over `limit`. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return; // keep draining so the answer can be written
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
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
