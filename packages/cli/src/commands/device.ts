import { randomBytes } from 'node:crypto';
import { LIMITS } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import {
  DeviceStoreError,
  MASTER_KEYS_ENV,
  MASTER_KEY_FILE_ENV,
  MASTER_KEY_ID_PATTERN,
  MasterKeyRing,
  type AuditEntry,
  type DeviceInfo,
  type DeviceStatus,
  type IssuedDeviceKey,
} from '@wxseal/devices';
import { formatDuration } from './device-args.js';
import { checkDeviceOpens, guard, isoMs, isoSeconds, printJson, usageError, withRegistry, type DeviceCommonOptions, type DeviceEnv, type DeviceIo } from './device-common.js';
import { Progress } from './device-progress.js';

export { deviceImport, type DeviceImportOptions } from './device-import.js';
export { DEFAULT_DEVICE_DB, DEVICE_DB_ENV, exitCodeFor, type DeviceCommonOptions, type DeviceEnv, type DeviceIo } from './device-common.js';

const KEY_WARNING = 'store it now: it is shown only once and the CLI cannot print it again';

function checkSerial(serial: string): void {
  if (!LIMITS.idPattern.test(serial)) throw new DeviceStoreError('DEVICE_INVALID_INPUT', 'serial must be 1-64 characters of A-Z a-z 0-9 . _ : -');
}

// --- products ---------------------------------------------------------------------------------

export interface ProductCreateOptions extends DeviceCommonOptions {
  json?: boolean;
}

/** `wxseal device product create <productId>`: prints the new product secret, once. */
export function productCreate(productId: string, opts: ProductCreateOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'required', async ({ repo, change }) => {
    const secret = await repo.createProduct(productId, change);
    const text = b64uEncode(secret);
    secret.fill(0);
    if (opts.json) printJson(io, { productId, secret: text });
    else io.stdout(`product ${productId} created\nproduct secret: ${text}\n`);
    io.stderr(`wxseal device: warning: the product secret is sensitive; ${KEY_WARNING}\n`);
    return 0;
  });
}

/** `wxseal device product list`. */
export function productList(opts: DeviceCommonOptions & { json?: boolean }, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'optional', async ({ repo }) => {
    const products = await repo.listProducts();
    if (opts.json) printJson(io, { products });
    else for (const p of products) io.stdout(`${p}\n`);
    return 0;
  });
}

// --- device lifecycle ---------------------------------------------------------------------------

export interface ActivateCommandOptions extends DeviceCommonOptions {
  product: string;
  reason?: string;
  allowReactivation?: boolean;
  /** Seconds the old key stays valid when an active device is re-activated. */
  grace?: number;
  json?: boolean;
}

function issuedJson(issued: IssuedDeviceKey, key: string): Record<string, unknown> {
  return {
    serial: issued.serial,
    productId: issued.productId,
    keyVersion: issued.keyVersion,
    key,
    reactivated: issued.reactivated,
    ...(issued.previousKeyNotAfter !== undefined ? { previousKeyNotAfter: issued.previousKeyNotAfter } : {}),
  };
}

function printIssued(io: DeviceIo, issued: IssuedDeviceKey, json: boolean | undefined, headline: string): void {
  const key = b64uEncode(issued.key);
  issued.key.fill(0);
  if (json) {
    printJson(io, issuedJson(issued, key));
  } else {
    io.stdout(`${headline}\n`);
    io.stdout(`key version: ${issued.keyVersion}\n`);
    if (issued.previousKeyNotAfter !== undefined) io.stdout(`previous key valid until: ${isoSeconds(issued.previousKeyNotAfter)}\n`);
    io.stdout(`device key: ${key}\n`);
  }
  io.stderr(`wxseal device: warning: the device key is secret; ${KEY_WARNING}\n`);
}

/** `wxseal device activate <serial> --product P`: prints the device key, once. */
export function activate(serial: string, opts: ActivateCommandOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'required', async ({ repo, change }) => {
    if (opts.allowReactivation) {
      checkSerial(serial);
      await checkDeviceOpens(repo, serial);
    }
    const issued = await repo.activate(serial, opts.product, {
      ...change,
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      allowReactivation: opts.allowReactivation === true,
      graceSeconds: opts.grace ?? 0,
    });
    const verb = issued.reactivated ? 're-activated' : 'activated';
    printIssued(io, issued, opts.json, `device ${serial} ${verb} (product ${issued.productId})`);
    return 0;
  });
}

