import type { Transaction } from 'kysely';
import { DeviceStoreError, type DeviceStoreErrorCode } from './errors.js';
import { MAX_BATCH, checkContext, checkLimit, type CheckedContext } from './input-rules.js';
import { currentKeySeal, previousKeySeal, productSecretSeal, type RegistryContext } from './registry-context.js';
import { toInt, type DeviceDatabase } from './schema.js';

/** Master key rotation: every product secret and device key re-encrypted under a new master key. */

export interface RewrapOptions {
  actor?: string;
  source?: string;
  /** Rows per transaction (default 500). */
  batchSize?: number;
  onProgress?(progress: { products: number; devices: number; failures: number }): void;
}

export interface RewrapFailure {
  table: 'products' | 'devices';
  id: string;
  code: DeviceStoreErrorCode;
}

export interface RewrapSummary {
  masterKeyId: string;
  /** Rows re-encrypted by this call. */
  products: number;
  devices: number;
  /** Rows left under another master key: they did not decrypt, or changed while being rewrapped (run again). */
  failures: RewrapFailure[];
}

type Trx = Transaction<DeviceDatabase>;

/** How one table is rewrapped; `Row` is a row as selected, `Plain` its decrypted values. */
interface RewrapTable<Row, Plain> {
  table: RewrapFailure['table'];
  /** What the audit entry says was re-encrypted ("3 product secrets"). */
  noun: string;
  /** The next batch of rows not under `masterKeyId`, after the id `after`, in id order. */
  select(trx: Trx, masterKeyId: string, after: string, limit: number): Promise<Row[]>;
  id(row: Row): string;
  /** The row's values in clear; throws when they do not decrypt. */
  open(row: Row): Plain;
  /** Seals `plain` under `masterKeyId`, wipes it, and updates the row unless it changed meanwhile (false). */
  update(trx: Trx, row: Row, plain: Plain, masterKeyId: string, now: number): Promise<boolean>;
}

interface ProductRow {
  product_id: string;
  secret_ct: Buffer;
  master_key_id: string;
}

interface DeviceKeysRow {
  serial: string;
  /** key_version as a number (a malformed one fails the batch, it is no decrypt failure). */
  version: number;
  current_key_ct: Buffer;
  previous_key_ct: Buffer | null;
  master_key_id: string;
}

