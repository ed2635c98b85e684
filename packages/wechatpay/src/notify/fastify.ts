// Fastify plugin for WeChat Pay callbacks. Register it (it must stay encapsulated: it replaces the
// content-type parsers of its own context so that the route receives the raw body bytes, which
// signature verification needs; the rest of the application keeps its parsers):
//   await app.register(wechatPayNotifications, { path: '/wechatpay/notify', mchid, source, onTransaction })
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { MerchantMaterialSource } from '../merchant/material.js';
import { MAX_NOTIFICATION_BYTES } from '../notification.js';
import { failAnswer, handleNotification, notificationRouter, type NotificationEvent, type NotificationHandlers } from './core.js';

export interface FastifyNotificationOptions extends NotificationHandlers {
  /** Route path, e.g. `/wechatpay/notify` or `/wechatpay/notify/:mchid`. */
  path: string;
  /** The merchant the callbacks belong to, or a function of the request (one route for several merchants). */
  mchid: string | ((request: FastifyRequest) => string);
  source: MerchantMaterialSource;
  /** Largest body read. Default 64 KiB. */
  bodyLimit?: number;
  /** Clock in Unix seconds (tests). */
  clock?: () => number;
  windowSeconds?: number;
  successStatus?: 200 | 204;
  onEvent?: (event: NotificationEvent) => void;
}

/** Encapsulated Fastify plugin: `app.register(wechatPayNotifications, options)`. */
export async function wechatPayNotifications(fastify: FastifyInstance, opts: FastifyNotificationOptions): Promise<void> {
  const bodyLimit = opts.bodyLimit ?? MAX_NOTIFICATION_BYTES;
  const handler = notificationRouter(opts);
  // Scoped to this plugin's context: every content type arrives as the raw bytes.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  // Oversized or unreadable bodies get WeChat's failure format too (no framework details).
  fastify.setErrorHandler((error: { statusCode?: number }, _request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    const a = failAnswer(status === 413 ? 'too-large' : 'malformed');
    void reply.code(status).header('content-type', a.headers['content-type']).send(a.body);
  });
  fastify.post(opts.path, async (request, reply) => {
    const mchid = typeof opts.mchid === 'function' ? opts.mchid(request) : opts.mchid;
    const answer = await handleNotification({
      headers: request.headers,
      // No Content-Type (or an empty body) leaves request.body undefined: verify over no bytes.
      rawBody: request.body === undefined || request.body === null ? Buffer.alloc(0) : request.body,
      source: opts.source,
      mchid,
      handler,
      nowSeconds: opts.clock?.(),
      windowSeconds: opts.windowSeconds,
      maxBytes: bodyLimit,
      successStatus: opts.successStatus,
      onEvent: opts.onEvent,
    });
    reply.code(answer.status);
    for (const [k, v] of Object.entries(answer.headers)) reply.header(k, v);
    return reply.send(answer.body);
  });
}
