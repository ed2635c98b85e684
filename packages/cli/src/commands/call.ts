import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { createClient, type ClientLogEntry } from '@wxseal/client';
import { HEADERS, WxsealError, type WechatIdentity } from '@wxseal/protocol';
import { loadClientConfig, type ResolvedClientConfig } from '../config.js';
import { CliError, readOptionFile } from '../errors.js';

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
  /** The client config's profile (dev, test, release): not `env`, the identity's WeChat cloud environment. */
  profile?: string;
}

export interface CallIo {
  stdout: (text: string | Uint8Array) => void;
  stderr: (text: string) => void;
}

/** Reads `-d` like curl: `@file` reads a file, `-` is not supported (no stdin in CI). */
function readData(data: string | undefined): Buffer | undefined {
  if (data === undefined) return undefined;
  if (data.startsWith('@')) return readOptionFile(data.slice(1), '--data');
  return Buffer.from(data, 'utf8');
}

/**
 * The body is sent as application/json unless --content-type says otherwise, so text that is not
 * JSON would reach the server labelled as JSON: refused here, where the user can still fix it.
 */
function checkJson(body: Buffer): void {
  try {
    JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new CliError(
      'CLI_INVALID_INPUT',
      `the body is not valid JSON (${(err as Error).message}); to send another media type, give it with -t/--content-type, e.g. -t text/plain`,
      '--data',
    );
  }
}

// Long opaque values are shortened in --verbose output; they are not secret but they are noise.
function shorten(value: string): string {
  return value.length > 48 ? `${value.slice(0, 24)}…(${value.length} chars)` : value;
}

// Signatures, wrapped keys and identity blocks: enough to tell two apart, not a screenful.
function abbreviate(value: string): string {
  return value.length > 16 ? `${value.slice(0, 12)}…(${value.length} chars)` : value;
}

// What a request carries that --verbose shows in full: short, and what a reader compares by eye.
const SHOWN_IN_FULL = new Set<string>([HEADERS.version, HEADERS.mode, HEADERS.keyId, HEADERS.timestamp, HEADERS.nonce, HEADERS.serverKeyId, HEADERS.contentType, HEADERS.contentLength, HEADERS.traceparent, 'host']);

/**
 * Prints each request the client sends (every attempt), the way curl -v does: method, URL and
 * headers, long values (signature, wrapped key, identity block) shortened, and the body's size.
 * Read from node:http's diagnostics channel, so what is shown is what went out. No header holds a
 * secret: the client secret only keys the HMAC, and the session key travels wrapped (RSA-OAEP or X25519 HPKE).
 */
function traceRequests(io: CallIo, innerContentType: string | undefined): () => void {
  // The client is the only thing in this process that makes HTTP requests.
  const onStart = (message: unknown): void => {
    const req = (message as { request: ClientRequest }).request;
    const headers = req.getHeaders();
    io.stderr(`> ${req.method} ${req.protocol}//${headers.host ?? req.host}${req.path}\n`);
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || name === 'host') continue;
      const text = Array.isArray(value) ? value.join(', ') : String(value);
      io.stderr(`> ${name}: ${SHOWN_IN_FULL.has(name) ? text : abbreviate(text)}\n`);
    }
    const sealed = headers[HEADERS.wrappedKey] !== undefined;
    io.stderr(`> (body: ${headers[HEADERS.contentLength] ?? 0} bytes${sealed ? `, sealed; inside: ${innerContentType ?? 'no content type'}` : ''})\n`);
  };
  subscribe('http.client.request.start', onStart);
  return () => unsubscribe('http.client.request.start', onStart);
}

function loadConfig(path: string, profile: string | undefined, io: CallIo): ResolvedClientConfig | undefined {
  try {
    return loadClientConfig(path, process.env, profile);
  } catch (err) {
    if (!(err instanceof WxsealError)) throw err;
    io.stderr(`wxseal: ${err.code}: ${err.message} (--config)\n`);
    return undefined;
  }
}

/** `wxseal call PATH`: a sealed request like curl; prints the decrypted body. Returns the exit code. */
export async function call(path: string, opts: CallOptions, io: CallIo): Promise<number> {
  const cfg = loadConfig(opts.config, opts.profile, io);
  if (!cfg) return 2;
  const body = readData(opts.data);
  if (body && opts.contentType === undefined) checkJson(body);
  const mode = opts.mode ?? cfg.mode;
  const baseUrl = opts.baseUrl ?? cfg.baseUrl;
  const logger = opts.verbose
    ? (e: ClientLogEntry) => io.stderr(`* ${e.event}${e.attempt ? ` attempt=${e.attempt}` : ''}${e.status ? ` status=${e.status}` : ''}${e.code ? ` code=${e.code}` : ''}${e.durationMs !== undefined ? ` ${Math.round(e.durationMs)}ms` : ''}\n`)
    : undefined;
  const client = createClient({
    baseUrl,
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
  const method = (opts.method ?? (body ? 'POST' : 'GET')).toUpperCase();
  const contentType = opts.contentType ?? (body ? 'application/json' : undefined);
  const untrace = opts.verbose ? traceRequests(io, contentType) : undefined;
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
    untrace?.();
    client.close?.();
  }
}
