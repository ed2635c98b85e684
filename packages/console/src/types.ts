// Shapes of the admin API v1 (packages/gateway/ADMIN-API.md). Only what the console reads.

export interface Session {
  actor: string;
  csrfToken: string;
  expiresAt: string;
}

export type DeviceStatus = 'active' | 'revoked';

export interface Device {
  serial: string;
  productId: string;
  status: DeviceStatus;
  keyVersion: number;
  createdAt: string;
  updatedAt: string;
  revokedAt?: string;
  revokeReason?: string;
  lastSeenAt?: string;
}

export interface DeviceKey {
  keyId: string;
  secret: string;
  version: number;
}

export interface AuditEntry {
  /** An integer in the gateway (the audit cursor is the last id as a string). */
  id: number | string;
  at: string;
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: 'ok' | 'refused' | 'failed';
  client: string;
  detail?: unknown;
}

export interface DeviceList {
  devices: Device[];
  nextCursor?: string;
}

export interface DeviceDetails {
  device: Device;
  audit: AuditEntry[];
}

export interface ImportResult {
  imported: number;
  skipped: number;
  failed: { serial: string; error: string }[];
}

export interface CredentialSecret {
  secretId: string;
  source: 'config' | 'admin';
  status: 'active' | 'retired';
  createdAt?: string;
}

export interface Credential {
  keyId: string;
  secrets: CredentialSecret[];
}

export interface ServerKey {
  kid: string;
  status: 'active' | 'decrypt-only' | 'retired';
  source: 'config' | 'admin';
  createdAt?: string;
  publicKeyPem: string;
}

export type CertificateOwner = { kind: 'wechatpay'; mchid: string } | { kind: 'mp'; appid: string };
export type CertificateStatus = 'ok' | 'warning' | 'critical' | 'expired';

export interface Certificate {
  owner: CertificateOwner;
  kind: 'platform' | 'merchant' | 'public-key';
  serial: string;
  source: string;
  notAfter?: string;
  secondsToExpiry?: number;
  status: CertificateStatus;
}

export interface StatsBucket {
  t: string;
  accepted: number;
  rejected: Record<string, number>;
}

export interface Stats {
  since: string;
  accepted: number;
  rejected: Record<string, number>;
  replays: number;
  upstreamErrors: number;
  latencyMs: { p50: number; p90: number; p99: number };
  series: StatsBucket[];
}
