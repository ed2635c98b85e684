import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { WxsealError } from '@wxseal/protocol';
import {
  DeviceRepository,
  DeviceStoreError,
  MASTER_KEYS_ENV,
  MASTER_KEY_FILE_ENV,
  MasterKeyRing,
  isDeviceStoreError,
  migrateDeviceDatabase,
  openDeviceDatabase,
  type ChangeContext,
} from '@wxseal/devices';
import { CliError } from '../errors.js';
import { cliSource, osUser } from './device-args.js';

/** Environment variable naming the device database (overridden by --db). */
export const DEVICE_DB_ENV = 'WXSEAL_DEVICE_DB';
export const DEFAULT_DEVICE_DB = 'sqlite:./wxseal-devices.db';

export type DeviceEnv = Readonly<Record<string, string | undefined>>;

export interface DeviceIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The terminal stream progress bars are drawn on when it is a TTY (process.stderr); plain lines otherwise. */
  progressStream?: NodeJS.WriteStream | undefined;
}

/** Options every `wxseal device` command takes. */
export interface DeviceCommonOptions {
  /** Database URL; default $WXSEAL_DEVICE_DB, else sqlite:./wxseal-devices.db. */
  db?: string;
  /** Master key ring file; default $WXSEAL_DEVICE_MASTER_KEYS or $WXSEAL_DEVICE_MASTER_KEY_FILE. */
  masterKeyFile?: string;
  /** Who is recorded in the audit log; default the OS user. */
  actor?: string;
}

export type DeviceDb = ReturnType<typeof openDeviceDatabase>;

export interface Registry {
  repo: DeviceRepository;
  db: DeviceDb;
  /** The configured master keys; undefined for a read-only command run without them. */
  ring: MasterKeyRing | undefined;
  /** Actor and source of every change this command makes. */
  change: ChangeContext & { source: string };
}

// Refusals that come from what the operator typed or configured rather than from the state of
// the registry: they exit 2 like any other usage or configuration mistake.
const USAGE_CODES: ReadonlySet<string> = new Set(['DEVICE_INVALID_INPUT', 'DEVICE_MASTER_KEY_UNKNOWN', 'DEVICE_KEY_DECRYPT_FAILED']);

/** Exit code of an error a device command reports itself: 1 for a refusal, 2 for usage/config/outage; undefined for a bug. */
export function exitCodeFor(err: unknown): 1 | 2 | undefined {
  if (isDeviceStoreError(err)) return USAGE_CODES.has(err.code) ? 2 : 1;
  if (err instanceof WxsealError) return 2;
  return undefined;
}

export const usageError = (message: string): WxsealError => new WxsealError('WXSEAL_CONFIG_INVALID', message);

/** One line whatever the message holds (driver messages may span lines). */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ');

/** Runs a command body; known errors become `wxseal device: CODE: message` on stderr and an exit code. */
export async function guard(io: DeviceIo, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    const code = exitCodeFor(err);
    if (code === undefined) throw err;
    const e = err as { code: string; message: string };
    io.stderr(`wxseal device: ${e.code}: ${oneLine(e.message)}\n`);
    return code;
  }
}

function masterKeysConfigured(opts: DeviceCommonOptions, env: DeviceEnv): boolean {
  return opts.masterKeyFile !== undefined || Boolean(env[MASTER_KEYS_ENV]) || Boolean(env[MASTER_KEY_FILE_ENV]);
}

/** The master key ring from --master-key-file, else the environment; warns when the file is readable by others. */
export function loadMasterKeys(opts: DeviceCommonOptions, io: DeviceIo, env: DeviceEnv): MasterKeyRing {
  const file = opts.masterKeyFile ?? (env[MASTER_KEYS_ENV] ? undefined : env[MASTER_KEY_FILE_ENV]);
  if (file !== undefined && file !== '') {
    try {
      if ((statSync(file).mode & 0o077) !== 0) io.stderr(`wxseal device: warning: ${file} is readable by other users; chmod 600 it\n`);
    } catch {
      // unreadable: MasterKeyRing.fromFile reports it
    }
  }
  if (opts.masterKeyFile !== undefined) return MasterKeyRing.fromFile(opts.masterKeyFile);
  if (!masterKeysConfigured(opts, env)) {
    throw usageError(`no master keys: set ${MASTER_KEYS_ENV} or ${MASTER_KEY_FILE_ENV}, or give --master-key-file (see \`wxseal device master-key generate\`)`);
  }
  return MasterKeyRing.fromEnv(env);
}

