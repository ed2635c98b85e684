// @wxseal/wechatpay/fastify: the Fastify plugin for WeChat Pay callbacks. A subpath of its own so
// that the root entry's types do not import fastify (an optional peer dependency).
export { wechatPayNotifications, type FastifyNotificationOptions } from './notify/fastify.js';