export interface RotateCommandOptions extends DeviceCommonOptions {
  /** Seconds the current key stays valid after the rotation (default 0: it stops at once). */
  grace?: number;
  reason?: string;
  json?: boolean;
}

/** `wxseal device rotate <serial> [--grace 7d]`: prints the new key, once. */
export function rotate(serial: string, opts: RotateCommandOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'required', async ({ repo, change }) => {
    const grace = opts.grace ?? 0;
    checkSerial(serial);
    await checkDeviceOpens(repo, serial);
    const issued = await repo.rotate(serial, { ...change, graceSeconds: grace, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
    const kept = grace > 0 ? `, previous key kept for ${formatDuration(grace)}` : ', previous key no longer valid';
    printIssued(io, issued, opts.json, `device ${serial} rotated${kept}`);
    return 0;
  });
}

export interface RevokeCommandOptions extends DeviceCommonOptions {
  reason: string;
  json?: boolean;
}

/** `wxseal device revoke <serial> --reason R`. */
export function revoke(serial: string, opts: RevokeCommandOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return guard(io, async () => {
    // The reason is what the audit log is for when someone asks later why a device stopped working.
    if (typeof opts.reason !== 'string' || opts.reason.trim() === '') throw usageError('revoke needs --reason');
    return withRegistry(opts, io, env, 'required', async ({ repo, change }) => {
      const info = await repo.revoke(serial, { ...change, reason: opts.reason });
      if (opts.json) printJson(io, info);
      else io.stdout(`device ${serial} revoked (key version ${info.keyVersion})\n`);
      return 0;
    });
  });
}

// --- reading ------------------------------------------------------------------------------------

function auditLine(e: AuditEntry): string {
  const parts = [isoMs(e.at), e.action.padEnd(10), e.keyVersion !== undefined ? `v${e.keyVersion}` : '-', `by ${e.actor}`];
  if (e.source !== undefined) parts.push(`from ${e.source}`);
  if (e.reason !== undefined) parts.push(`reason: ${e.reason}`);
  return `  ${parts.join('  ')}`;
}

function deviceLines(d: DeviceInfo, now: number): string[] {
  const lines = [
    `serial:       ${d.serial}`,
    `product:      ${d.productId}`,
    `status:       ${d.status}`,
    `key version:  ${d.keyVersion}`,
    `master key:   ${d.masterKeyId}`,
    `activated:    ${isoMs(d.activatedAt)}`,
  ];
  if (d.rotatedAt !== undefined) lines.push(`rotated:      ${isoMs(d.rotatedAt)}`);
  if (d.revokedAt !== undefined) lines.push(`revoked:      ${isoMs(d.revokedAt)}`);
  if (d.previousKeyNotAfter !== undefined) {
    const expired = d.previousKeyNotAfter < Math.floor(now / 1000) ? ' (expired)' : '';
    lines.push(`previous key: valid until ${isoSeconds(d.previousKeyNotAfter)}${expired}`);
  }
  lines.push(`updated:      ${isoMs(d.updatedAt)}`);
  return lines;
}

/** `wxseal device show <serial>`: metadata and audit trail, never a key. */
export function show(serial: string, opts: DeviceCommonOptions & { json?: boolean }, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'optional', async ({ repo }) => {
    checkSerial(serial);
    const device = await repo.show(serial);
    if (!device) throw new DeviceStoreError('DEVICE_NOT_FOUND', `device ${serial} does not exist`);
    const audit = await repo.audit(serial);
    if (opts.json) {
      printJson(io, { device, audit });
    } else {
      io.stdout(deviceLines(device, Date.now()).join('\n') + '\naudit:\n');
      for (const e of audit) io.stdout(auditLine(e) + '\n');
    }
    return 0;
  });
}

