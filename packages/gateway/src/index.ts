/**
 * @wxseal/gateway — a verifying reverse proxy: it terminates wxseal (SPEC.md) at the edge and
 * talks plain HTTP to services that will not adopt a wxseal library (Java, Go, …), handing them
 * the verified identity as headers and sealing their answers on the way back.
 */
export { startGateway, type RunningGateway, type StartGatewayOptions } from './gateway.js';
export {
  loadGatewayConfig,
  isGatewayConfig,
  formatPath,
  type ClientCertificateBinding,
  type ClientConfig,
  type ClientSecretConfig,
  type EdgeTlsConfig,
  type EdgeTlsVersion,
  type GatewayConfig,
  type GatewayConfigInput,
  type LimitsConfig,
  type ListenerConfig,
  type LoadConfigOptions,
  type LogLevel,
  type MemoryNonceStoreConfig,
  type NonceStoreConfig,
  type PublicListenerConfig,
  type RedisNonceStoreConfig,
  type RouteConfig,
  type RouteMode,
  type ServerKeyConfig,
} from './config.js';
export {
  GATEWAY_ERRORS,
  GATEWAY_ERROR_CODES,
  GATEWAY_ERROR_MESSAGES,
  GATEWAY_ERROR_STATUS,
  GatewayConfigError,
  type ConfigIssue,
  type GatewayErrorCode,
} from './errors.js';
export { IDENTITY_HEADERS, encodeIdentityValue } from './headers.js';
export { DEFAULT_EDGE_CIPHERS, type EdgeReloadSource, type EdgeTlsStatus } from './tls/edge-tls.js';
export { unsafePathReason } from './routes.js';
export type { RequestOutcome } from './metrics.js';
export { REDACT_PATHS } from './logger.js';
export type { DevicesConfig, DevicesConfigInput, DevicesRedisConfig, TokenBucketConfig } from './devices-config.js';
export { CompositeKeyResolver, type GatewayDevices, type GatewayDevicesStats } from './devices.js';
export { StalenessGuard } from './control-plane.js';
export { openCredentialsTool, type CredentialsTool } from './credentials-tool.js';
export { perInstanceState, type ControlPlaneConfig, type PerInstanceState } from './fleet-config.js';
export {
  ADMIN_ROUTES,
  ADMIN_ERRORS,
  ADMIN_ERROR_STATUS,
  API_PREFIX as ADMIN_API_PREFIX,
  AdminError,
  CONSOLE_CSP,
  CRITICAL_SECONDS,
  DEFAULT_SCRYPT,
  SECURITY_HEADERS,
  SESSION_COOKIE as ADMIN_SESSION_COOKIE,
  WARNING_SECONDS,
  buildOpenApi,
  certificateInventoryFromMaterial,
  certificateStatus,
  hashPassword,
  parsePasswordHash,
  verifyPassword,
  type AdminConfig,
  type AdminConfigInput,
  type AdminErrorCode,
  type AdminRouteSpec,
  type AdminUserConfig,
  type AuditRow,
  type CertificateInfo,
  type CertificateInventory,
  type CertificateKind,
  type CertificateLike,
  type CertificateOwner,
  type CertificateStatus,
  type CertificateView,
  type MaterialInventorySource,
  type MerchantCertificateMaterial,
  type StatsSnapshot,
} from './admin/index.js';
export { ClusterMember, RESTART_LIMIT, RESTART_WINDOW_MS, WORKER_ENV, defaultWorkerCount, restartPlan, runGatewayPrimary, workerIssues, type PrimaryOptions } from './workers.js';