function productsTable(reg: RegistryContext): RewrapTable<ProductRow, Buffer> {
  return {
    table: 'products',
    noun: 'product secrets',
    select: (trx, masterKeyId, after, limit) =>
      trx
        .selectFrom('wxseal_products')
        .select(['product_id', 'secret_ct', 'master_key_id'])
        .where('master_key_id', '<>', masterKeyId)
        .where('product_id', '>', after)
        .orderBy('product_id')
        .limit(limit)
        .execute(),
    id: (row) => row.product_id,
    open: (row) => reg.ring.open(row.master_key_id, row.secret_ct, productSecretSeal(row.product_id)),
    async update(trx, row, plain, masterKeyId, now) {
      const sealed = reg.ring.seal(plain, productSecretSeal(row.product_id), masterKeyId);
      plain.fill(0);
      const r = await trx
        .updateTable('wxseal_products')
        .set({ secret_ct: sealed, master_key_id: masterKeyId, updated_at: now })
        .where('product_id', '=', row.product_id)
        .where('master_key_id', '=', row.master_key_id)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}

function devicesTable(reg: RegistryContext): RewrapTable<DeviceKeysRow, { cur: Buffer; prev: Buffer | undefined }> {
  return {
    table: 'devices',
    noun: 'device rows',
    select: async (trx, masterKeyId, after, limit) =>
      (
        await trx
          .selectFrom('wxseal_devices')
          .select(['serial', 'key_version', 'current_key_ct', 'previous_key_ct', 'master_key_id'])
          .where('master_key_id', '<>', masterKeyId)
          .where('serial', '>', after)
          .orderBy('serial')
          .limit(limit)
          .execute()
      ).map(({ key_version, ...row }) => ({ ...row, version: toInt(key_version) })),
    id: (row) => row.serial,
    open(row) {
      const cur = reg.ring.open(row.master_key_id, row.current_key_ct, currentKeySeal(row.serial, row.version));
      const prev = row.previous_key_ct ? reg.ring.open(row.master_key_id, row.previous_key_ct, previousKeySeal(row.serial, row.version)) : undefined;
      return { cur, prev };
    },
    async update(trx, row, { cur, prev }, masterKeyId) {
      const version = row.version;
      const curCt = reg.ring.seal(cur, currentKeySeal(row.serial, version), masterKeyId);
      const prevCt = prev ? reg.ring.seal(prev, previousKeySeal(row.serial, version), masterKeyId) : null;
      cur.fill(0);
      prev?.fill(0);
      const r = await trx
        .updateTable('wxseal_devices')
        .set({ current_key_ct: curCt, previous_key_ct: prevCt, master_key_id: masterKeyId })
        .where('serial', '=', row.serial)
        .where('master_key_id', '=', row.master_key_id)
        .where('key_version', '=', version)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}

export async function rewrapAll(reg: RegistryContext, newMasterKeyId: string, options: RewrapOptions): Promise<RewrapSummary> {
  if (!reg.ring.has(newMasterKeyId)) throw new DeviceStoreError('DEVICE_MASTER_KEY_UNKNOWN', `master key ${newMasterKeyId} is not in the ring`);
  const ctx = checkContext({ actor: options.actor ?? 'rewrap', ...(options.source !== undefined ? { source: options.source } : {}) });
  const batchSize = checkLimit(options.batchSize, 500, MAX_BATCH);
  const summary: RewrapSummary = { masterKeyId: newMasterKeyId, products: 0, devices: 0, failures: [] };
  const progress = (): void => options.onProgress?.({ products: summary.products, devices: summary.devices, failures: summary.failures.length });
  // Products first, then devices: each table in batches, one transaction and one audit entry each.
  await rewrapTable(reg, productsTable(reg), newMasterKeyId, batchSize, ctx, summary, progress);
  await rewrapTable(reg, devicesTable(reg), newMasterKeyId, batchSize, ctx, summary, progress);
  return summary;
}

async function rewrapTable<Row, Plain>(
  reg: RegistryContext,
  spec: RewrapTable<Row, Plain>,
  newMasterKeyId: string,
  batchSize: number,
  ctx: CheckedContext,
  summary: RewrapSummary,
  progress: () => void,
): Promise<void> {
  let after = '';
  for (;;) {
    const from = after;
    const last = await reg.transaction('rewrapAll', async (trx) => {
      const rows = await spec.select(trx, newMasterKeyId, from, batchSize);
      let changed = 0;
      const now = reg.nowMs();
      for (const row of rows) {
        let plain: Plain;
        try {
          plain = spec.open(row);
        } catch (err) {
          summary.failures.push({ table: spec.table, id: spec.id(row), code: err instanceof DeviceStoreError ? err.code : 'DEVICE_KEY_DECRYPT_FAILED' });
          continue;
        }
        if (await spec.update(trx, row, plain, newMasterKeyId, now)) changed++;
        else summary.failures.push({ table: spec.table, id: spec.id(row), code: 'DEVICE_CONCURRENT_MODIFICATION' });
      }
      if (changed > 0) {
        const reason = `${changed} ${spec.noun} re-encrypted under master key ${newMasterKeyId}`;
        await reg.audit(trx, { serial: null, productId: null, action: 'rewrap', ctx: { ...ctx, reason }, keyVersion: null, at: now });
      }
      summary[spec.table] += changed;
      const lastRow = rows[rows.length - 1];
      return rows.length < batchSize || lastRow === undefined ? undefined : spec.id(lastRow);
    });
    progress();
    if (last === undefined) return;
    after = last;
  }
}
