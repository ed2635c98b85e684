export { AdminApi, type AdminApiDeps } from './api.js';
export { CredentialState, configSecretId, type SecretView, type ServerKeyView } from './state.js';
export type { AuditRow } from '@wxseal/control-plane';
export { LiveStats, REPLAY_CODE, type StatsSnapshot } from './stats.js';
export { LastSeen } from './devices-service.js';
export { ADMIN_ROUTES, API_PREFIX, type AdminRouteSpec } from './routes.js';
export { buildOpenApi } from './openapi.js';
export { hashPassword, verifyPassword, parsePasswordHash, DEFAULT_SCRYPT, type PasswordHash } from './passwords.js';
export { ADMIN_ERRORS, ADMIN_ERROR_STATUS, AdminError, CONSOLE_CSP, SECURITY_HEADERS, type AdminErrorCode } from './http.js';
export { SESSION_COOKIE } from './auth.js';
export type { AdminConfig, AdminConfigInput, AdminUserConfig } from './config.js';
export {
  CRITICAL_SECONDS,
  WARNING_SECONDS,
  certificateInventoryFromMaterial,
  certificateStatus,
  certificateView,
  type CertificateInfo,
  type CertificateInventory,
  type CertificateKind,
  type CertificateLike,
  type CertificateOwner,
  type CertificateStatus,
  type CertificateView,
  type MaterialInventorySource,
  type MerchantCertificateMaterial,
} from './certificates.js';
