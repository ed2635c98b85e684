import type { Kysely } from 'kysely';
import type { MasterKeyRing, OpenDeviceDatabaseOptions } from '@wxseal/devices';
import { openControlPlaneDatabase } from './database.js';
import { migrateControlPlaneDatabase } from './migrations.js';
import { redisChangeNotifier } from './redis.js';
import type { ControlPlaneDatabase } from './schema.js';
import { ControlPlaneStore, type ChangeNotifier } from './store.js';

export interface OpenControlPlaneOptions {
  /** The database URL the gateways use (controlPlane.database.url). */
  url: string;
  database?: OpenDeviceDatabaseOptions;
  masterKeys: MasterKeyRing;
  /** Written as the origin of changes and the instance of audit rows (default 'cli'). */
  origin?: string;
  /** Announce changes on the gateways' Redis channel (else they see them at their next poll). */
  redis?: { url: string; channel: string; onError?: (err: unknown) => void };
  /** PostgreSQL: the gateways' LISTEN channel, so a change reaches them at commit. */
  postgresNotifyChannel?: string;
  now?: () => number;
  /** Run the migrations first (default true). */
  migrate?: boolean;
}

export interface OpenControlPlane {
  store: ControlPlaneStore;
  db: Kysely<ControlPlaneDatabase>;
  /** Closes the notifier and the pool. */
  close(): Promise<void>;
}

/**
 * A store for a tool that changes the control plane without a running gateway (the CLI, a
 * provisioning script): opens and migrates the database and announces each change the way a
 * gateway does, with origin 'cli'. The running gateways apply the change within their poll
 * interval, or at once when told on Redis or PostgreSQL.
 */
export async function openControlPlane(options: OpenControlPlaneOptions): Promise<OpenControlPlane> {
  const db = openControlPlaneDatabase(options.url, options.database);
  let notifier: ChangeNotifier | undefined;
  try {
    if (options.migrate !== false) await migrateControlPlaneDatabase(db);
    if (options.redis) notifier = redisChangeNotifier(options.redis);
    const store = new ControlPlaneStore({
      db,
      masterKeys: options.masterKeys,
      now: options.now ?? Date.now,
      origin: options.origin ?? 'cli',
      ...(notifier ? { notifier } : {}),
      ...(options.postgresNotifyChannel !== undefined ? { postgresNotifyChannel: options.postgresNotifyChannel } : {}),
    });
    return {
      store,
      db,
      async close(): Promise<void> {
        await notifier?.close();
        await db.destroy();
      },
    };
  } catch (err) {
    await notifier?.close().catch(() => undefined);
    await db.destroy().catch(() => undefined);
    throw err;
  }
}
