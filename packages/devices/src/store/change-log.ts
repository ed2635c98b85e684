import { checkLimit, invalid } from './input-rules.js';
import type { RegistryContext } from './registry-context.js';
import { toInt, type AuditAction } from './schema.js';

/**
 * The audit log read as a change log: every device state change writes its audit row (with an
 * auto-increment id) in the change's own transaction, so a gateway that reads the rows after the
 * last id it applied learns about changes made by ANY writer (another gateway, the CLI, a script
 * over DeviceRepository), with no message bus. See ../feed/device-change-feed.ts.
 */

/** One audit row, as much of it as a cache needs. */
export interface DeviceChange {
  id: number;
  /** NULL for rows about no single device (create_product, rewrap). */
  serial: string | undefined;
  action: AuditAction;
}

/** An inclusive range of audit ids. */
export interface ChangeIdRange {
  from: number;
  to: number;
}

/** What DeviceChangeFeed reads; DeviceRepository implements it. Every read is bounded (read deadline). */
export interface DeviceChangeLog {
  /** The highest audit id (0 when the log is empty). */
  latestChangeId(): Promise<number>;
  /** Rows with id > afterId, in id order, at most `limit` (1–10 000). */
  changesAfter(afterId: number, limit: number): Promise<DeviceChange[]>;
  /** Rows whose id falls in one of `ranges` (at most 100 ranges), in id order, at most `limit`. */
  changesWithin(ranges: readonly ChangeIdRange[], limit: number): Promise<DeviceChange[]>;
}

const MAX_CHANGE_PAGE = 10_000;
export const MAX_CHANGE_RANGES = 100;

const toChange = (row: { id: number | string | bigint; serial: string | null; action: AuditAction }): DeviceChange => ({
  id: toInt(row.id),
  serial: row.serial ?? undefined,
  action: row.action,
});

const checkId = (id: number, name: string): number => (Number.isSafeInteger(id) && id >= 0 ? id : invalid(`${name} must be a non-negative integer`));

/** DeviceRepository.latestChangeId(), documented there. */
export async function latestChangeId(reg: RegistryContext): Promise<number> {
  const row = await reg.read('latestChangeId', () =>
    reg.db.selectFrom('wxseal_device_audit').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst(),
  );
  const max = row?.max;
  return max === null || max === undefined ? 0 : toInt(max);
}

/** DeviceRepository.changesAfter(), documented there. */
export async function changesAfter(reg: RegistryContext, afterId: number, limit: number): Promise<DeviceChange[]> {
  checkId(afterId, 'afterId');
  const n = checkLimit(limit, 500, MAX_CHANGE_PAGE);
  // The primary key's index: one range scan whatever the size of the log.
  const rows = await reg.read('changesAfter', () =>
    reg.db.selectFrom('wxseal_device_audit').select(['id', 'serial', 'action']).where('id', '>', afterId).orderBy('id').limit(n).execute(),
  );
  return rows.map(toChange);
}

/** DeviceRepository.changesWithin(), documented there. */
export async function changesWithin(reg: RegistryContext, ranges: readonly ChangeIdRange[], limit: number): Promise<DeviceChange[]> {
  if (!Array.isArray(ranges) || ranges.length > MAX_CHANGE_RANGES) invalid(`ranges must be an array of at most ${MAX_CHANGE_RANGES} ranges`);
  if (ranges.length === 0) return [];
  for (const r of ranges) {
    checkId(r.from, 'from');
    checkId(r.to, 'to');
    if (r.to < r.from) invalid('a range ends before it starts');
  }
  const n = checkLimit(limit, 500, MAX_CHANGE_PAGE);
  const rows = await reg.read('changesWithin', () =>
    reg.db
      .selectFrom('wxseal_device_audit')
      .select(['id', 'serial', 'action'])
      .where((eb) => eb.or(ranges.map((r) => (r.from === r.to ? eb('id', '=', r.from) : eb.and([eb('id', '>=', r.from), eb('id', '<=', r.to)])))))
      .orderBy('id')
      .limit(n)
      .execute(),
  );
  return rows.map(toChange);
}
