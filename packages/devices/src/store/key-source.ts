import { LIMITS } from '@wxseal/protocol';
import { currentKeySeal, previousKeySeal, type RegistryContext } from './registry-context.js';
import { toInt, toIntOrUndefined } from './schema.js';
import type { DeviceKeyRecord } from './types.js';

/** What the key caches read (DeviceKeySource): the only read that decrypts device keys, and the list of serials. */

/** DeviceRepository.load(), documented there. */
export async function load(reg: RegistryContext, serial: string): Promise<DeviceKeyRecord | undefined> {
  if (typeof serial !== 'string' || !LIMITS.idPattern.test(serial)) return undefined;
  const row = await reg.read('load', () =>
    reg.db
      .selectFrom('wxseal_devices')
      .select(['serial', 'status', 'key_version', 'current_key_ct', 'previous_key_ct', 'previous_key_not_after', 'master_key_id', 'updated_at'])
      .where('serial', '=', serial)
      .executeTakeFirst(),
  );
  if (!row) return undefined;
  const version = toInt(row.key_version);
  const record: DeviceKeyRecord = {
    serial: row.serial,
    status: row.status,
    currentKey: reg.ring.open(row.master_key_id, row.current_key_ct, currentKeySeal(serial, version)),
    keyVersion: version,
    updatedAt: toInt(row.updated_at),
  };
  const notAfter = toIntOrUndefined(row.previous_key_not_after);
  if (row.previous_key_ct && notAfter !== undefined && notAfter >= Math.floor(reg.nowMs() / 1000)) {
    record.previousKey = reg.ring.open(row.master_key_id, row.previous_key_ct, previousKeySeal(serial, version));
    record.previousKeyNotAfter = notAfter;
  }
  return record;
}

/** DeviceRepository.serials(), documented there. */
export async function* serials(reg: RegistryContext): AsyncIterable<string> {
  let after: string | undefined;
  for (;;) {
    const from = after;
    const rows = await reg.read('serials', () => {
      let q = reg.db.selectFrom('wxseal_devices').select('serial');
      if (from !== undefined) q = q.where('serial', '>', from);
      return q.orderBy('serial').limit(reg.pageSize).execute();
    });
    for (const row of rows) yield row.serial;
    if (rows.length < reg.pageSize) return;
    after = rows[rows.length - 1]?.serial;
  }
}

