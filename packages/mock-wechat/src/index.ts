// @wxseal/mock-wechat: a local HTTP server behaving like the WeChat endpoints a backend talks to
// (access_token, jscode2session, getuserphonenumber, Mini Program API security), for tests and
// local development. See README.md.
export { startMockWechat, type MockWechat, type MockWechatOptions, type MockWechatLogEntry } from './server.js';
export { createMockMpApp, type CreateMockMpAppOptions, type MockMpApp, type MockMpClientConfig } from './mp/create-app.js';
export type { ApiSecurityMode, JsCodeFixture, MockApiSecurityConfig, MockAppConfig, PhoneFixture } from './mp/apps.js';
export type { ApiContext, ApiHandler } from './mp/routes.js';
export { MockWechatError, wxFail, ERRMSG } from './errcodes.js';
export type { ActiveFault, FaultControl, FaultKind, FaultSpec } from './faults.js';
export type { MockStats } from './stats.js';
export { DEFAULT_TOKEN_TIMINGS, type AppTokenStats, type TokenKind, type TokenTimings } from './token/store.js';
export {
  createCertificate,
  generateMpPlatformKey,
  generateRsaKeyPair,
  randomConsoleNumber,
  type CertificateIssuer,
  type CreateCertificateOptions,
  type GeneratedCertificate,
  type MpPlatformKey,
  type RsaKeyPairPem,
} from './certs.js';
export {
  STATE_FILES,
  describeRunningMockWechat,
  loadOrCreateMockWechatState,
  runMockWechatFromState,
  type MockWechatState,
  type RunMockWechatFromStateOptions,
  type RunningMockWechatFromState,
} from './state.js';
