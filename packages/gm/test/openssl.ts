// The real OpenSSL 3 command line, the independent side of the cross-checks: files in a temporary
// folder, removed when the process exits.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'wxseal-gm-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Writes `data` to a fresh file of the temporary folder and answers its path. */
export function file(data: string | Uint8Array, name = 'f'): string {
  const path = join(dir, `${++n}-${name}`);
  writeFileSync(path, data);
  return path;
}

/** A fresh path in the temporary folder, for openssl to write. */
export function outPath(name = 'out'): string {
  return join(dir, `${++n}-${name}`);
}

export function read(path: string): Buffer {
  return readFileSync(path);
}

/** Runs openssl; throws (with its stderr) when it exits non-zero. */
export function openssl(args: string[], input?: Uint8Array): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs openssl and answers its exit status and output, never throwing. */
export function opensslStatus(args: string[]): { status: number; output: string } {
  try {
    return { status: 0, output: execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    return { status: e.status ?? -1, output: `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` };
  }
}

export const OPENSSL_VERSION = execFileSync('openssl', ['version']).toString().trim();
