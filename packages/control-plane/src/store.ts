/**
 * The control plane's state in SQL: what the admin API, the CLI and SIGHUP change (client secrets,
 * server keys, admin users) and what a fleet shares (sessions, login failures, the audit log,
 * heartbeats). Every change to the first group writes a row of `wxseal_cp_changes` in the same
 * transaction, so an instance that sees the changes table grow knows its view is old; the others
 * are read on demand and are not changes.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { MasterKeyRing, SealContext, SealPurpose } from '@wxseal/devices';
import { sm2PrivateKeyFromDer, sm2PrivateKeyToDer, sm2PublicKeyFromPem, sm2PublicKeyFromPrivate, sm2PublicKeyToPem } from '@wxseal/gm';
import { dialectOf, type ControlPlaneDialect } from './database.js';
import { ControlPlaneError, invalidInput, isUniqueViolation, toStoreError } from './errors.js';
import { CP_TABLES as T, toInt, toIntOrUndefined, type ChangeKind, type ControlPlaneDatabase } from './schema.js';

export interface AddedSecret {
  secretId: string;
  /** undefined once retired (the ciphertext is wiped then). */
  secret: Uint8Array | undefined;
  createdAt: number;
  retiredAt: number | undefined;
}

/**
 * An SM2 server key (the SM suite, SPEC.md 6.6): Node's OpenSSL cannot encrypt with SM2, so such a
 * key is not a KeyObject but its scalar in hex, used through @wxseal/gm (the shape @wxseal/server's
 * Sm2PrivateKeyInput has).
 */
export interface Sm2ServerKey {
  readonly type: 'sm2';
  /** The 32-byte private scalar, 64 lowercase hex digits. */
  readonly privateKeyHex: string;
}

/** A server private key as the store keeps it: RSA or X25519 as a KeyObject, SM2 as its scalar. */
export type ServerKeyMaterial = KeyObject | Sm2ServerKey;

export function isSm2ServerKey(key: ServerKeyMaterial): key is Sm2ServerKey {
  return (key as Sm2ServerKey).type === 'sm2' && typeof (key as Sm2ServerKey).privateKeyHex === 'string';
}

/** Whether an SPKI PEM holds an SM2 public key (id-ecPublicKey on the curve 1.2.156.10197.1.301). */
export function isSm2PublicKeyPem(pem: string): boolean {
  try {
    sm2PublicKeyFromPem(pem);
    return true;
  } catch {
    return false;
  }
}

export interface AddedServerKey {
  kid: string;
  /** undefined once retired (the ciphertext is wiped then). */
  privateKey: ServerKeyMaterial | undefined;
  publicKeyPem: string;
  createdAt: number;
  retiredAt: number | undefined;
}

export interface ClientOverlay {
  /** Secrets added through the admin API or the CLI, oldest first, retired ones included. */
  readonly added: readonly AddedSecret[];
  /** Ids of config secrets retired (configSecretId of the gateway: the config id, else a fingerprint). */
  readonly retiredConfigSecretIds: ReadonlySet<string>;
}

export interface CredentialOverlay {
  /** The change version this overlay reflects (MAX(seq) read in the same transaction/snapshot). */
  readonly version: number;
  /** Number of change rows in that snapshot (with `version`, what the sync compares). */
  readonly changeCount?: number;
  readonly clients: ReadonlyMap<string, ClientOverlay>;
  readonly serverKeys: {
    readonly added: readonly AddedServerKey[];
    readonly retiredConfigKids: ReadonlySet<string>;
    /** The kid chosen as active (rotation or setActiveServerKey), if any. */
    readonly active: string | undefined;
  };
}

export interface AuditEntryInput {
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: 'ok' | 'refused' | 'failed';
  client: string;
  detail?: Record<string, unknown>;
}

/** An audit entry as the gateway's admin API returns it, plus the instance that wrote it. */
export interface AuditRow {
  id: number;
  /** ISO 8601. */
  at: string;
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: 'ok' | 'refused' | 'failed';
  client: string;
  detail?: Record<string, unknown>;
  instance: string;
}

export interface AuditQuery {
  /** Entries with an id below this one (the nextCursor of the previous page). */
  before?: number;
  /** 1 to 1000. */
  limit: number;
  actor?: string;
  action?: string;
}

export interface InstanceRow {
  instanceId: string;
  startedAt: number;
  heartbeatAt: number;
  version: number;
  stalenessMs: number;
  stats: unknown;
}

export interface Heartbeat {
  instanceId: string;
  startedAt: number;
  version: number;
  stalenessMs: number;
  /** Anything JSON can hold, at most 1 MiB once serialized. */
  stats: unknown;
}

/** Announces a committed change to the other instances (e.g. redisChangeNotifier). */
export interface ChangeNotifier {
  notify(version: number): Promise<void>;
  close(): Promise<void>;
}

