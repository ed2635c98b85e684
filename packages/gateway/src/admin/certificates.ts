import type { TlsCertificateRegistry } from '../tls/registry.js';

/**
 * The certificates the admin API lists (WeChat platform certificates, WeChat Pay merchant and
 * platform certificates, WeChat Pay public keys). The gateway does not load them itself: whoever
 * manages them (e.g. @wxseal/wechatpay's CertificateManager) hands a CertificateInventory to
 * startGateway(config, { certificateInventory }).
 */

export type CertificateOwner = { kind: 'wechatpay'; mchid: string } | { kind: 'mp'; appid: string } | { kind: 'tls'; name: string };
/** WeChat's certificates and keys, then the gateway's TLS roles (TlsCertificateRole). */
export const CERTIFICATE_KINDS = ['platform', 'merchant', 'public-key', 'edge', 'client-ca', 'upstream-ca', 'upstream-client'] as const;
export type CertificateKind = (typeof CERTIFICATE_KINDS)[number];
export type CertificateStatus = 'ok' | 'warning' | 'critical' | 'expired';

/** One certificate or public key as the inventory reports it. */
export interface CertificateInfo {
  owner: CertificateOwner;
  kind: CertificateKind;
  /** Certificate serial number, or the public key id (PUB_KEY_ID_…). */
  serial: string;
  /** The certificate's subject, one line (TLS certificates). */
  subject?: string;
  /** Where it came from: "file", "env", "download", "secret-store", … */
  source: string;
  /** End of validity (a Date, an ISO 8601 string or Unix ms); absent for keys without one. */
  notAfter?: Date | string | number;
}

export interface CertificateInventory {
  list(): Promise<CertificateInfo[]>;
  /** Re-reads or re-downloads (all owners, or one); resolves with how many were refreshed. */
  refresh(owner?: CertificateOwner): Promise<number>;
}

/** What the admin API answers for a certificate. */
export interface CertificateView {
  owner: CertificateOwner;
  kind: CertificateKind;
  serial: string;
  subject?: string;
  source: string;
  notAfter?: string;
  secondsToExpiry?: number;
  status: CertificateStatus;
}

export const WARNING_SECONDS = 30 * 86_400;
export const CRITICAL_SECONDS = 7 * 86_400;

export function certificateStatus(secondsToExpiry: number | undefined): CertificateStatus {
  if (secondsToExpiry === undefined) return 'ok';
  if (secondsToExpiry <= 0) return 'expired';
  if (secondsToExpiry < CRITICAL_SECONDS) return 'critical';
  if (secondsToExpiry < WARNING_SECONDS) return 'warning';
  return 'ok';
}

export function certificateView(info: CertificateInfo, nowMs: number): CertificateView {
  const view: CertificateView = { owner: info.owner, kind: info.kind, serial: info.serial, ...(info.subject !== undefined ? { subject: info.subject } : {}), source: info.source, status: 'ok' };
  if (info.notAfter !== undefined) {
    const ms = info.notAfter instanceof Date ? info.notAfter.getTime() : typeof info.notAfter === 'number' ? info.notAfter : Date.parse(info.notAfter);
    if (Number.isFinite(ms)) {
      view.notAfter = new Date(ms).toISOString();
      view.secondsToExpiry = Math.floor((ms - nowMs) / 1000);
    }
  }
  view.status = certificateStatus(view.secondsToExpiry);
  return view;
}

/** A certificate as node:crypto's X509Certificate shows it (only what the inventory needs). */
export interface CertificateLike {
  readonly serialNumber: string;
  /** e.g. "Jan  1 00:00:00 2030 GMT" (X509Certificate.validTo). */
  readonly validTo: string;
}

/** The material of one merchant, in the shape a certificate manager can give without conversion. */
export interface MerchantCertificateMaterial {
  readonly mchid: string;
  readonly merchantSerialNo?: string;
  readonly merchantCertificate?: CertificateLike;
  readonly platformCertificates?: Iterable<CertificateLike>;
  /** WeChat Pay public keys by id (PUB_KEY_ID_…); no expiry. */
  readonly publicKeyIds?: Iterable<string>;
  /** Recorded as the certificates' `source` (default "manager"). */
  readonly source?: string;
}