/** The file of a `sqlite:` URL (as @wxseal/devices reads it); undefined for other databases and :memory:. */
function sqliteFile(url: string): string | undefined {
  if (!url.toLowerCase().startsWith('sqlite:')) return undefined;
  let rest = url.slice('sqlite:'.length);
  if (rest === ':memory:' || rest === '') return undefined;
  if (rest.startsWith('//')) rest = rest.slice(2);
  return rest;
}

/**
 * A command that only reads must not leave a new, empty registry behind (SQLite creates the file
 * on open): a missing file means the registry is somewhere else, or was never made.
 */
function requireExistingSqlite(url: string, opts: DeviceCommonOptions, env: DeviceEnv): void {
  const file = sqliteFile(url);
  if (file === undefined || existsSync(file)) return;
  const from = opts.db !== undefined ? '--db' : env[DEVICE_DB_ENV] ? `$${DEVICE_DB_ENV}` : 'the default';
  throw new CliError(
    'CLI_NOT_CONFIGURED',
    `no device registry at ${file} (${from}), and a command that only reads creates none: point --db or $${DEVICE_DB_ENV} at the registry, ` +
      `or create one with \`wxseal device product create\` (which needs the master keys: --master-key-file or $${MASTER_KEY_FILE_ENV})`,
    '--db',
  );
}

/**
 * Opens and migrates the database, runs `run`, and always closes the database. `keys: 'optional'`
 * is for commands that only read metadata: they work without the master keys.
 */
export async function withRegistry(
  opts: DeviceCommonOptions,
  io: DeviceIo,
  env: DeviceEnv,
  keys: 'required' | 'optional',
  run: (registry: Registry) => Promise<number>,
): Promise<number> {
  return guard(io, async () => {
    const ring = keys === 'required' || masterKeysConfigured(opts, env) ? loadMasterKeys(opts, io, env) : undefined;
    const actor = opts.actor ?? osUser(env);
    const url = opts.db ?? (env[DEVICE_DB_ENV] || DEFAULT_DEVICE_DB);
    if (keys === 'optional') requireExistingSqlite(url, opts, env);
    const db = openDeviceDatabase(url);
    try {
      await migrateDeviceDatabase(db);
      // Reading metadata never seals or opens anything, so a throwaway key stands in for the ring:
      // listing devices must not require the keys that decrypt them.
      const masterKeys = ring ?? new MasterKeyRing({ active: 'unused', keys: { unused: randomBytes(32) } });
      const repo = new DeviceRepository({ db, masterKeys });
      if (keys === 'required') await checkMasterKeys(db, repo, masterKeys);
      return await run({ repo, db, ring, change: { actor, source: cliSource() } });
    } finally {
      await db.destroy().catch(() => undefined);
    }
  });
}

/**
 * Refuses a ring whose keys do not open what they protect. The registry only decrypts when it
 * must, so a wrong key under a known id would otherwise be used to seal new rows that no instance
 * could read. The products table is small: one product per master key id is checked.
 */
async function checkMasterKeys(db: DeviceDb, repo: DeviceRepository, ring: MasterKeyRing): Promise<void> {
  for (const id of ring.ids) {
    const row = await db.selectFrom('wxseal_products').select('product_id').where('master_key_id', '=', id).limit(1).executeTakeFirst();
    if (row) await openable(() => repo.getProductSecret(row.product_id), id, `the secret of product ${row.product_id}`);
  }
}

/** Decrypts a device's keys before a change that seals new ones (see checkMasterKeys). */
export async function checkDeviceOpens(repo: DeviceRepository, serial: string): Promise<void> {
  await openable(() => repo.load(serial), undefined, `the key of device ${serial}`);
}

async function openable(read: () => Promise<Buffer | { currentKey: Buffer; previousKey?: Buffer } | undefined>, id: string | undefined, what: string): Promise<void> {
  try {
    const value = await read();
    if (Buffer.isBuffer(value)) value.fill(0);
    else if (value) {
      value.currentKey.fill(0);
      value.previousKey?.fill(0);
    }
  } catch (err) {
    if (isDeviceStoreError(err, 'DEVICE_KEY_DECRYPT_FAILED')) {
      throw new DeviceStoreError(
        'DEVICE_KEY_DECRYPT_FAILED',
        `${id !== undefined ? `master key ${id}` : 'the master key ring'} does not open ${what}: wrong master key for this database; nothing was changed`,
      );
    }
    throw err;
  }
}

/** Unix ms as an ISO 8601 UTC time. */
export const isoMs = (ms: number): string => new Date(ms).toISOString();
/** Unix seconds as an ISO 8601 UTC time. */
export const isoSeconds = (s: number): string => new Date(s * 1000).toISOString();

/** A JSON document on one line of stdout. */
export function printJson(io: DeviceIo, value: unknown): void {
  io.stdout(JSON.stringify(value) + '\n');
}
