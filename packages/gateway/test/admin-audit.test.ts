// The audit log's backwards, chunked reader against a naive whole-file reference: random logs with
// torn lines (in the middle after a crash, and an unterminated tail), filters, cursors at every
// position, pages across chunk boundaries, a bounded scan per call, and appends during a read.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { AuditLog, type AuditLogOptions, type AuditQuery, type AuditRecord } from '../src/admin/audit.js';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wxseal-audit-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The pre-change implementation, over the file's complete lines. */
function naive(text: string, q: AuditQuery): { entries: AuditRecord[]; nextCursor?: string } {
  const lines = text.split('\n');
  lines.pop(); // after the last '\n': empty or a line still being written
  const all: AuditRecord[] = [];
  for (const line of lines) {
    try {
      const e = JSON.parse(line) as AuditRecord;
      if (e !== null && typeof e === 'object' && typeof e.id === 'number') all.push(e);
    } catch {
      // torn
    }
  }
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

const ACTORS = ['alice', 'bob', 'token', '李雷'];
const ACTIONS = ['session.login', 'device.revoke', 'device.provision', 'server-key.rotate'];

type Item = { kind: 'entry'; gap: number; actor: number; action: number; reason: string; detail: boolean } | { kind: 'torn'; cut: number };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('entry' as const),
      gap: fc.integer({ min: 1, max: 3 }),
      actor: fc.integer({ min: 0, max: ACTORS.length - 1 }),
      action: fc.integer({ min: 0, max: ACTIONS.length - 1 }),
      // multi-byte text and lengths around the chunk sizes used below
      reason: fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 100, maxLength: 700 })),
      detail: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('torn' as const), cut: fc.integer({ min: 1, max: 60 }) }) },
);

/** Writes a log file directly; returns the ids written. */
function writeLog(path: string, items: Item[], tail: 'none' | 'torn' | 'unterminated'): number {
  let id = 0;
  let text = '';
  const line = (it: Extract<Item, { kind: 'entry' }>, theId: number): string => {
    const rec: AuditRecord = { id: theId, at: new Date(1_700_000_000_000 + theId * 1000).toISOString(), actor: ACTORS[it.actor]!, action: ACTIONS[it.action]!, outcome: 'ok', client: '127.0.0.1' };
    if (it.reason) rec.reason = it.reason;
    if (it.detail) rec.detail = { code: 'ADMIN_CSRF', status: 403 };
    return JSON.stringify(rec);
  };
  const sample = { kind: 'entry' as const, gap: 1, actor: 0, action: 0, reason: 'torn write', detail: true };
  for (const it of items) {
    if (it.kind === 'entry') {
      id += it.gap;
      text += `${line(it, id)}\n`;
    } else {
      // a crash mid-write followed by a restart that terminated the torn line
      const l = line(sample, id + 1);
      text += `${l.slice(0, Math.min(it.cut, l.length - 1))}\n`;
    }
  }
  if (tail === 'torn') text += line(sample, id + 1).slice(0, 25);
  if (tail === 'unterminated') text += line(sample, ++id);
  writeFileSync(path, text);
  return id;
}

const optionsArb: fc.Arbitrary<AuditLogOptions> = fc.record({
  chunkSize: fc.constantFrom(256, 300, 1000, 64 * 1024),
  indexStride: fc.constantFrom(1, 3, 1000),
  indexMaxEntries: fc.constantFrom(2, 5, 4096),
});

const queryArb = fc.record({
  limit: fc.integer({ min: 1, max: 6 }),
  actor: fc.option(fc.constantFrom(...ACTORS, 'nobody'), { nil: undefined }),
  action: fc.option(fc.constantFrom(...ACTIONS), { nil: undefined }),
});

function q(base: { limit: number; actor: string | undefined; action: string | undefined }, before?: number): AuditQuery {
  const out: AuditQuery = { limit: base.limit };
  if (before !== undefined) out.before = before;
  if (base.actor !== undefined) out.actor = base.actor;
  if (base.action !== undefined) out.action = base.action;
  return out;
}

