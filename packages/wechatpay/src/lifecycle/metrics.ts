// prom-client metrics of the lifecycle. Registered on the registry given (or a private one), and
// reused when another manager already registered them there.
import { Counter, Gauge, Registry } from 'prom-client';

export interface LifecycleMetrics {
  registry: Registry;
  expiry: Gauge<'mchid' | 'kind' | 'serial'>;
  reloads: Counter<'mchid' | 'result'>;
  validationFailures: Counter<'mchid' | 'source'>;
  downloads: Counter<'mchid' | 'result'>;
  syncReceived: Counter<'mchid' | 'result'>;
  expiryWarnings: Counter<'mchid' | 'kind' | 'threshold'>;
  version: Gauge<'mchid'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge<L>({ name, help, labelNames, registers: [registry] });
}

export function createLifecycleMetrics(registry: Registry = new Registry()): LifecycleMetrics {
  return {
    registry,
    expiry: gauge(registry, 'wxseal_wechatpay_certificate_expiry_seconds', 'Seconds until a held certificate expires (kind: merchant | platform)', ['mchid', 'kind', 'serial']),
    reloads: counter(registry, 'wxseal_wechatpay_material_reloads_total', 'Merchant material reloads by result (swapped | unchanged | rejected)', ['mchid', 'result']),
    validationFailures: counter(registry, 'wxseal_wechatpay_material_validation_failures_total', 'Candidate material rejected by validation (source: reload | download | sync)', ['mchid', 'source']),
    downloads: counter(registry, 'wxseal_wechatpay_certificate_downloads_total', 'GET /v3/certificates by result (ok | empty | failed)', ['mchid', 'result']),
    syncReceived: counter(registry, 'wxseal_wechatpay_certificate_sync_received_total', 'Certificate lists received from the cluster store by result (accepted | unchanged | rejected)', ['mchid', 'result']),
    expiryWarnings: counter(registry, 'wxseal_wechatpay_certificate_expiry_warnings_total', 'Expiry warnings raised (threshold in days)', ['mchid', 'kind', 'threshold']),
    version: gauge(registry, 'wxseal_wechatpay_material_version', 'Version of the merchant material snapshot in use', ['mchid']),
  };
}
