// The Mini Program client's API-security options from a mock app's client config (client.json:
// RSA, or 国密 with the SM algorithms and SM2 platform certificates it carries).
import type { MockMpClientConfig } from '@wxseal/mock-wechat';
import type { MpApiSecurityOptions } from '@wxseal/wechat';

export function apiSecurityOf(cfg: MockMpClientConfig): MpApiSecurityOptions {
  return {
    symKey: cfg.symKey,
    symSn: cfg.symSn,
    privateKey: cfg.privateKeyPem,
    privateKeySn: cfg.privateKeySn,
    platformCertificates: cfg.platformCertificates,
    ...(cfg.symmetricAlgorithm !== undefined ? { symmetricAlgorithm: cfg.symmetricAlgorithm } : {}),
    ...(cfg.asymmetricAlgorithm !== undefined ? { asymmetricAlgorithm: cfg.asymmetricAlgorithm } : {}),
  };
}
