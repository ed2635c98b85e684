// WeChat Pay callback notifications: the framework-free core. The adapters are subpath exports so
// that the root entry's types name no framework: `@wxseal/wechatpay/fastify` (wechatPayNotifications)
// and `@wxseal/wechatpay/express` (wechatPayExpress, also a plain node:http handler).
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
