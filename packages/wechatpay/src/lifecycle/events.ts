// What the manager reports: one event per load, swap, rejection, download, sync message, expiry
// warning and leadership change, to the subscribers and the logger (warnings at warn level).
import type { LifecycleLogger } from './config.js';

export type MaterialChangeReason = 'initial' | 'reload' | 'download' | 'sync' | 'expiry';

export type CertificateManagerEvent =
  | { type: 'loaded'; mchid: string; version: number; merchantSerialNo: string; wechatpaySerial?: string; platformSerials: string[] }
  | { type: 'swapped'; mchid: string; version: number; previousVersion: number; reason: MaterialChangeReason; merchantSerialNo: string; wechatpaySerial?: string; platformSerials: string[] }
  | { type: 'validation-failed'; mchid: string; source: 'reload' | 'download' | 'sync'; problems: string[] }
  | { type: 'downloaded'; mchid: string; serials: string[]; signedBy?: string; empty: boolean; reason: string }
  | { type: 'download-failed'; mchid: string; error: string; reason: string }
  | { type: 'expiry-warning'; mchid: string; kind: 'merchant' | 'platform'; serial: string; validTo: string; daysLeft: number; thresholdDays: number; superseded: boolean }
  | { type: 'sync-received'; mchid: string; accepted: boolean; serials: string[]; origin?: string; reason?: string }
  | { type: 'sync-failed'; mchid?: string; error: string }
  | { type: 'leader-acquired'; mchid: string }
  | { type: 'leader-lost'; mchid: string };

export type CertificateManagerEventType = CertificateManagerEvent['type'];

function isWarning(e: CertificateManagerEvent): boolean {
  return e.type === 'validation-failed' || e.type === 'download-failed' || e.type === 'sync-failed' || e.type === 'expiry-warning' || (e.type === 'sync-received' && !e.accepted);
}

export class LifecycleEvents {
  readonly #listeners = new Set<(e: CertificateManagerEvent) => void>();

  constructor(private readonly logger: LifecycleLogger | undefined) {}

  /** Subscribes; returns the unsubscribe function. */
  on(listener: (e: CertificateManagerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(e: CertificateManagerEvent): void {
    try {
      this.logger?.[isWarning(e) ? 'warn' : 'info']?.(`wechatpay lifecycle: ${e.type}`, { ...e });
    } catch {
      /* a logger must not break the manager */
    }
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        /* nor a listener */
      }
    }
  }
}
