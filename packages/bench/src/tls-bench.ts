/**
 * TLS at the edge: what HTTPS costs the gateway beside plain HTTP. The same valid sealed traffic
 * (the session-key path, so that no RSA unwrap hides the TLS cost) goes to the real gateway over
 * HTTP and over HTTPS (its `listeners.public.tls`), with keep-alive connections (the TLS record
 * layer alone) and with a new connection per request (a handshake per request: full with an ECDSA
 * P-256 or an RSA-2048 certificate, or resumed from a session ticket). The handshake's cost is the
 * server CPU per request of a new-connection HTTPS cell minus that of new-connection HTTP.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureCheck } from './features.js';
import { SESSION_KEY_REUSE_OPTIONS } from './features.js';
import { LoadGenerator, fmt } from './load-generator.js';
import type { LatencySummary, LoadJob } from './loadgen/types.js';
import type { ProgressSink } from './progress.js';
import { targets, type Target } from './targets.js';

export type TlsCellId = 'http-keepalive' | 'https-keepalive' | 'http-new' | 'https-new-full-ecdsa' | 'https-new-resumed-ecdsa' | 'https-new-full-rsa';

interface TlsCellSpec {
  id: TlsCellId;
  label: string;
  /** Which gateway: plain HTTP, HTTPS with an ECDSA P-256 certificate, or with an RSA-2048 one. */
  listener: 'http' | 'ecdsa' | 'rsa';
  connectionPerRequest: boolean;
  sessionResumption: boolean;
}

export const TLS_CELLS: readonly TlsCellSpec[] = [
  { id: 'http-keepalive', label: 'HTTP, keep-alive', listener: 'http', connectionPerRequest: false, sessionResumption: false },
  { id: 'http-new', label: 'HTTP, a new connection per request', listener: 'http', connectionPerRequest: true, sessionResumption: false },
  { id: 'https-keepalive', label: 'HTTPS (ECDSA P-256), keep-alive', listener: 'ecdsa', connectionPerRequest: false, sessionResumption: true },
  { id: 'https-new-full-ecdsa', label: 'HTTPS (ECDSA P-256), new connection, full handshake', listener: 'ecdsa', connectionPerRequest: true, sessionResumption: false },
  { id: 'https-new-resumed-ecdsa', label: 'HTTPS (ECDSA P-256), new connection, resumed session', listener: 'ecdsa', connectionPerRequest: true, sessionResumption: true },
  { id: 'https-new-full-rsa', label: 'HTTPS (RSA-2048), new connection, full handshake', listener: 'rsa', connectionPerRequest: true, sessionResumption: false },
];

export interface TlsCell {
  id: TlsCellId;
  label: string;
  status: 'ok' | 'failed';
  reason?: string;
  requests?: number;
  reqPerSec?: number;
  latencyMs?: LatencySummary;
  serverCpuMicrosPerRequest?: number;
}

export interface TlsBenchResult {
  status: 'ok' | 'failed';
  reason?: string;
  method: string;
  cells: TlsCell[];
  /** Server CPU µs per handshake: the new-connection HTTPS cell minus new-connection HTTP. */
  handshakeMicros?: { fullEcdsa?: number; resumedEcdsa?: number; fullRsa?: number };
  /** Server CPU µs per request that TLS adds on a kept-alive connection (HTTPS − HTTP). */
  keepAliveOverheadMicros?: number;
  elapsedS: number;
}

export interface TlsBenchOptions {
  quick: boolean;
  keysPath: string;
  upstreamUrl: string;
  upstreamConnections: number;
  redisUrl: string;
  sessionKeyCache: FeatureCheck;
  sampleSize: number;
  progress?: ProgressSink;
}

/** The concurrency of every cell: enough to keep both cores busy, few enough for a 2-core machine. */
export const TLS_CONCURRENCY = 10;

export function tlsCellRequests(quick: boolean): { requests: number; warmupRequests: number; gatewayWarmupRequests: number } {
  return quick ? { requests: 200, warmupRequests: 40, gatewayWarmupRequests: 200 } : { requests: 3000, warmupRequests: 500, gatewayWarmupRequests: 6000 };
}