export interface MaterialInventorySource {
  /** The merchant ids to list. */
  merchants(): Iterable<string>;
  /** The current material of one merchant. */
  material(mchid: string): MerchantCertificateMaterial;
  /** Refreshes one merchant (e.g. CertificateManager.refreshPlatformCertificates); true when something changed. */
  refresh?(mchid: string): Promise<boolean | number>;
}

/**
 * A CertificateInventory over per-merchant material, for adapting a certificate manager:
 *
 * ```ts
 * certificateInventoryFromMaterial({
 *   merchants: () => manager.merchants,
 *   material: (mchid) => { const m = manager.current(mchid); return { mchid, merchantSerialNo: m.merchantSerialNo,
 *     merchantCertificate: m.merchantCertificate, platformCertificates: …, publicKeyIds: … }; },
 *   refresh: (mchid) => manager.refreshPlatformCertificates(mchid),
 * })
 * ```
 */
export function certificateInventoryFromMaterial(source: MaterialInventorySource): CertificateInventory {
  return {
    async list() {
      const out: CertificateInfo[] = [];
      for (const mchid of source.merchants()) {
        const m = source.material(mchid);
        const owner: CertificateOwner = { kind: 'wechatpay', mchid };
        const from = m.source ?? 'manager';
        if (m.merchantCertificate) {
          out.push({ owner, kind: 'merchant', serial: m.merchantCertificate.serialNumber.toUpperCase(), source: from, notAfter: new Date(m.merchantCertificate.validTo) });
        } else if (m.merchantSerialNo !== undefined) {
          out.push({ owner, kind: 'merchant', serial: m.merchantSerialNo, source: from });
        }
        for (const c of m.platformCertificates ?? []) out.push({ owner, kind: 'platform', serial: c.serialNumber.toUpperCase(), source: from, notAfter: new Date(c.validTo) });
        for (const id of m.publicKeyIds ?? []) out.push({ owner, kind: 'public-key', serial: id, source: from });
      }
      return out;
    },
    async refresh(owner?: CertificateOwner) {
      if (!source.refresh) return 0;
      if (owner && owner.kind !== 'wechatpay') return 0;
      const ids = owner ? [owner.mchid] : [...source.merchants()];
      let n = 0;
      for (const mchid of ids) {
        const r = await source.refresh(mchid);
        n += typeof r === 'number' ? r : r ? 1 : 0;
      }
      return n;
    },
  };
}

/**
 * The gateway's own TLS certificates (edge chain, client CAs, upstream CAs and client
 * certificates), as its configuration loaded them: listed without any code from the embedder.
 * `reload` re-reads the TLS files (the same path as a file change or SIGHUP).
 */
export function tlsCertificateInventory(registry: TlsCertificateRegistry, reload?: (name: string | undefined) => Promise<number>): CertificateInventory {
  return {
    async list() {
      return registry.list().map((e) => ({ owner: { kind: 'tls', name: e.name }, kind: e.role, serial: e.serial.toUpperCase(), subject: e.subject, source: e.source, notAfter: e.notAfter }));
    },
    async refresh(owner?: CertificateOwner) {
      if (!reload || (owner && owner.kind !== 'tls')) return 0;
      return reload(owner?.name);
    },
  };
}

/** One inventory over several: lists are concatenated, a refresh goes to each. */
export function combinedInventory(parts: readonly (CertificateInventory | undefined)[]): CertificateInventory {
  const present = parts.filter((p): p is CertificateInventory => p !== undefined);
  return {
    async list() {
      return (await Promise.all(present.map((p) => p.list()))).flat();
    },
    async refresh(owner?: CertificateOwner) {
      const counts = await Promise.all(present.map((p) => p.refresh(owner)));
      return counts.reduce((a, b) => a + b, 0);
    },
  };
}