describe('audit log reader', () => {
  test('every page equals the naive reference (cursors at every position, torn lines, filters, chunk boundaries)', () => {
    fc.assert(
      fc.property(
        fc.array(itemArb, { maxLength: 60 }),
        fc.constantFrom('none', 'torn', 'unterminated') as fc.Arbitrary<'none' | 'torn' | 'unterminated'>,
        optionsArb,
        fc.array(queryArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (items, tail, options, queries, freshPerQuery) => {
          const dir = freshDir();
          const path = join(dir, 'audit.jsonl');
          const lastId = writeLog(path, items, tail);
          let log = new AuditLog(dir, () => 0, options);
          const text = readFileSync(path, 'utf8');
          assert.ok(text === '' || text.endsWith('\n'), 'opening the log terminates a torn tail');
          const ids = naive(text, { limit: 1e9 }).entries.map((e) => e.id);
          const cursors = [undefined, 0, 1, ...ids, lastId + 1, lastId + 7];
          try {
            for (const base of queries) {
              for (const before of cursors) {
                if (freshPerQuery) {
                  log.close();
                  log = new AuditLog(dir, () => 0, options);
                }
                const query = q(base, before);
                assert.deepEqual(log.query(query), naive(text, query), `page for ${JSON.stringify(query)}`);
              }
              // following the cursors from the top yields the same pages as the reference
              let cursor: number | undefined;
              for (let guard = 0; guard < 1000; guard++) {
                const query = q(base, cursor);
                const page = log.query(query);
                assert.deepEqual(page, naive(text, query), `followed page for ${JSON.stringify(query)}`);
                if (page.nextCursor === undefined) break;
                cursor = Number(page.nextCursor);
              }
            }
            const next = log.write({ actor: 'alice', action: 'session.logout', outcome: 'ok', client: '::1' });
            assert.equal(next.id, Math.max(0, ...ids) + 1, 'the next id follows the last complete entry');
            assert.deepEqual(log.query({ limit: 1 }).entries, [next], 'an entry written after a torn tail reads back');
          } finally {
            log.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a bounded scan returns partial pages with a cursor; following them yields exactly the reference', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { minLength: 1, maxLength: 80 }), queryArb, fc.constantFrom(256, 512), (items, base, chunkSize) => {
        const dir = freshDir();
        writeLog(join(dir, 'audit.jsonl'), items, 'none');
        const reads: number[] = [];
        const log = new AuditLog(dir, () => 0, {
          chunkSize,
          maxScanBytes: chunkSize,
          read: (fd, b, o, l, p) => {
            const n = readSync(fd, b, o, l, p);
            reads.push(n);
            return n;
          },
        });
        const text = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
        const longestLine = Math.max(...text.split('\n').map((l) => Buffer.byteLength(l) + 1));
        const expected = naive(text, q({ ...base, limit: 1e9 })).entries;
        const got: AuditRecord[] = [];
        let cursor: number | undefined;
        try {
          for (let guard = 0; ; guard++) {
            assert.ok(guard < 10_000, 'paging terminates');
            reads.length = 0;
            const page = log.query(q(base, cursor));
            const scanned = reads.reduce((a, b) => a + b, 0);
            // the bound (one chunk), then at most what finishes the first line examined
            assert.ok(scanned <= 2 * chunkSize + longestLine, `a call scans about maxScanBytes (${scanned} bytes, longest line ${longestLine})`);
            assert.ok(page.entries.length <= base.limit, 'a page holds at most limit entries');
            got.push(...page.entries);
            if (page.nextCursor === undefined) break;
            const next = Number(page.nextCursor);
            assert.ok(cursor === undefined || next < cursor, 'the cursor moves towards older entries');
            cursor = next;
          }
        } finally {
          log.close();
        }
        assert.deepEqual(got, expected, 'all matching entries, newest first, none twice');
      }),
      { numRuns: 150 },
    );
  });

  test('a filtered query that hits the bound says so with a nextCursor even without a match', () => {
    const dir = freshDir();
    const lines: string[] = [];
    for (let id = 1; id <= 2000; id++) {
      lines.push(JSON.stringify({ id, at: new Date(id * 1000).toISOString(), actor: id === 5 ? 'rare' : 'alice', action: 'session.login', outcome: 'ok', client: '::1' }));
    }
    writeFileSync(join(dir, 'audit.jsonl'), `${lines.join('\n')}\n`);
    const log = new AuditLog(dir, () => 0, { chunkSize: 4096, maxScanBytes: 16 * 1024 });
    try {
      const first = log.query({ limit: 10, actor: 'rare' });
      assert.equal(first.entries.length, 0, 'nothing within the bound');
      assert.ok(first.nextCursor !== undefined && Number(first.nextCursor) > 5, `a cursor to continue (${first.nextCursor})`);
      let cursor: string | undefined = first.nextCursor;
      const found: number[] = [];
      while (cursor !== undefined) {
        const page = log.query({ limit: 10, actor: 'rare', before: Number(cursor) });
        found.push(...page.entries.map((e) => e.id));
        cursor = page.nextCursor;
      }
      assert.deepEqual(found, [5], 'the continuation finds the match');
    } finally {
      log.close();
    }
  });

  test('appends during a read: the call reads up to the size it saw at its start', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 40 }), queryArb, fc.array(fc.constantFrom('line', 'torn', 'write'), { minLength: 1, maxLength: 30 }), (items, base, ops) => {
        const dir = freshDir();
        const path = join(dir, 'audit.jsonl');
        writeLog(path, items, 'none');
        let pending: string | null = null;
        const log = new AuditLog(dir, () => 0, {
          chunkSize: 256,
          read: (fd, b, o, l, p) => {
            if (pending !== null) {
              // another writer appends while this call reads
              appendFileSync(path, pending);
              pending = null;
            }
            return readSync(fd, b, o, l, p);
          },
        });
        try {
          let otherId = 1_000_000;
          for (const op of ops) {
            const before = readFileSync(path, 'utf8');
            if (op === 'write') {
              log.write({ actor: 'bob', action: 'device.revoke', outcome: 'ok', client: '::1', reason: 'r'.repeat(300) });
              continue;
            }
            const line = JSON.stringify({ id: otherId++, at: 'x', actor: 'bob', action: 'device.revoke', outcome: 'ok', client: '::1' });
            pending = op === 'line' ? `${line}\n` : line.slice(0, 30); // a complete or a half-written line
            const query = q(base);
            const page = log.query(query);
            assert.deepEqual(page, naive(before, query), 'the page reflects the file as it was when the call started');
            pending = null;
            if (op === 'torn') appendFileSync(path, '\n'); // the other writer terminates its torn line (as a restart would)
          }
        } finally {
          log.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
