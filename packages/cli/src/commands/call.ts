import { readFileSync } from 'node:fs';
import { createClient, type ClientLogEntry } from '@wxseal/client';
import { WxsealError, type WechatIdentity } from '@wxseal/protocol';
import { loadClientConfig } from '../config.js';

export interface CallOptions {
  config: string;
  baseUrl?: string;
  method?: string;
  data?: string;
  contentType?: string;
  mode?: 'sealed' | 'signed';
  timeout?: number;
  verbose: boolean;
  openid?: string;
  appid?: string;
  unionid?: string;
  env?: string;
  source?: string;
}

export interface CallIo {
  stdout: (text: string | Uint8Array) => void;
  stderr: (text: string) => void;
}

/** Reads `-d` like curl: `@file` reads a file, `-` is not supported (no stdin in CI). */
function readData(data: string | undefined): Buffer | undefined {
  if (data === undefined) return undefined;
  if (data.startsWith('@')) return readFileSync(data.slice(1));
  return Buffer.from(data, 'utf8');
}

// Long opaque values are shortened in --verbose output; they are not secret but they are noise.
function shorten(value: string): string {
  return value.length > 48 ? `${value.slice(0, 24)}…(${value.length} chars)` : value;
}

/** `wxseal call PATH`: a sealed request like curl; prints the decrypted body. Returns the exit code. */
export async function call(path: string, opts: CallOptions, io: CallIo): Promise<number> {
  const cfg = loadClientConfig(opts.config);
  const mode = opts.mode ?? cfg.mode;
  const logger = opts.verbose
    ? (e: ClientLogEntry) => io.stderr(`* ${e.event}${e.attempt ? ` attempt=${e.attempt}` : ''}${e.status ? ` status=${e.status}` : ''}${e.code ? ` code=${e.code}` : ''}${e.durationMs !== undefined ? ` ${Math.round(e.durationMs)}ms` : ''}\n`)
    : undefined;
  const client = createClient({
    baseUrl: opts.baseUrl ?? cfg.baseUrl,
    keyId: cfg.keyId,
    secret: cfg.secret,
    mode,
    ...(cfg.serverKeyId ? { serverKeyId: cfg.serverKeyId } : {}),
    ...(cfg.serverPublicKey ? { serverPublicKey: cfg.serverPublicKey } : {}),
    ...(opts.timeout ?? cfg.timeoutMs ? { timeoutMs: opts.timeout ?? cfg.timeoutMs } : {}),
    ...(logger ? { logger } : {}),
  });
  const identity: WechatIdentity = {};
  for (const k of ['openid', 'appid', 'unionid', 'env', 'source'] as const) if (opts[k]) identity[k] = opts[k];
  const body = readData(opts.data);
  const method = (opts.method ?? (body ? 'POST' : 'GET')).toUpperCase();
  const contentType = opts.contentType ?? (body ? 'application/json' : undefined);
  try {
    const res = await client.request({
      method,
      path,
      ...(body ? { body } : {}),
      ...(contentType ? { contentType } : {}),
      ...(Object.keys(identity).length ? { identity } : {}),
      mode,
    });
    if (opts.verbose) {
      io.stderr(`< ${res.status} (${mode}, response authenticated)\n`);
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) io.stderr(`< ${name}: ${shorten(Array.isArray(value) ? value.join(', ') : String(value))}\n`);
      }
      io.stderr(`< inner content-type: ${res.contentType ?? '(none)'}\n`);
      io.stderr(`< traceparent: ${res.traceparent}\n`);
    }
    io.stdout(res.body);
    if (res.body.length > 0 && res.body[res.body.length - 1] !== 0x0a) io.stdout('\n');
    return res.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof WxsealError) {
      io.stderr(`wxseal: ${err.code}${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    client.close?.();
  }
}

