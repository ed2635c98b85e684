// Shared set-up: a temporary directory with merchant files, atomic file replacement like operators do.
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateManagerEvent } from '../../src/lifecycle/index.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wxseal-lifecycle-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `name.tmp-N` then renames it over `name` (what `mv` / config management does). */
let n = 0;
export async function replaceFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${n++}`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}

export function collect(on: (l: (e: CertificateManagerEvent) => void) => () => void) {
  const events: CertificateManagerEvent[] = [];
  const off = on((e) => events.push(e));
  return { events, off, of: <T extends CertificateManagerEvent['type']>(t: T) => events.filter((e): e is Extract<CertificateManagerEvent, { type: T }> => e.type === t) };
}

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const MCHID = '1900000109';
