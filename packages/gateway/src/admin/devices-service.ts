/**
 * Device administration over the registry's DeviceRepository — the same service layer the
 * `wxseal device` CLI uses — shaped for the admin API. Changes go through the repository, so they
 * are audited in the registry too and invalidated on every instance by the existing change hooks.
 */
import { WxsealError } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { DeviceStoreError, type AuditEntry as DeviceAuditEntry, type DeviceInfo, type DeviceRepository } from '@wxseal/devices';
import { AdminError } from './http.js';

export interface DeviceView {
  serial: string;
  productId: string;
  status: 'active' | 'revoked';
  keyVersion: number;
  createdAt: string;
  updatedAt: string;
  revokedAt?: string;
  revokeReason?: string;
  lastSeenAt?: string;
}

/** Last verified request per serial seen by this instance; bounded (the oldest entries go first). */
export class LastSeen {
  readonly #at = new Map<string, number>();
  constructor(private readonly max = 500_000) {}
  seen(serial: string, at: number): void {
    this.#at.set(serial, at);
    if (this.#at.size > this.max) this.#at.delete(this.#at.keys().next().value!);
  }
  get(serial: string): number | undefined {
    return this.#at.get(serial);
  }
}

export interface Who {
  actor: string;
  client: string;
  reason: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Registry errors → admin errors; anything unexpected is an outage (fail closed, 503). */
export function deviceError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  if (err instanceof DeviceStoreError) {
    switch (err.code) {
      case 'DEVICE_NOT_FOUND':
      case 'DEVICE_PRODUCT_NOT_FOUND':
        return new AdminError('ADMIN_NOT_FOUND', err.message);
      case 'DEVICE_ALREADY_ACTIVE':
      case 'DEVICE_REVOKED':
      case 'DEVICE_EXISTS':
      case 'DEVICE_PRODUCT_MISMATCH':
      case 'DEVICE_CONCURRENT_MODIFICATION':
      case 'DEVICE_DUPLICATE_KEY':
        return new AdminError('ADMIN_CONFLICT', err.message);
      case 'DEVICE_INVALID_INPUT':
        return new AdminError('ADMIN_BAD_REQUEST', err.message);
      default:
        return new AdminError('ADMIN_UNAVAILABLE', `the device registry failed (${err.code})`);
    }
  }
  if (err instanceof WxsealError) return new AdminError('ADMIN_UNAVAILABLE', 'the device database cannot be reached');
  return new AdminError('ADMIN_UNAVAILABLE', 'the device registry failed');
}

async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw deviceError(err);
  }
}

export class DevicesService {
  constructor(
    private readonly repo: DeviceRepository,
    private readonly lastSeen: LastSeen,
  ) {}

  view(info: DeviceInfo, revokeReason?: string): DeviceView {
    const v: DeviceView = {
      serial: info.serial,
      productId: info.productId,
      status: info.status,
      keyVersion: info.keyVersion,
      createdAt: iso(info.activatedAt),
      updatedAt: iso(info.updatedAt),
    };
    if (info.revokedAt !== undefined) v.revokedAt = iso(info.revokedAt);
    if (revokeReason !== undefined && info.status === 'revoked') v.revokeReason = revokeReason;
    const seen = this.lastSeen.get(info.serial);
    if (seen !== undefined) v.lastSeenAt = iso(seen);
    return v;
  }

  list(q: { q?: string; product?: string; status?: 'active' | 'revoked'; cursor?: string; limit: number }): Promise<{ devices: DeviceView[]; nextCursor?: string }> {
    return guarded(async () => {
      const page = await this.repo.list({
        limit: q.limit,
        ...(q.q !== undefined ? { serialPrefix: q.q } : {}),
        ...(q.product !== undefined ? { productId: q.product } : {}),
        ...(q.status !== undefined ? { status: q.status } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      return { devices: page.devices.map((d) => this.view(d)), ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
    });
  }

  get(serial: string): Promise<{ device: DeviceView; audit: DeviceAuditView[] }> {
    return guarded(async () => {
      const info = await this.repo.show(serial);
      if (!info) throw new AdminError('ADMIN_NOT_FOUND', `device ${serial} does not exist`);
      const audit = await this.repo.audit(serial, { limit: 1000 });
      const lastRevoke = audit.filter((e) => e.action === 'revoke').at(-1);
      return { device: this.view(info, lastRevoke?.reason), audit: audit.map(auditView) };
    });
  }

  provision(serial: string, productId: string, who: Who): Promise<{ device: DeviceView; key: { keyId: string; secret: string; version: number } }> {
    return guarded(async () => {
      const issued = await this.repo.activate(serial, productId, context(who));
      try {
        const info = await this.repo.show(serial);
        return { device: this.view(info!), key: { keyId: serial, secret: b64uEncode(issued.key), version: issued.keyVersion } };
      } finally {
        issued.key.fill(0);
      }
    });
  }

  rotate(serial: string, graceSeconds: number, who: Who): Promise<{ device: DeviceView; key: { keyId: string; secret: string; version: number } }> {
    return guarded(async () => {
      const issued = await this.repo.rotate(serial, { ...context(who), graceSeconds });
      try {
        const info = await this.repo.show(serial);
        return { device: this.view(info!), key: { keyId: serial, secret: b64uEncode(issued.key), version: issued.keyVersion } };
      } finally {
        issued.key.fill(0);
      }
    });
  }

  revoke(serial: string, who: Who): Promise<{ device: DeviceView }> {
    return guarded(async () => ({ device: this.view(await this.repo.revoke(serial, context(who)), who.reason) }));
  }

  import(productId: string, rows: readonly { serial: string; key?: string }[], who: Who): Promise<{ imported: number; skipped: number; failed: { serial: string; error: string }[] }> {
    return guarded(async () => {
      const summary = await this.repo.importMany(
        rows.map((r) => ({ serial: r.serial, productId, ...(r.key !== undefined ? { key: r.key } : {}) })),
        { ...context(who) },
      );
      let skipped = 0;
      const failed: { serial: string; error: string }[] = [];
      for (const r of summary.results) {
        if (r.ok) {
          r.key?.fill(0); // generated keys are not handed out by the admin API (rotate the device to get one)
          continue;
        }
        if (r.code === 'DEVICE_EXISTS') skipped++;
        else failed.push({ serial: r.serial, error: r.code });
      }
      return { imported: summary.imported, skipped, failed };
    });
  }
}

export interface DeviceAuditView {
  id: number;
  at: string;
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: 'ok';
  client: string;
  detail?: Record<string, unknown>;
}

function auditView(e: DeviceAuditEntry): DeviceAuditView {
  const v: DeviceAuditView = { id: e.id, at: iso(e.at), actor: e.actor, action: `device.${e.action}`, outcome: 'ok', client: e.source ?? '' };
  if (e.serial !== undefined) v.target = e.serial;
  if (e.reason !== undefined) v.reason = e.reason;
  const detail: Record<string, unknown> = {};
  if (e.keyVersion !== undefined) detail.keyVersion = e.keyVersion;
  if (e.productId !== undefined) detail.productId = e.productId;
  if (Object.keys(detail).length > 0) v.detail = detail;
  return v;
}

function context(who: Who): { actor: string; source: string; reason: string } {
  // The registry's own audit records who through the admin API: `admin:<actor>`.
  return { actor: `admin:${who.actor}`.slice(0, 128), source: who.client.slice(0, 128), reason: who.reason };
}
