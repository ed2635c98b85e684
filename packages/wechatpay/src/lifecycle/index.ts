// Certificate and key lifecycle for WeChat Pay API v3: hot-reloading, validated, cluster-synchronised
// merchant material (CertificateManager implements MerchantMaterialSource) and the helpers behind
// `wxseal pay certs list|download|check`.
export { CertificateManager } from './manager.js';
export type { CertificateManagerOptions, LifecycleLogger, MerchantConfig } from './config.js';
export type { CertificateManagerEvent, CertificateManagerEventType, MaterialChangeReason } from './events.js';
export { InMemorySecretStore, describeSource, readSource, type SecretSource, type SecretStore } from './sources.js';
export {
  checkCertificates,
  parseCertificatePem,
  splitPemCertificates,
  validateMerchantCandidate,
  type CertificateCheckReport,
  type CertificateStatus,
  type CheckCertificatesInput,
  type MerchantCandidate,
  type MerchantCandidateInput,
  type ParsedCertificate,
} from './validate.js';
export {
  CERTIFICATES_PATH,
  DEFAULT_WECHATPAY_BASE_URL,
  downloadPlatformCertificates,
  type DownloadPlatformCertificatesOptions,
  type DownloadedCertificates,
} from './download.js';
export { createLifecycleMetrics, type LifecycleMetrics } from './metrics.js';
export { openSyncPayload, sealSyncPayload, syncMacKey, type SyncOptions, type SyncPayload } from './sync.js';
export { CertificateLifecycleError, WECHATPAY_LIFECYCLE_ERRORS, isCertificateLifecycleError, type CertificateLifecycleErrorCode } from './errors.js';
