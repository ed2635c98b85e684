/**
 * @wxseal/client — calls wxseal-protected APIs from WeChat cloud functions and Node services
 * (Node 16.13 and later, no dependencies but @wxseal/protocol).
 */
export { createClient } from './client.js';
export type { MethodRequestOptions, QueryInput, QueryPrimitive, RequestOptions, WxsealClient } from './client.js';
export type { WxsealResponse } from './response.js';
export type { ClientAgentOptions, ClientOptions, RetryOptions } from './options.js';
export type { ClientTlsOptions, PemInput } from './tls.js';
export { SESSION_KEY_REUSE_LIMITS, type SessionKeyReuseOptions } from './session-key-reuse.js';
export type { LogEntry, LogEntry as ClientLogEntry, LogEvent, Logger } from './log.js';
export { generateTraceparent, isValidTraceparent } from './trace.js';
export {
  DEFAULT_SAFETY_MARGIN_MS,
  DEFAULT_TIME_LIMIT_MS,
  DEFAULT_TRUSTED_SOURCES,
  WxsealRemoteError,
  cloudRequestOptions,
  deadlineBudgetMs,
  forwardEvent,
  readWechatIdentity,
} from './cloud-function.js';
export type {
  BudgetOptions,
  CloudCallOptions,
  CloudFunctionContext,
  CloudRequestOptions,
  ForwardEventOptions,
  IdentityOptions,
  IdentityOrigin,
  ResolvedIdentity,
  WXContext,
} from './cloud-function.js';
export { WxsealError, isWxsealError } from '@wxseal/protocol';
export type { Mode, WechatIdentity, WxsealErrorCode } from '@wxseal/protocol';
