// @wxseal/mock-wechat: a local HTTP server behaving like the WeChat endpoints a backend talks to
// (access_token, jscode2session, getuserphonenumber, Mini Program API security, WeChat Pay API v3), for tests and
// local development. See README.md.
export { startMockWechat } from './server.js';
export type { MockWechat, MockWechatOptions, MockWechatLogEntry, PaySimulationOptions } from './types.js';
export {
  createMockPayMerchant,
  type CreateMockPayMerchantOptions,
  type MockPayClientConfig,
  type MockPayMerchant,
  type MockPayMerchantConfig,
  type PayMerchantMode,
} from './pay/merchants.js';
export { generatePayPlatformCertificate, generatePayPublicKey, type PayPlatformCertificate, type PayPublicKeyMaterial, type RotationSigning } from './pay/keys.js';
export { createSm2Certificate, generateSmPayPlatformCertificate, type Sm2Certificate, type Sm2CertificateOptions } from './pay/sm-keys.js';
export type { PayNotifyEvent, PayNotifyOptions, PayNotifyResult, PayNotifyTamper } from './pay/side.js';
export type { PayGuide } from './pay/guides.js';
export { generateMpSm2PlatformKey, type MpSm2PlatformKey } from './mp/platform.js';
export type { PayTradeType, RefundStatus, TradeState } from './pay/store.js';
export { createMockMpApp, type CreateMockMpAppOptions, type MockMpApp, type MockMpClientConfig } from './mp/create-app.js';
export type { ApiSecurityMode, JsCodeFixture, MockApiSecurityConfig, MockAppConfig, PhoneFixture } from './mp/apps.js';
export type { ApiContext, ApiHandler } from './mp/routes.js';
export { MockWechatError, wxFail, ERRMSG } from './errcodes.js';
export { MOCK_ERRORS, type MockErrorCode } from './errors.js';
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
  type MockWechatSuite,
  type RunMockWechatFromStateOptions,
  type RunningMockWechatFromState,
} from './state.js';
export type { MockAsymmetricAlgorithm, MockSymmetricAlgorithm } from './mp/apps.js';