/** A self-signed certificate for 127.0.0.1 and localhost, made by the openssl command line. */
function selfSigned(dir: string, name: string, keyAlg: 'ec' | 'rsa'): { certFile: string; keyFile: string; certPem: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const keyOpts = keyAlg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  execFileSync(
    'openssl',
    ['req', '-x509', ...keyOpts, '-nodes', '-sha256', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8') };
}

async function cpuOf(target: Target): Promise<{ requests: number; cpuMicros: number } | undefined> {
  const s = await target.stats();
  const requests = Number(s['requests']);
  const cpuMicros = Number(s['cpuMicros']);
  return Number.isFinite(requests) && Number.isFinite(cpuMicros) ? { requests, cpuMicros } : undefined;
}

export async function runTlsBench(options: TlsBenchOptions): Promise<TlsBenchResult> {
  const started = performance.now();
  const progress = options.progress;
  const cells: TlsCell[] = [];
  const { requests, warmupRequests, gatewayWarmupRequests } = tlsCellRequests(options.quick);
  const method = `Each gateway first serves ${gatewayWarmupRequests} unmeasured keep-alive requests (V8 compiles its hot paths); then ${requests} timed requests (+ ${warmupRequests} of warm-up) per cell from ${TLS_CONCURRENCY} closed-loop senders, 100 B sealed bodies on the session-key path (a reused session key: no RSA per request), each request distinct; server CPU of the gateway's process per request. A new connection per request closes the connection after each answer (undici \`reset\`); a full handshake disables the client's TLS session cache, a resumed one keeps it (session tickets). Certificates: self-signed, made by openssl for this run.`;
  const fail = (reason: string): TlsBenchResult => ({ status: 'failed', reason, method, cells, elapsedS: Math.round((performance.now() - started) / 100) / 10 });
  if (!options.sessionKeyCache.available) return fail(`the session-key path is not available: ${options.sessionKeyCache.detail}`);
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-bench-tls-'));
  let generator: LoadGenerator | undefined;
  try {
    const certs = { ecdsa: selfSigned(dir, 'ecdsa', 'ec'), rsa: selfSigned(dir, 'rsa', 'rsa') };
    generator = await LoadGenerator.start(options.keysPath);
    for (const listener of ['http', 'ecdsa', 'rsa'] as const) {
      const specs = TLS_CELLS.filter((c) => c.listener === listener);
      const tls = listener === 'http' ? undefined : certs[listener];
      const prefix = `[tls] ${listener === 'http' ? 'HTTP' : `HTTPS (${listener === 'ecdsa' ? 'ECDSA P-256' : 'RSA-2048'})`}`;
      progress?.live(`${prefix}: starting the gateway…`);
      let target: Target;
      try {
        target = await targets.realGatewayWithSessionKeyCache({
          upstreamUrl: options.upstreamUrl,
          upstreamConnections: options.upstreamConnections,
          keysPath: options.keysPath,
          redisUrl: options.redisUrl,
          ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
        });
      } catch (err) {
        for (const s of specs) cells.push({ id: s.id, label: s.label, status: 'failed', reason: `the gateway did not start: ${(err as Error).message}` });
        progress?.line(`${prefix}: FAILED (the gateway did not start)`);
        continue;
      }
      try {
        if (tls && !target.url.startsWith('https://')) throw new Error(`the gateway listens on ${target.url}, not HTTPS`);
        const jobFor = (spec: (typeof specs)[number], fixed: { requests: number; warmupRequests: number }): LoadJob => ({
          scenario: `tls:${spec.id}`,
          url: target.url,
          traffic: 'sealed-reuse',
          poolSize: fixed.warmupRequests + fixed.requests + 2 * options.sampleSize,
          cycle: false,
          durationS: 30,
          warmupS: 0,
          connections: TLS_CONCURRENCY,
          expect: { status: 200, sealed: true },
          sampleSize: options.sampleSize,
          fixed,
          extraClientOptions: { ...SESSION_KEY_REUSE_OPTIONS },
          reuseMaxMessages: SESSION_KEY_REUSE_OPTIONS.sessionKeyReuse.maxMessages,
          connectionPerRequest: spec.connectionPerRequest,
          ...(tls ? { tls: { ca: tls.certPem, servername: 'localhost', sessionResumption: spec.sessionResumption } } : {}),
        });
        // A fresh gateway runs its first thousands of requests in V8's unoptimised tiers: an
        // unmeasured keep-alive round first, so every cell meets the same compiled code.
        const warm = await generator.run({ ...jobFor({ ...specs[0]!, connectionPerRequest: false, sessionResumption: true }, { requests: gatewayWarmupRequests, warmupRequests: 0 }), scenario: `tls:${listener}-warmup` }, progress, `${prefix}, warming the gateway up:`);
        if (!warm.ok) throw new Error(`the warm-up failed: ${warm.error ?? 'unknown'}`);
        for (const spec of specs) {
          const job = jobFor(spec, { requests, warmupRequests });
          const before = await cpuOf(target);
          const load = await generator.run(job, progress, `${prefix}, ${spec.label}:`);
          const after = await cpuOf(target);
          const served = before && after ? after.requests - before.requests : 0;
          const cell: TlsCell = {
            id: spec.id,
            label: spec.label,
            status: load.ok ? 'ok' : 'failed',
            ...(load.error ? { reason: load.error } : {}),
            requests: load.totalResponses,
            reqPerSec: Math.round(load.reqPerSec),
            latencyMs: load.latencyMs,
            ...(before && after && served > 0 ? { serverCpuMicrosPerRequest: Math.round((10 * (after.cpuMicros - before.cpuMicros)) / served) / 10 } : {}),
          };
          cells.push(cell);
          progress?.line(
            cell.status === 'ok'
              ? `[tls] ${spec.label}: ${fmt(cell.reqPerSec!)} req/s, p50 ${cell.latencyMs!.p50} ms, ${cell.serverCpuMicrosPerRequest ?? '?'} µs CPU/req`
              : `[tls] ${spec.label}: FAILED: ${cell.reason}`,
          );
        }
      } catch (err) {
        for (const s of specs) if (!cells.some((c) => c.id === s.id)) cells.push({ id: s.id, label: s.label, status: 'failed', reason: (err as Error).message });
      } finally {
        await target.close();
      }
    }
  } catch (err) {
    return fail((err as Error).message);
  } finally {
    await generator?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = (id: TlsCellId): number | undefined => cells.find((c) => c.id === id && c.status === 'ok')?.serverCpuMicrosPerRequest;
  const minus = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : Math.round(10 * (a - b)) / 10);
  const failed = cells.filter((c) => c.status === 'failed');
  return {
    status: failed.length > 0 ? 'failed' : 'ok',
    ...(failed.length > 0 ? { reason: `${failed.length} cells failed; first: ${failed[0]!.reason ?? ''}` } : {}),
    method,
    cells,
    handshakeMicros: {
      ...optional('fullEcdsa', minus(cpu('https-new-full-ecdsa'), cpu('http-new'))),
      ...optional('resumedEcdsa', minus(cpu('https-new-resumed-ecdsa'), cpu('http-new'))),
      ...optional('fullRsa', minus(cpu('https-new-full-rsa'), cpu('http-new'))),
    },
    ...optional('keepAliveOverheadMicros', minus(cpu('https-keepalive'), cpu('http-keepalive'))),
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
  };
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

/** The BENCHMARKS.md section. */
export function tlsMarkdown(t: TlsBenchResult, mdCell: (s: string) => string): string[] {
  const int = (n: number): string => Math.round(n).toLocaleString('en-US');
  const ms = (n: number | undefined): string => (n === undefined ? '–' : n < 10 ? n.toFixed(2) : n.toFixed(1));
  const out = ['## TLS at the edge: handshake cost and requests/s over HTTPS', ''];
  out.push(`${t.status === 'ok' ? '' : `**FAILED**: ${mdCell(t.reason ?? '')}. `}The real gateway with \`listeners.public.tls\` against the same gateway over plain HTTP. Method: ${mdCell(t.method)} Took ${t.elapsedS} s.`, '');
  const http = t.cells.find((c) => c.id === 'http-keepalive');
  out.push('| connection | req/s | vs HTTP keep-alive | p50 ms | p99 ms | server CPU µs/req |', '|---|--:|--:|--:|--:|--:|');
  for (const c of t.cells) {
    if (c.status !== 'ok') {
      out.push(`| ${mdCell(c.label)} | FAILED: ${mdCell(c.reason ?? '')} | | | | |`);
      continue;
    }
    const ratio = http?.reqPerSec ? (c.reqPerSec! / http.reqPerSec).toFixed(2) : '–';
    out.push(`| ${mdCell(c.label)} | ${int(c.reqPerSec!)} | ${ratio} | ${ms(c.latencyMs?.p50)} | ${ms(c.latencyMs?.p99)} | ${c.serverCpuMicrosPerRequest ?? '–'} |`);
  }
  const h = t.handshakeMicros ?? {};
  const parts = [
    h.fullEcdsa !== undefined ? `a full handshake with an ECDSA P-256 certificate ${h.fullEcdsa} µs` : undefined,
    h.fullRsa !== undefined ? `with an RSA-2048 certificate ${h.fullRsa} µs` : undefined,
    h.resumedEcdsa !== undefined ? `a resumed session ${h.resumedEcdsa} µs` : undefined,
  ].filter((x): x is string => x !== undefined);
  out.push('');
  if (parts.length > 0) out.push(`**Handshake cost** (server CPU per new connection beyond a new plain-HTTP connection): ${parts.join(', ')}.`);
  if (t.keepAliveOverheadMicros !== undefined) {
    out.push(
      `**On kept-alive connections** TLS adds ${t.keepAliveOverheadMicros} µs of server CPU per request (AES-GCM record encryption both ways and the extra socket layer): clients that keep connections open (the client SDK does) pay the handshake once per connection, not per call.`,
    );
  }
  out.push('');
  return out;
}

export function tlsTerminal(t: TlsBenchResult, table: (rows: string[][], right: ReadonlySet<number>) => string): string[] {
  const rows = t.cells.map((c) => (c.status === 'ok' ? [c.label, fmt(c.reqPerSec!), String(c.latencyMs?.p50 ?? '–'), String(c.serverCpuMicrosPerRequest ?? '–')] : [c.label, 'FAILED', '', c.reason ?? '']));
  const out = [table([['TLS at the edge', 'req/s', 'p50 ms', 'CPU µs/req'], ...rows], new Set([1, 2, 3]))];
  const h = t.handshakeMicros ?? {};
  out.push(`  handshake CPU: full ECDSA ${h.fullEcdsa ?? '–'} µs, full RSA ${h.fullRsa ?? '–'} µs, resumed ${h.resumedEcdsa ?? '–'} µs; keep-alive TLS overhead ${t.keepAliveOverheadMicros ?? '–'} µs/req`);
  return out;
}
