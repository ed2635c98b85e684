// Where key material comes from: a file (watched for hot reload), an environment variable, a
// secret store (Vault, KMS, a cloud secret manager behind a two-line adapter) or an inline value.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CertificateLifecycleError, describeError } from './errors.js';

/** Anything that can hand out a named secret (a Vault / KMS / cloud secret manager adapter). */
export interface SecretStore {
  get(name: string): Promise<string>;
}

/** An in-memory SecretStore (tests, or material injected by the application). */
export class InMemorySecretStore implements SecretStore {
  readonly #values = new Map<string, string>();
  constructor(values: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(values)) this.#values.set(k, v);
  }
  set(name: string, value: string): void {
    this.#values.set(name, value);
  }
  delete(name: string): void {
    this.#values.delete(name);
  }
  async get(name: string): Promise<string> {
    const v = this.#values.get(name);
    if (v === undefined) throw new Error(`secret ${name} not found`);
    return v;
  }
}

/** One secret: exactly one of `file`, `env`, `secret` (read from the manager's SecretStore) or `value`. */
export type SecretSource = { file: string } | { env: string } | { secret: string; store?: SecretStore } | { value: string };

/** Secret-free description of a source, for events and errors. */
export function describeSource(src: SecretSource): string {
  if ('file' in src) return `file ${src.file}`;
  if ('env' in src) return `env ${src.env}`;
  if ('secret' in src) return `secret ${src.secret}`;
  return 'inline value';
}

export function sourceFile(src: SecretSource | undefined): string | undefined {
  return src !== undefined && 'file' in src ? resolve(src.file) : undefined;
}

export function assertSource(src: unknown, what: string): asserts src is SecretSource {
  const ok =
    typeof src === 'object' &&
    src !== null &&
    Object.keys(src).filter((k) => k !== 'store').length === 1 &&
    ((typeof (src as { file?: unknown }).file === 'string' && (src as { file: string }).file !== '') ||
      (typeof (src as { env?: unknown }).env === 'string' && (src as { env: string }).env !== '') ||
      typeof (src as { secret?: unknown }).secret === 'string' ||
      typeof (src as { value?: unknown }).value === 'string');
  if (!ok) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', `${what} must be { file } | { env } | { secret } | { value }`);
}

/** Largest secret read (a PEM bundle is a few KiB). */
const MAX_SECRET_BYTES = 256 * 1024;

/** Reads a source; errors name the source, never its content. */
export async function readSource(src: SecretSource, store: SecretStore | undefined, what: string): Promise<string> {
  let text: string;
  try {
    if ('file' in src) {
      const buf = await readFile(src.file);
      if (buf.length > MAX_SECRET_BYTES) throw new Error(`larger than ${MAX_SECRET_BYTES} bytes`);
      text = buf.toString('utf8');
    } else if ('env' in src) {
      const v = process.env[src.env];
      if (v === undefined || v === '') throw new Error('not set');
      // Environment variables often carry PEMs with literal "\n".
      text = v.includes('-----BEGIN') && !v.includes('\n') ? v.replace(/\\n/g, '\n') : v;
    } else if ('secret' in src) {
      const s = src.store ?? store;
      if (s === undefined) throw new Error('no SecretStore configured');
      text = await s.get(src.secret);
      if (typeof text !== 'string') throw new Error('the secret store returned a non-string');
    } else {
      text = src.value;
    }
  } catch (e) {
    throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_SOURCE_UNAVAILABLE', `${what}: cannot read ${describeSource(src)}: ${describeError(e)}`);
  }
  return text;
}