export interface ListCommandOptions extends DeviceCommonOptions {
  product?: string;
  status?: DeviceStatus;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

/** `wxseal device list`: one page; the cursor of the next one goes to stderr (JSON: `nextCursor`). */
export function list(opts: ListCommandOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'optional', async ({ repo }) => {
    const page = await repo.list({
      ...(opts.product !== undefined ? { productId: opts.product } : {}),
      ...(opts.status !== undefined ? { status: opts.status } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
    });
    if (opts.json) {
      printJson(io, page);
      return 0;
    }
    for (const d of page.devices) {
      io.stdout(`${d.serial}\t${d.productId}\t${d.status}\tv${d.keyVersion}\t${isoMs(d.updatedAt)}\n`);
    }
    // On stderr, so the rows on stdout stay one device per line for scripts.
    if (page.nextCursor !== undefined) io.stderr(`more devices: --cursor ${page.nextCursor}\n`);
    return 0;
  });
}

// --- master keys ----------------------------------------------------------------------------------

/** A default master key id: the date and a random suffix, so two keys made the same day differ. */
function defaultMasterKeyId(): string {
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  return `mk-${day}-${randomBytes(2).toString('hex')}`;
}

/** `wxseal device master-key generate [--id ID]`: a new `id:key` line for the ring; touches no database. */
export async function masterKeyGenerate(opts: { id?: string; json?: boolean }, io: DeviceIo): Promise<number> {
  return guard(io, async () => {
    const id = opts.id ?? defaultMasterKeyId();
    if (!MASTER_KEY_ID_PATTERN.test(id)) throw usageError('a master key id must be 1-32 characters of A-Z a-z 0-9 . _ -');
    const key = MasterKeyRing.generateKey();
    if (opts.json) printJson(io, { id, key });
    else io.stdout(`${id}:${key}\n`);
    io.stderr(
      `wxseal device: put this line FIRST in ${MASTER_KEYS_ENV} or in the ${MASTER_KEY_FILE_ENV} file (mode 0600) to make it the active key, ` +
        `keep the older keys after it, then run \`wxseal device rewrap --to ${id}\`\n`,
    );
    return 0;
  });
}

export interface RewrapCommandOptions extends DeviceCommonOptions {
  to: string;
  batch?: number;
}

/** `wxseal device rewrap --to ID`: re-encrypts every product secret and device key under that master key. */
export function rewrap(opts: RewrapCommandOptions, io: DeviceIo, env: DeviceEnv = process.env): Promise<number> {
  return withRegistry(opts, io, env, 'required', async ({ repo, db, ring, change }) => {
    if (!ring!.has(opts.to)) throw new DeviceStoreError('DEVICE_MASTER_KEY_UNKNOWN', `master key ${opts.to} is not in the ring (ids: ${ring!.ids.join(', ')})`);
    if (ring!.activeId !== opts.to) {
      io.stderr(`wxseal device: warning: the ring's active key is ${ring!.activeId}, not ${opts.to}: put ${opts.to} first on every instance, or new writes stay under ${ring!.activeId}\n`);
    }
    // The total, for the progress bar's percentage and ETA: rows not yet under the target key.
    const count = async (table: 'wxseal_products' | 'wxseal_devices'): Promise<number> => {
      const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).where('master_key_id', '<>', opts.to).executeTakeFirst();
      return Number(row?.n ?? 0);
    };
    const total = (await count('wxseal_products')) + (await count('wxseal_devices'));
    const progress = new Progress({ write: io.stderr, stream: io.progressStream }, { label: 'rewrap', total });
    let last = { value: 0, rows: 0, detail: '0 re-encrypted, 0 failed' };
    let summary: Awaited<ReturnType<typeof repo.rewrapAll>>;
    try {
      summary = await repo.rewrapAll(opts.to, {
        actor: change.actor,
        source: change.source,
        ...(opts.batch !== undefined ? { batchSize: opts.batch } : {}),
        onProgress: (p) => {
          const done = p.products + p.devices;
          last = { value: done + p.failures, rows: done + p.failures, detail: `${done} re-encrypted, ${p.failures} failed` };
          progress.update(last);
        },
      });
    } finally {
      progress.stop(last);
    }
    io.stdout(`rewrap to ${summary.masterKeyId}: ${summary.products} product secrets and ${summary.devices} devices re-encrypted, ${summary.failures.length} failed\n`);
    for (const f of summary.failures) io.stdout(`  ${f.table} ${f.id}: ${f.code}\n`);
    if (summary.failures.length > 0) {
      io.stderr('wxseal device: CLI_REWRAP_INCOMPLETE: some rows are still under an older master key: keep the older keys in the ring; run rewrap again (DEVICE_CONCURRENT_MODIFICATION) or investigate (DEVICE_KEY_DECRYPT_FAILED)\n');
      return 1;
    }
    io.stdout(`every row is under ${summary.masterKeyId}: older master keys can leave the ring once every instance runs with ${summary.masterKeyId} active\n`);
    return 0;
  });
}
