/**
 * One SQLite file, one writer at a time per process. better-sqlite3 is synchronous: when two Kysely
 * instances in one process hold connections to the same file and one is inside a transaction that
 * awaits, the other's write meets SQLITE_BUSY and better-sqlite3's busy handler sleeps the whole
 * thread — including the event loop the first transaction needs to finish. The first can never
 * commit, so the second gives up with SQLITE_BUSY after the busy timeout (a store error where a
 * conflict was due). Kysely already serialises the users of one instance with a mutex per driver;
 * this makes that mutex one per file and process, so the instances take turns instead. Writers in
 * other processes still meet the busy timeout, which works there: their wait does not block us.
 */
import { SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';

/** A FIFO mutex whose waiters resolve in order. */
class FileLock {
  #held = false;
  readonly #waiters: (() => void)[] = [];
  users = 0;

  async acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
}

const locks = new Map<string, FileLock>();

function lockFor(file: string): FileLock {
  let lock = locks.get(file);
  if (!lock) locks.set(file, (lock = new FileLock()));
  lock.users++;
  return lock;
}

function dropLock(file: string, lock: FileLock): void {
  if (--lock.users === 0 && locks.get(file) === lock) locks.delete(file);
}

class FileLockedSqliteDriver extends SqliteDriver {
  readonly #file: string;
  readonly #lock: FileLock;
  #destroyed = false;

  constructor(config: SqliteDialectConfig, file: string) {
    super(config);
    this.#file = file;
    this.#lock = lockFor(file);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.acquire();
    try {
      return await super.acquireConnection();
    } catch (err) {
      this.#lock.release();
      throw err;
    }
  }

  override async releaseConnection(): Promise<void> {
    try {
      await super.releaseConnection();
    } finally {
      this.#lock.release();
    }
  }

  override async destroy(): Promise<void> {
    if (!this.#destroyed) {
      this.#destroyed = true;
      dropLock(this.#file, this.#lock);
    }
    await super.destroy();
  }
}

/**
 * Kysely's SqliteDialect whose connections to `file` (an absolute path) share one lock per process.
 * `:memory:` databases are private to their connection and keep Kysely's own mutex.
 */
export class FileLockedSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #file: string;

  constructor(config: SqliteDialectConfig, file: string) {
    super(config);
    this.#config = config;
    this.#file = file;
  }

  override createDriver(): Driver {
    if (this.#file === ':memory:') return super.createDriver();
    return new FileLockedSqliteDriver(this.#config, this.#file);
  }
}
