// Expiry of the certificates a merchant holds: one gauge per certificate (seconds left, removed when
// the certificate is no longer held) and one warning per certificate at the tightest threshold
// crossed, noting when a newer platform certificate already supersedes it.
import type { MerchantMaterial } from '../merchant/material.js';
import type { LifecycleEvents } from './events.js';
import type { LifecycleMetrics } from './metrics.js';
import type { MerchantCandidate, ParsedCertificate } from './validate.js';

const DAY_MS = 86_400_000;

type CertificateKind = 'merchant' | 'platform';

interface MerchantExpiry {
  /** `kind|serial|threshold` already announced. */
  warned: Set<string>;
  /** Gauge label sets currently set, by `kind|serial`. */
  gaugeLabels: Map<string, { kind: CertificateKind; serial: string }>;
}

/** Whether the snapshot holds a platform certificate that has expired by `now` (time for a new snapshot). */
export function holdsExpiredCertificate(material: MerchantMaterial | undefined, now: number): boolean {
  return material !== undefined && [...material.verificationKeys.certificates.values()].some((k) => k.validTo !== undefined && k.validTo.getTime() <= now);
}

export class ExpiryMonitor {
  readonly #merchants = new Map<string, MerchantExpiry>();

  constructor(
    private readonly metrics: LifecycleMetrics,
    private readonly events: LifecycleEvents,
    /** Thresholds in days, largest first. */
    private readonly thresholds: readonly number[],
  ) {}

  /** Re-evaluates the gauges and warnings of what the merchant holds (pinned and downloaded certificates). */
  update(mchid: string, candidate: MerchantCandidate | undefined, platform: readonly ParsedCertificate[], now: number): void {
    let m = this.#merchants.get(mchid);
    if (m === undefined) this.#merchants.set(mchid, (m = { warned: new Set(), gaugeLabels: new Map() }));
    const seen = new Map<string, { kind: CertificateKind; serial: string }>();
    const entries: Array<{ kind: CertificateKind; cert: ParsedCertificate }> = [];
    if (candidate?.merchantCertificate !== undefined) entries.push({ kind: 'merchant', cert: candidate.merchantCertificate });
    const platformBySerial = new Map<string, ParsedCertificate>();
    for (const p of [...(candidate?.pinned ?? []), ...platform]) if (!platformBySerial.has(p.serial)) platformBySerial.set(p.serial, p);
    for (const p of platformBySerial.values()) entries.push({ kind: 'platform', cert: p });
    const latestPlatform = Math.max(0, ...[...platformBySerial.values()].map((p) => p.validTo.getTime()));
    for (const { kind, cert } of entries) {
      const labels = { mchid, kind, serial: cert.serial };
      const left = (cert.validTo.getTime() - now) / 1000;
      this.metrics.expiry.set(labels, Math.round(left));
      seen.set(`${kind}|${cert.serial}`, { kind, serial: cert.serial });
      const daysLeft = (cert.validTo.getTime() - now) / DAY_MS;
      // Tightest threshold crossed, once per certificate; larger ones are then considered announced.
      const crossed = this.thresholds.filter((t) => daysLeft <= t);
      const tightest = crossed[crossed.length - 1];
      if (tightest === undefined) continue;
      const key = `${kind}|${cert.serial}|${tightest}`;
      if (m.warned.has(key)) continue;
      for (const t of crossed) m.warned.add(`${kind}|${cert.serial}|${t}`);
      const superseded = kind === 'platform' && latestPlatform > cert.validTo.getTime();
      this.metrics.expiryWarnings.inc({ mchid, kind, threshold: String(tightest) });
      this.events.emit({ type: 'expiry-warning', mchid, kind, serial: cert.serial, validTo: cert.validTo.toISOString(), daysLeft: Math.floor(daysLeft), thresholdDays: tightest, superseded });
    }
    for (const [k, v] of m.gaugeLabels) if (!seen.has(k)) this.metrics.expiry.remove({ mchid, kind: v.kind, serial: v.serial });
    m.gaugeLabels = seen;
  }
}
