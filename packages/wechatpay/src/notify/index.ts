// WeChat Pay callback notifications: framework-free core, Fastify plugin, Express middleware.
export {
  NoNotificationHandlerError,
  WECHATPAY_NOTIFY_ERRORS,
  failAnswer,
  handleNotification,
  notificationRouter,
  type HandleNotificationOptions,
  type NotificationAnswer,
  type NotificationEvent,
  type NotificationFailure,
  type NotificationHandler,
  type NotificationHandlers,
  type VerifiedNotification,
} from './core.js';
export { wechatPayNotifications, type FastifyNotificationOptions } from './fastify.js';
export { wechatPayExpress, type ExpressNotificationOptions } from './express.js';