export interface ControlPlaneStoreOptions {
  db: Kysely<ControlPlaneDatabase>;
  masterKeys: MasterKeyRing;
  now: () => number;
  /** Written as `origin` of changes and `instance_id` of audit rows (the instance id, or 'cli'). */
  origin: string;
  notifier?: ChangeNotifier;
  /**
   * PostgreSQL only: also `pg_notify(channel, seq)` inside each change's transaction (delivered at
   * commit), for the syncs that LISTEN on it (ControlPlaneSyncOptions.postgresNotify).
   */
  postgresNotifyChannel?: string;
  /** How long login failures are kept (ms, default 24 h); older rows are deleted as new ones come. */
  loginFailureRetentionMs?: number;
}

/** Ids (key ids, secret ids, kids, users, instance ids, clients): printable ASCII without spaces. */
const ID = /^[\x21-\x7e]{1,128}$/;
const ACTIVE_SERVER_KEY = 'active_server_key';
const MAX_SECRET_BYTES = 1024;
const MAX_DETAIL_CHARS = 64 * 1024;
const MAX_STATS_CHARS = 1024 * 1024;
export const PG_CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ID.test(value)) return invalidInput(`${what} must be 1-128 printable ASCII characters without spaces`);
  return value;
}

function checkText(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) return invalidInput(`${what} must be 1-${max} characters`);
  return value;
}

function checkTime(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return invalidInput(`${what} must be a non-negative integer (Unix ms)`);
  return value;
}

/** Audit text is a log: too long is cut rather than refused (an audit write must not fail on it). */
const clip = (value: string, max: number): string => (value.length > max ? `${value.slice(0, max - 1)}…` : value);

// The ring's SealPurpose names the device registry's purposes; the AAD is plain text, so the
// control plane's own purposes are distinct values of the same field.
const purpose = (name: 'client-secret' | 'server-key'): SealPurpose => name as unknown as SealPurpose;
const secretContext = (keyId: string, secretId: string): SealContext => ({ purpose: purpose('client-secret'), subject: `${keyId} ${secretId}`, version: 1 });
const serverKeyContext = (kid: string): SealContext => ({ purpose: purpose('server-key'), subject: kid, version: 1 });

export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Reads (COUNT(*), MAX(seq)) of the changes table: the pair a version check compares. */
export async function readChangeVersion(db: Kysely<ControlPlaneDatabase>): Promise<{ count: number; version: number }> {
  const row = await db
    .selectFrom(T.changes)
    .select((eb) => [eb.fn.countAll<number | string | bigint>().as('n'), eb.fn.max<number | string | bigint | null>('seq').as('v')])
    .executeTakeFirst();
  return { count: row ? toInt(row.n) : 0, version: toIntOrUndefined(row?.v) ?? 0 };
}

export class ControlPlaneStore {
  readonly origin: string;
  readonly #db: Kysely<ControlPlaneDatabase>;
  readonly #ring: MasterKeyRing;
  readonly #now: () => number;
  readonly #notifier: ChangeNotifier | undefined;
  readonly #pgChannel: string | undefined;
  readonly #dialect: ControlPlaneDialect;
  readonly #retentionMs: number;

