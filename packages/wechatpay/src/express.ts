// @wxseal/wechatpay/express: the Express (4 and 5) middleware for WeChat Pay callbacks, which is
// also a plain node:http request handler. A subpath of its own, like the Fastify plugin's.
export { wechatPayExpress, type ExpressNotificationOptions } from './notify/express.js';
