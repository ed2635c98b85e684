/**
 * The admin audit log: one JSON object per line in `stateDir/audit.jsonl`, append-only, mode 0600.
 * Entries never hold a secret, password or token (the callers pass only names, ids and reasons).
 */
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type AuditOutcome = 'ok' | 'refused' | 'failed';

export interface AuditRecord {
  id: number;
  /** ISO 8601. */
  at: string;
  actor: string;
  action: string;
  target?: string;
  reason?: string;
  outcome: AuditOutcome;
  client: string;
  detail?: Record<string, unknown>;
}

export type AuditInput = Omit<AuditRecord, 'id' | 'at'>;

export interface AuditQuery {
  /** Entries older than this id (the nextCursor of the previous page). */
  before?: number;
  limit: number;
  actor?: string;
  action?: string;
}

export class AuditLog {
  readonly path: string;
  #fd: number;
  #nextId: number;

  constructor(
    stateDir: string,
    private readonly now: () => number,
  ) {
    this.path = join(stateDir, 'audit.jsonl');
    let last = 0;
    if (existsSync(this.path)) {
      for (const entry of this.#readAll()) last = Math.max(last, entry.id);
    }
    this.#nextId = last + 1;
    this.#fd = openSync(this.path, 'a', 0o600);
    fchmodSync(this.#fd, 0o600);
  }

  /** Appends one entry (synchronously: it is on disk before the answer goes out). */
  write(input: AuditInput): AuditRecord {
    const record: AuditRecord = { id: this.#nextId++, at: new Date(this.now()).toISOString(), ...clean(input) };
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
    return record;
  }

  /** Newest first. */
  query(q: AuditQuery): { entries: AuditRecord[]; nextCursor?: string } {
    const all = this.#readAll();
    const out: AuditRecord[] = [];
    let more = false;
    for (let i = all.length - 1; i >= 0; i--) {
      const e = all[i]!;
      if (q.before !== undefined && e.id >= q.before) continue;
      if (q.actor !== undefined && e.actor !== q.actor) continue;
      if (q.action !== undefined && e.action !== q.action) continue;
      if (out.length === q.limit) {
        more = true;
        break;
      }
      out.push(e);
    }
    const last = out[out.length - 1];
    return more && last ? { entries: out, nextCursor: String(last.id) } : { entries: out };
  }

  close(): void {
    closeSync(this.#fd);
  }

  #readAll(): AuditRecord[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return [];
    }
    const out: AuditRecord[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const e = JSON.parse(line) as AuditRecord;
        if (typeof e?.id === 'number') out.push(e);
      } catch {
        // a torn last line (crash mid-write) is skipped
      }
    }
    return out;
  }
}

function clean(input: AuditInput): AuditInput {
  const out: AuditInput = { actor: input.actor, action: input.action, outcome: input.outcome, client: input.client };
  if (input.target !== undefined) out.target = input.target;
  if (input.reason !== undefined) out.reason = input.reason;
  if (input.detail !== undefined && Object.keys(input.detail).length > 0) out.detail = input.detail;
  return out;
}