  constructor(options: ControlPlaneStoreOptions) {
    this.#db = options.db;
    this.#ring = options.masterKeys;
    this.#now = options.now;
    this.origin = checkId(options.origin, 'origin');
    this.#notifier = options.notifier;
    this.#dialect = dialectOf(options.db);
    if (options.postgresNotifyChannel !== undefined) {
      if (this.#dialect !== 'postgres') invalidInput('postgresNotifyChannel is for PostgreSQL only');
      if (!PG_CHANNEL_PATTERN.test(options.postgresNotifyChannel)) invalidInput('a PostgreSQL channel is 1-63 lowercase letters, digits and _');
      this.#pgChannel = options.postgresNotifyChannel;
    }
    this.#retentionMs = options.loginFailureRetentionMs ?? 24 * 3_600_000;
    if (!Number.isSafeInteger(this.#retentionMs) || this.#retentionMs <= 0) invalidInput('loginFailureRetentionMs must be a positive integer');
  }

  /** MAX(seq) of the changes table (0 when empty). */
  async version(): Promise<number> {
    try {
      return (await readChangeVersion(this.#db)).version;
    } catch (err) {
      throw toStoreError('cannot read the change version', err);
    }
  }

  // --- credentials overlay ----------------------------------------------------------------------

  /**
   * Everything the gateway overlays on its config, read in one snapshot (REPEATABLE READ on
   * PostgreSQL and MariaDB, one read transaction on SQLite) with the change version of that
   * snapshot. A ciphertext that does not open rejects (DEVICE_KEY_DECRYPT_FAILED or
   * DEVICE_MASTER_KEY_UNKNOWN): better no new view than a partial one.
   */
  async loadOverlay(): Promise<CredentialOverlay> {
    let rows;
    try {
      let trx = this.#db.transaction();
      if (this.#dialect !== 'sqlite') trx = trx.setIsolationLevel('repeatable read');
      rows = await trx.execute(async (t) => {
        // The version first: on MariaDB the snapshot starts with the first read.
        const version = await readChangeVersion(t);
        const secrets = await t.selectFrom(T.clientSecrets).selectAll().orderBy('key_id').orderBy('created_at').orderBy('secret_id').execute();
        const keys = await t.selectFrom(T.serverKeys).selectAll().orderBy('created_at').orderBy('kid').execute();
        const active = await t.selectFrom(T.settings).select('value').where('name', '=', ACTIVE_SERVER_KEY).executeTakeFirst();
        return { version, secrets, keys, active: active?.value };
      });
    } catch (err) {
      throw toStoreError('cannot read the credentials', err);
    }
    const clients = new Map<string, { added: AddedSecret[]; retiredConfigSecretIds: Set<string> }>();
    for (const r of rows.secrets) {
      let entry = clients.get(r.key_id);
      if (!entry) clients.set(r.key_id, (entry = { added: [], retiredConfigSecretIds: new Set() }));
      if (r.source === 'config-retired') {
        entry.retiredConfigSecretIds.add(r.secret_id);
        continue;
      }
      const retiredAt = toIntOrUndefined(r.retired_at);
      const secret =
        retiredAt === undefined && r.secret_ct !== null && r.master_key_id !== null ? new Uint8Array(this.#ring.open(r.master_key_id, r.secret_ct, secretContext(r.key_id, r.secret_id))) : undefined;
      entry.added.push({ secretId: r.secret_id, secret, createdAt: toInt(r.created_at), retiredAt });
    }
    const added: AddedServerKey[] = [];
    const retiredConfigKids = new Set<string>();
    for (const r of rows.keys) {
      if (r.source === 'config-retired') {
        retiredConfigKids.add(r.kid);
        continue;
      }
      const retiredAt = toIntOrUndefined(r.retired_at);
      let privateKey: ServerKeyMaterial | undefined;
      if (retiredAt === undefined && r.private_key_ct !== null && r.master_key_id !== null) {
        const der = this.#ring.open(r.master_key_id, r.private_key_ct, serverKeyContext(r.kid));
        try {
          // PKCS#8 DER for every type; an SM2 key is told by its stored public key.
          privateKey = r.public_key_pem !== null && isSm2PublicKeyPem(r.public_key_pem) ? { type: 'sm2', privateKeyHex: sm2PrivateKeyFromDer(der) } : createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        } finally {
          der.fill(0);
        }
      }
      added.push({ kid: r.kid, privateKey, publicKeyPem: r.public_key_pem ?? '', createdAt: toInt(r.created_at), retiredAt });
    }
    return {
      version: rows.version.version,
      changeCount: rows.version.count,
      clients,
      serverKeys: { added, retiredConfigKids, active: rows.active },
    };
  }

  /** Stores a secret added to a client credential (sealed under the master key ring). */
  async addSecret(keyId: string, secretId: string, secret: Uint8Array): Promise<void> {
    checkId(keyId, 'keyId');
    checkId(secretId, 'secretId');
    if (!(secret instanceof Uint8Array) || secret.length === 0 || secret.length > MAX_SECRET_BYTES) invalidInput(`a secret is 1-${MAX_SECRET_BYTES} bytes`);
    const masterKeyId = this.#ring.activeId;
    const ct = this.#ring.seal(secret, secretContext(keyId, secretId), masterKeyId);
    await this.#change(`cannot add secret ${secretId} to ${keyId}`, 'credentials', keyId, async (trx) => {
      try {
        await trx
          .insertInto(T.clientSecrets)
          .values({ key_id: keyId, secret_id: secretId, source: 'admin', secret_ct: ct, master_key_id: masterKeyId, created_at: this.#now(), retired_at: null })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ControlPlaneError('CONTROL_CONFLICT', `${keyId} already has a secret ${secretId}`, { cause: err });
        throw err;
      }
    });
  }

  /** Retires a secret added through the admin API or the CLI; its ciphertext is wiped. */
  async retireAddedSecret(keyId: string, secretId: string): Promise<void> {
    checkId(keyId, 'keyId');
    checkId(secretId, 'secretId');
    await this.#change(`cannot retire secret ${secretId} of ${keyId}`, 'credentials', keyId, async (trx) => {
      const result = await trx
        .updateTable(T.clientSecrets)
        .set({ secret_ct: null, master_key_id: null, retired_at: this.#now() })
        .where('key_id', '=', keyId)
        .where('secret_id', '=', secretId)
        .where('source', '=', 'admin')
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) return;
      const row = await trx.selectFrom(T.clientSecrets).select(['source']).where('key_id', '=', keyId).where('secret_id', '=', secretId).executeTakeFirst();
      if (!row || row.source !== 'admin') throw new ControlPlaneError('CONTROL_NOT_FOUND', `${keyId} has no added secret ${secretId}`);
      throw new ControlPlaneError('CONTROL_CONFLICT', `secret ${secretId} is already retired`);
    });
  }

  /** Records the retirement of a secret of the config (by the id the gateway shows for it). */
  async retireConfigSecret(keyId: string, secretId: string): Promise<void> {
    checkId(keyId, 'keyId');
    checkId(secretId, 'secretId');
    await this.#change(`cannot retire secret ${secretId} of ${keyId}`, 'credentials', keyId, async (trx) => {
      const now = this.#now();
      try {
        await trx
          .insertInto(T.clientSecrets)
          .values({ key_id: keyId, secret_id: secretId, source: 'config-retired', secret_ct: null, master_key_id: null, created_at: now, retired_at: now })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ControlPlaneError('CONTROL_CONFLICT', `secret ${secretId} of ${keyId} is already retired (or is an added secret)`, { cause: err });
        throw err;
      }
    });
  }

  /**
   * Stores a server key (its private key sealed as PKCS#8 DER, SM2 keys too), optionally making it
   * the active one.
   */
  async addServerKey(kid: string, privateKey: ServerKeyMaterial, options: { makeActive: boolean }): Promise<void> {
    checkId(kid, 'kid');
    let der: Buffer;
    let publicKeyPem: string;
    if (privateKey && typeof privateKey === 'object' && isSm2ServerKey(privateKey)) {
      let publicKeyHex: string;
      try {
        publicKeyHex = sm2PublicKeyFromPrivate(privateKey.privateKeyHex);
      } catch {
        return invalidInput('addServerKey: the SM2 private key is not a valid scalar');
      }
      der = sm2PrivateKeyToDer(privateKey.privateKeyHex);
      publicKeyPem = sm2PublicKeyToPem(publicKeyHex);
    } else {
      if (!privateKey || typeof privateKey !== 'object' || (privateKey as KeyObject).type !== 'private') invalidInput('addServerKey needs a private KeyObject or an SM2 key');
      const key = privateKey as KeyObject;
      der = key.export({ type: 'pkcs8', format: 'der' });
      publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    }
    const masterKeyId = this.#ring.activeId;
    let ct: Buffer;
    try {
      ct = this.#ring.seal(der, serverKeyContext(kid), masterKeyId);
    } finally {
      der.fill(0);
    }
    await this.#change(`cannot add server key ${kid}`, 'server-keys', kid, async (trx) => {
      try {
        await trx
          .insertInto(T.serverKeys)
          .values({ kid, source: 'admin', private_key_ct: ct, master_key_id: masterKeyId, public_key_pem: publicKeyPem, created_at: this.#now(), retired_at: null })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ControlPlaneError('CONTROL_CONFLICT', `server key ${kid} already exists (or was retired)`, { cause: err });
        throw err;
      }
      if (options.makeActive) await this.#setActive(trx, kid);
    });
  }

  /** Retires a server key added through the admin API or the CLI; its private key ciphertext is wiped. */
  async retireAddedServerKey(kid: string): Promise<void> {
    checkId(kid, 'kid');
    await this.#change(`cannot retire server key ${kid}`, 'server-keys', kid, async (trx) => {
      await this.#refuseActive(trx, kid);
      const result = await trx
        .updateTable(T.serverKeys)
        .set({ private_key_ct: null, master_key_id: null, retired_at: this.#now() })
        .where('kid', '=', kid)
        .where('source', '=', 'admin')
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) return;
      const row = await trx.selectFrom(T.serverKeys).select(['source']).where('kid', '=', kid).executeTakeFirst();
      if (!row || row.source !== 'admin') throw new ControlPlaneError('CONTROL_NOT_FOUND', `no added server key ${kid}`);
      throw new ControlPlaneError('CONTROL_CONFLICT', `server key ${kid} is already retired`);
    });
  }

  /** Records the retirement of a server key of the config. */
  async retireConfigServerKey(kid: string): Promise<void> {
    checkId(kid, 'kid');
    await this.#change(`cannot retire server key ${kid}`, 'server-keys', kid, async (trx) => {
      await this.#refuseActive(trx, kid);
      const now = this.#now();
      try {
        await trx
          .insertInto(T.serverKeys)
          .values({ kid, source: 'config-retired', private_key_ct: null, master_key_id: null, public_key_pem: null, created_at: now, retired_at: now })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ControlPlaneError('CONTROL_CONFLICT', `server key ${kid} is already retired (or is an added key)`, { cause: err });
        throw err;
      }
    });
  }

  /** Makes `kid` the active server key (refused for a key the store knows as retired). */
  async setActiveServerKey(kid: string): Promise<void> {
    checkId(kid, 'kid');
    await this.#change(`cannot make ${kid} the active server key`, 'server-keys', kid, async (trx) => {
      const row = await trx.selectFrom(T.serverKeys).select(['retired_at']).where('kid', '=', kid).executeTakeFirst();
      if (row && row.retired_at !== null) throw new ControlPlaneError('CONTROL_CONFLICT', `server key ${kid} is retired`);
      await this.#setActive(trx, kid);
    });
  }

  async #refuseActive(trx: Transaction<ControlPlaneDatabase>, kid: string): Promise<void> {
    const active = await trx.selectFrom(T.settings).select('value').where('name', '=', ACTIVE_SERVER_KEY).executeTakeFirst();
    if (active?.value === kid) throw new ControlPlaneError('CONTROL_CONFLICT', `server key ${kid} is the active key; rotate first`);
  }

  async #setActive(trx: Transaction<ControlPlaneDatabase>, kid: string): Promise<void> {
    await this.#upsertSetting(trx, ACTIVE_SERVER_KEY, kid);
  }

  async #upsertSetting(trx: Transaction<ControlPlaneDatabase>, name: string, value: string): Promise<void> {
    const insert = trx.insertInto(T.settings).values({ name, value });
    if (this.#dialect === 'mysql') await insert.onDuplicateKeyUpdate({ value }).execute();
    else await insert.onConflict((oc) => oc.column('name').doUpdateSet({ value })).execute();
  }

  /**
   * Re-seals every secret and private key that is not under the ring's active master key (the
   * second step of a master key rotation: make the new key active everywhere, rewrap, then drop the
   * old key). Not a change: what the overlay holds is the same. Each row is updated only if no one
   * rewrapped or retired it meanwhile. Resolves with the number of rows rewrapped.
   */
  async rewrapAll(): Promise<{ rewrapped: number }> {
    const active = this.#ring.activeId;
    let rewrapped = 0;
    try {
      const secrets = await this.#db
        .selectFrom(T.clientSecrets)
        .select(['key_id', 'secret_id', 'secret_ct', 'master_key_id'])
        .where('master_key_id', 'is not', null)
        .where('master_key_id', '<>', active)
        .execute();
      for (const r of secrets) {
        if (r.secret_ct === null || r.master_key_id === null) continue;
        const context = secretContext(r.key_id, r.secret_id);
        const plain = this.#ring.open(r.master_key_id, r.secret_ct, context);
        const ct = this.#ring.seal(plain, context, active);
        plain.fill(0);
        const result = await this.#db
          .updateTable(T.clientSecrets)
          .set({ secret_ct: ct, master_key_id: active })
          .where('key_id', '=', r.key_id)
          .where('secret_id', '=', r.secret_id)
          .where('master_key_id', '=', r.master_key_id)
          .executeTakeFirst();
        rewrapped += Number(result.numUpdatedRows);
      }
      const keys = await this.#db.selectFrom(T.serverKeys).select(['kid', 'private_key_ct', 'master_key_id']).where('master_key_id', 'is not', null).where('master_key_id', '<>', active).execute();
      for (const r of keys) {
        if (r.private_key_ct === null || r.master_key_id === null) continue;
        const context = serverKeyContext(r.kid);
        const plain = this.#ring.open(r.master_key_id, r.private_key_ct, context);
        const ct = this.#ring.seal(plain, context, active);
        plain.fill(0);
        const result = await this.#db
          .updateTable(T.serverKeys)
          .set({ private_key_ct: ct, master_key_id: active })
          .where('kid', '=', r.kid)
          .where('master_key_id', '=', r.master_key_id)
          .executeTakeFirst();
        rewrapped += Number(result.numUpdatedRows);
      }
    } catch (err) {
      throw toStoreError('cannot rewrap the control-plane secrets', err);
    }
    return { rewrapped };
  }

  // --- admin users ------------------------------------------------------------------------------

  readonly users = {
    /**
     * Makes the stored config users match `users` (the admin section of the config): new ones are
     * added, changed hashes replaced, config users no longer listed disabled, listed ones enabled.
     * Writes a change only when something changed, so N instances starting with the same config
     * leave the version alone.
     */
    seed: async (users: readonly { user: string; passwordHash: string }[]): Promise<void> => {
      const wanted = new Map<string, string>();
      for (const u of users) wanted.set(checkId(u.user, 'user'), checkText(u.passwordHash, 'passwordHash', 512));
      await this.#change(
        'cannot seed the admin users',
        'admin-users',
        null,
        async (trx) => {
          const now = this.#now();
          const rows = await trx.selectFrom(T.adminUsers).selectAll().execute();
          const existing = new Map(rows.map((r) => [r.user, r]));
          let changed = false;
          for (const [user, hash] of wanted) {
            const row = existing.get(user);
            if (!row) {
              await trx.insertInto(T.adminUsers).values({ user, password_hash: hash, source: 'config', created_at: now, disabled_at: null }).execute();
              changed = true;
            } else if (row.source === 'config' && (row.password_hash !== hash || row.disabled_at !== null)) {
              await trx.updateTable(T.adminUsers).set({ password_hash: hash, disabled_at: null }).where('user', '=', user).execute();
              changed = true;
            }
          }
          for (const row of rows) {
            if (row.source === 'config' && row.disabled_at === null && !wanted.has(row.user)) {
              await trx.updateTable(T.adminUsers).set({ disabled_at: now }).where('user', '=', row.user).execute();
              changed = true;
            }
          }
          return changed;
        },
        (changed) => changed,
      );
    },
    /** The enabled user of this name, with its password hash; undefined when unknown or disabled. */
    get: async (user: string): Promise<{ user: string; passwordHash: string } | undefined> => {
      if (typeof user !== 'string' || !ID.test(user)) return undefined;
      try {
        const row = await this.#db.selectFrom(T.adminUsers).select(['user', 'password_hash']).where('user', '=', user).where('disabled_at', 'is', null).executeTakeFirst();
        return row ? { user: row.user, passwordHash: row.password_hash } : undefined;
      } catch (err) {
        throw toStoreError('cannot read the admin users', err);
      }
    },
    /** Every user, enabled or not (no hashes). */
    list: async (): Promise<{ user: string; source: 'config' | 'admin'; createdAt: number; disabledAt: number | undefined }[]> => {
      try {
        const rows = await this.#db.selectFrom(T.adminUsers).select(['user', 'source', 'created_at', 'disabled_at']).orderBy('user').execute();
        return rows.map((r) => ({ user: r.user, source: r.source, createdAt: toInt(r.created_at), disabledAt: toIntOrUndefined(r.disabled_at) }));
      } catch (err) {
        throw toStoreError('cannot read the admin users', err);
      }
    },
  };

  // --- sessions (not changes: read on demand) ---------------------------------------------------

  readonly sessions = {
    /** Stores a session under the SHA-256 of its token (the token itself is never stored). */
    create: async (s: { token: string; user: string; csrf: string; expiresAt: number }): Promise<void> => {
      const idHash = tokenHash(checkText(s.token, 'token', 512));
      checkId(s.user, 'user');
      checkText(s.csrf, 'csrf', 128);
      checkTime(s.expiresAt, 'expiresAt');
      try {
        await this.#db.insertInto(T.adminSessions).values({ id_hash: idHash, user: s.user, csrf: s.csrf, created_at: this.#now(), expires_at: s.expiresAt }).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ControlPlaneError('CONTROL_CONFLICT', 'a session with this token exists', { cause: err });
        throw toStoreError('cannot store the session', err);
      }
    },
    /** The live session of this token; undefined when unknown or expired. Compare its csrf in constant time. */
    get: async (token: string): Promise<{ user: string; csrf: string; expiresAt: number } | undefined> => {
      if (typeof token !== 'string' || token.length === 0 || token.length > 512) return undefined;
      try {
        const row = await this.#db
          .selectFrom(T.adminSessions)
          .select(['user', 'csrf', 'expires_at'])
          .where('id_hash', '=', tokenHash(token))
          .where('expires_at', '>', this.#now())
          .executeTakeFirst();
        return row ? { user: row.user, csrf: row.csrf, expiresAt: toInt(row.expires_at) } : undefined;
      } catch (err) {
        throw toStoreError('cannot read the session', err);
      }
    },
    /** Pushes a live session's expiry (idle expiry); false when it is unknown or already expired. */
    touch: async (token: string, expiresAt: number): Promise<boolean> => {
      checkTime(expiresAt, 'expiresAt');
      if (typeof token !== 'string' || token.length === 0 || token.length > 512) return false;
      try {
        const result = await this.#db
          .updateTable(T.adminSessions)
          .set({ expires_at: expiresAt })
          .where('id_hash', '=', tokenHash(token))
          .where('expires_at', '>', this.#now())
          .executeTakeFirst();
        return Number(result.numUpdatedRows) > 0;
      } catch (err) {
        throw toStoreError('cannot update the session', err);
      }
    },
    delete: async (token: string): Promise<void> => {
      if (typeof token !== 'string' || token.length === 0 || token.length > 512) return;
      try {
        await this.#db.deleteFrom(T.adminSessions).where('id_hash', '=', tokenHash(token)).execute();
      } catch (err) {
        throw toStoreError('cannot delete the session', err);
      }
    },
    /** Deletes the expired sessions; resolves with how many. */
    prune: async (): Promise<number> => {
      try {
        const result = await this.#db.deleteFrom(T.adminSessions).where('expires_at', '<=', this.#now()).executeTakeFirst();
        return Number(result.numDeletedRows);
      } catch (err) {
        throw toStoreError('cannot prune the sessions', err);
      }
    },
  };

  // --- login failures (shared rate limit; not changes) ------------------------------------------

  readonly loginFailures = {
    /** Failures of this client within the last `windowMs`, fleet-wide. */
    count: async (client: string, windowMs: number): Promise<number> => (await this.loginFailures.window(client, windowMs)).count,
    /** The same count and the time of the oldest failure in the window (for a Retry-After). */
    window: async (client: string, windowMs: number): Promise<{ count: number; oldestAt: number | undefined }> => {
      checkId(client, 'client');
      checkTime(windowMs, 'windowMs');
      try {
        const row = await this.#db
          .selectFrom(T.loginFailures)
          .select((eb) => [eb.fn.countAll<number | string | bigint>().as('n'), eb.fn.min<number | string | bigint | null>('at').as('oldest')])
          .where('client', '=', client)
          .where('at', '>', this.#now() - windowMs)
          .executeTakeFirst();
        return { count: row ? toInt(row.n) : 0, oldestAt: toIntOrUndefined(row?.oldest) };
      } catch (err) {
        throw toStoreError('cannot count the login failures', err);
      }
    },
    /** Records one failure now; rows older than the retention are deleted on the way. */
    record: async (client: string): Promise<void> => {
      checkId(client, 'client');
      const now = this.#now();
      try {
        await this.#db.insertInto(T.loginFailures).values({ client, at: now }).execute();
        await this.#db.deleteFrom(T.loginFailures).where('at', '<', now - this.#retentionMs).execute();
      } catch (err) {
        throw toStoreError('cannot record the login failure', err);
      }
    },
    /** Forgets the failures of a client (after a successful login). */
    clear: async (client: string): Promise<void> => {
      checkId(client, 'client');
      try {
        await this.#db.deleteFrom(T.loginFailures).where('client', '=', client).execute();
      } catch (err) {
        throw toStoreError('cannot clear the login failures', err);
      }
    },
  };

  // --- audit log (one for the fleet; not changes) -----------------------------------------------

  readonly audit = {
    /**
     * Appends an entry written by this origin; resolves with its id. Never pass a secret, password
     * or token. Over-long text is cut, not refused, and a detail over 64 KiB of JSON is replaced by
     * `{ "truncated": true }`.
     */
    append: async (entry: AuditEntryInput): Promise<number> => {
      if (!['ok', 'refused', 'failed'].includes(entry.outcome)) invalidInput('outcome must be ok, refused or failed');
      let detail: string | null = null;
      if (entry.detail !== undefined && Object.keys(entry.detail).length > 0) {
        detail = JSON.stringify(entry.detail);
        if (detail.length > MAX_DETAIL_CHARS) detail = JSON.stringify({ truncated: true });
      }
      const values = {
        at: this.#now(),
        actor: clip(checkText(entry.actor, 'actor', 100_000), 128),
        action: clip(checkText(entry.action, 'action', 100_000), 64),
        target: entry.target === undefined ? null : clip(entry.target, 256),
        reason: entry.reason === undefined ? null : clip(entry.reason, 1024),
        outcome: entry.outcome,
        client: clip(typeof entry.client === 'string' ? entry.client : '', 128),
        detail_json: detail,
        instance_id: this.origin,
      };
      try {
        return await this.#insertReturningId(T.audit, values);
      } catch (err) {
        throw toStoreError('cannot append to the audit log', err);
      }
    },
    /** Newest first; `nextCursor` is the `before` of the next page, undefined on the last one. */
    query: async (q: AuditQuery): Promise<{ entries: AuditRow[]; nextCursor: number | undefined }> => {
      if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > 1000) invalidInput('limit must be an integer from 1 to 1000');
      if (q.before !== undefined && (!Number.isSafeInteger(q.before) || q.before < 0)) invalidInput('before must be a non-negative integer');
      let query = this.#db.selectFrom(T.audit).selectAll();
      if (q.before !== undefined) query = query.where('id', '<', q.before);
      if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
      if (q.action !== undefined) query = query.where('action', '=', q.action);
      let rows;
      try {
        rows = await query.orderBy('id', 'desc').limit(q.limit + 1).execute();
      } catch (err) {
        throw toStoreError('cannot read the audit log', err);
      }
      const more = rows.length > q.limit;
      const entries = rows.slice(0, q.limit).map((r): AuditRow => {
        const row: AuditRow = {
          id: toInt(r.id),
          at: new Date(toInt(r.at)).toISOString(),
          actor: r.actor,
          action: r.action,
          outcome: r.outcome,
          client: r.client,
          instance: r.instance_id,
        };
        if (r.target !== null) row.target = r.target;
        if (r.reason !== null) row.reason = r.reason;
        if (r.detail_json !== null) {
          try {
            row.detail = JSON.parse(r.detail_json) as Record<string, unknown>;
          } catch {
            row.detail = { unreadable: true };
          }
        }
        return row;
      });
      return { entries, nextCursor: more ? entries[entries.length - 1]?.id : undefined };
    },
  };

  // --- instances (fleet view; not changes) ------------------------------------------------------

  readonly instances = {
    /** Inserts or replaces this instance's row, stamped now. */
    heartbeat: async (h: Heartbeat): Promise<void> => {
      checkId(h.instanceId, 'instanceId');
      checkTime(h.startedAt, 'startedAt');
      checkTime(h.version, 'version');
      if (!Number.isSafeInteger(h.stalenessMs) || h.stalenessMs < -1) invalidInput('stalenessMs must be an integer ≥ -1 (-1: never confirmed)');
      const stats = h.stats === undefined ? null : JSON.stringify(h.stats);
      if (stats !== null && stats.length > MAX_STATS_CHARS) invalidInput('heartbeat stats must be at most 1 MiB of JSON');
      const now = this.#now();
      const values = { instance_id: h.instanceId, started_at: h.startedAt, heartbeat_at: now, version: h.version, staleness_ms: h.stalenessMs, stats_json: stats };
      const update = { started_at: h.startedAt, heartbeat_at: now, version: h.version, staleness_ms: h.stalenessMs, stats_json: stats };
      try {
        const insert = this.#db.insertInto(T.instances).values(values);
        if (this.#dialect === 'mysql') await insert.onDuplicateKeyUpdate(update).execute();
        else await insert.onConflict((oc) => oc.column('instance_id').doUpdateSet(update)).execute();
      } catch (err) {
        throw toStoreError('cannot write the heartbeat', err);
      }
    },
    /** The instances whose last heartbeat is at most `maxAgeMs` old, by id. */
    list: async (maxAgeMs: number): Promise<InstanceRow[]> => {
      checkTime(maxAgeMs, 'maxAgeMs');
      let rows;
      try {
        rows = await this.#db
          .selectFrom(T.instances)
          .selectAll()
          .where('heartbeat_at', '>=', this.#now() - maxAgeMs)
          .orderBy('instance_id')
          .execute();
      } catch (err) {
        throw toStoreError('cannot read the instances', err);
      }
      return rows.map((r) => {
        let stats: unknown;
        try {
          stats = r.stats_json === null ? undefined : JSON.parse(r.stats_json);
        } catch {
          stats = undefined;
        }
        return {
          instanceId: r.instance_id,
          startedAt: toInt(r.started_at),
          heartbeatAt: toInt(r.heartbeat_at),
          version: toInt(r.version),
          stalenessMs: toInt(r.staleness_ms),
          stats,
        };
      });
    },
    remove: async (instanceId: string): Promise<void> => {
      checkId(instanceId, 'instanceId');
      try {
        await this.#db.deleteFrom(T.instances).where('instance_id', '=', instanceId).execute();
      } catch (err) {
        throw toStoreError('cannot remove the instance', err);
      }
    },
    /** Deletes the rows of instances silent for more than `maxAgeMs`; resolves with how many. */
    prune: async (maxAgeMs: number): Promise<number> => {
      checkTime(maxAgeMs, 'maxAgeMs');
      try {
        const result = await this.#db.deleteFrom(T.instances).where('heartbeat_at', '<', this.#now() - maxAgeMs).executeTakeFirst();
        return Number(result.numDeletedRows);
      } catch (err) {
        throw toStoreError('cannot prune the instances', err);
      }
    },
  };

  // --- the change machinery ---------------------------------------------------------------------

  /**
   * Runs `fn` and writes its change row in one transaction (plus pg_notify, delivered at commit),
   * then tells the notifier. `wrote` says whether fn changed anything (default: always). A notifier
   * failure is not the mutation's: the version check of every instance catches what was not announced.
   */
  async #change<R>(what: string, kind: ChangeKind, subject: string | null, fn: (trx: Transaction<ControlPlaneDatabase>) => Promise<R>, wrote: (result: R) => boolean = () => true): Promise<R> {
    let seq: number | undefined;
    let result: R;
    try {
      result = await this.#db.transaction().execute(async (trx) => {
        const r = await fn(trx);
        if (!wrote(r)) return r;
        seq = await this.#insertReturningId(T.changes, { kind, subject, at: this.#now(), origin: this.origin }, trx);
        if (this.#pgChannel !== undefined) await sql`select pg_notify(${this.#pgChannel}, ${String(seq)})`.execute(trx);
        return r;
      });
    } catch (err) {
      throw toStoreError(what, err);
    }
    if (seq !== undefined && this.#notifier) await this.#notifier.notify(seq).catch(() => undefined);
    return result;
  }

  async #insertReturningId<Tb extends typeof T.changes | typeof T.audit>(
    table: Tb,
    values: Parameters<ReturnType<Kysely<ControlPlaneDatabase>['insertInto']>['values']>[0] & object,
    db: Kysely<ControlPlaneDatabase> = this.#db,
  ): Promise<number> {
    const key = table === T.changes ? 'seq' : 'id';
    if (this.#dialect === 'postgres') {
      const row = await db
        .insertInto(table)
        .values(values as never)
        .returning(sql<number | string>`${sql.ref(key)}`.as('id'))
        .executeTakeFirstOrThrow();
      return toInt(row.id);
    }
    const result = await db.insertInto(table).values(values as never).executeTakeFirstOrThrow();
    if (result.insertId === undefined) throw new Error('the database returned no insert id');
    return toInt(result.insertId);
  }
}
