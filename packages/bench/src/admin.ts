/**
 * The "admin" part of the bench: the gateway's admin API device search and keyset paging over a
 * SQLite registry of up to 1 000 000 devices (ADMIN-API.md, `GET /admin/api/v1/devices`).
 *
 * 1. A registry: the run's scenario (g) registry when (g) ran (reused, the admin part runs after
 *    it), else one provisioned here with `provisionRegistry` (importMany). Every 200th device is
 *    then revoked through `DeviceRepository.revoke`, for the status filter.
 * 2. The same queries, in-process on `DeviceRepository.list` (the SQL + row mapping, no HTTP),
 *    one at a time, timed with `process.hrtime.bigint()`; and an OFFSET query for contrast.
 * 3. The real gateway (`servers/real-gateway.ts`) in a child process with a `devices` section over
 *    the registry and an `admin` section (token auth): a token login, then the same queries over
 *    real HTTP (one keep-alive connection, one request at a time, JSON parsed), each checked
 *    (status 200, the expected page length and cursor, the same serials as the repository's page).
 *
 * Queries: the first page without a filter; serial-prefix searches of several selectivities
 * (a whole serial, 36, 1 296 and 46 656 matches: serials are base 36, one character less is 36×
 * more devices; every device; none); the revoked-status filter; and a walk of 200 consecutive
 * pages with the cursor (page 200 against page 1: keyset paging, no OFFSET).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { DeviceRepository, MasterKeyRing, openDeviceDatabase, type ListDevicesOptions } from '@wxseal/devices';
import { provisionRegistry } from './devices.js';
import { serialOf } from './device-serials.js';
import type { ProgressSink } from './progress.js';
import { KEYS_ENV } from './keys.js';
import { startChild, type BenchChild } from './process.js';
import { DEVICE_MASTER_KEYS_ENV } from './targets.js';

/** Environment variable holding the admin token of the bench's gateway child. */
export const ADMIN_TOKEN_ENV = 'WXSEAL_BENCH_ADMIN_TOKEN';
const API = '/admin/api/v1';
/** Every REVOKE_EVERY-th device is revoked (5 000 of 1 M). */
export const REVOKE_EVERY = 200;
/** Page size of every query (the admin API's default). */
export const PAGE_LIMIT = 50;
/** Pages of the keyset walk. */
export const WALK_PAGES = 200;

export interface AdminBenchOptions {
  quick: boolean;
  /** Devices wanted when the part provisions its own registry. */
  registryDevices: number;
  /** The run's key material (the gateway child needs a client credential and a server key). */
  keysPath: string;
  /** Run directory (temporary; the registry and the admin stateDir go under it). */
  dir: string;
  /** Scenario (g)'s registry, when it was provisioned in this run: reused instead of provisioning another. */
  registry?: { databaseUrl: string; masterKeys: string; devices: number; provisionS: number; requested: number };
  /** The gateway's upstream (its route is never called here). */
  upstreamUrl?: string;
  command: string;
  progress?: ProgressSink;
}

export interface LatencyMs {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

export interface AdminQueryResult {
  id: string;
  label: string;
  /** One of the paths sent (the prefixes rotate over `variants` values). */
  example: string;
  /** Distinct query strings the samples rotate over. */
  variants: number;
  /** Devices matching the filter (min and max over the variants). */
  matches: { min: number; max: number };
  http: LatencyMs;
  /** The same queries on DeviceRepository.list, in-process. */
  repo: LatencyMs;
  /** HTTP / repository, on the p50 and on the mean. */
  ratioP50: number;
  ratioMean: number;
}

export interface AdminPagingResult {
  pages: number;
  walks: number;
  limit: number;
  /** Every page of every walk. */
  http: LatencyMs;
  repo: LatencyMs;
  /** Median over the walks of page 1's and of the last page's time. */
  httpPage1: number;
  httpPageLast: number;
  repoPage1: number;
  repoPageLast: number;
  /** Mean of the first 20 and of the last 20 pages, over all walks. */
  httpFirst20Mean: number;
  httpLast20Mean: number;
  /** Least-squares slope of the HTTP time over the page number, µs per page. */
  httpSlopeUsPerPage: number;
  /** For contrast: the same page with LIMIT/OFFSET in SQL (p50 ms), at the walk's last page and near the end of the registry. */
  offsetContrast: Array<{ offset: number; p50: number; samples: number }>;
}

export interface AdminBenchResult {
  status: 'ok' | 'failed';
  reason?: string;
  /** The command that produced this section (it may be newer than the rest of BENCHMARKS.md). */
  command: string;
  date: string;
  environment: { node: string; cpuModel: string; cores: number; platform: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  quick: boolean;
  registry?: {
    requested: number;
    devices: number;
    provisionS: number;
    /** Scenario (g)'s registry of the same run. */
    reused: boolean;
    revoked: number;
    revokedEvery: number;
    revokeS: number;
  };
  /** How the requests were sent. */
  client: string;
  gatewayStartS?: number;
  queries: AdminQueryResult[];
  paging?: AdminPagingResult;
  checks: string[];
  elapsedS: number;
}

interface Sizes {
  warmup: number;
  samples: number;
  walks: number;
  offsetSamples: number;
  provisionBudgetS: number;
}

const sizes = (quick: boolean): Sizes =>
  quick ? { warmup: 10, samples: 60, walks: 2, offsetSamples: 5, provisionBudgetS: 5 } : { warmup: 50, samples: 500, walks: 5, offsetSamples: 20, provisionBudgetS: 60 };

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export function latency(ms: readonly number[]): LatencyMs {
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? 0;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { samples: sorted.length, p50: round3(at(0.5)), p95: round3(at(0.95)), p99: round3(at(0.99)), mean: round3(sum / Math.max(1, sorted.length)), max: round3(sorted[sorted.length - 1] ?? 0) };
}

const median = (values: readonly number[]): number => latency(values).p50;

/** One query of the part: the filter, in the API's and in the repository's form. */
interface Query {
  q?: string;
  status?: 'active' | 'revoked';
  cursor?: string;
  /** Devices matching the filter. */
  matches: number;
}

interface QueryType {
  id: string;
  label: string;
  variants: Query[];
}

/** Devices i with serialOf(i) starting with serialOf(i0) minus its last `drop` characters: serials are fixed-width base 36. */
function prefixMatches(i0: number, drop: number, devices: number): number {
  const block = 36 ** drop;
  const lo = Math.floor(i0 / block) * block;
  return Math.max(0, Math.min(devices, lo + block) - lo);
}

function queryTypes(devices: number, revoked: number): QueryType[] {
  const spread = (j: number): number => Math.floor(((j + 0.37) * devices) / 16);
  const types: QueryType[] = [{ id: 'first-page', label: 'first page, no filter', variants: [{ matches: devices }] }];
  for (const drop of [0, 1, 2, 3]) {
    const block = 36 ** drop;
    if (drop > 0 && block * 2 > devices) break; // the quick registry is too small for this selectivity
    const variants: Query[] = [];
    const seen = new Set<string>();
    for (let j = 0; j < 16; j++) {
      const i = spread(j);
      const serial = serialOf(i);
      const q = serial.slice(0, serial.length - drop);
      if (seen.has(q)) continue;
      seen.add(q);
      variants.push({ q, matches: prefixMatches(i, drop, devices) });
    }
    types.push({
      id: `prefix-${block}`,
      label: drop === 0 ? 'q = a whole serial (1 match)' : `q = a serial minus its last ${drop} character${drop > 1 ? 's' : ''} (≈ ${int(block)} matches)`,
      variants,
    });
  }
  types.push({ id: 'prefix-all', label: 'q = BENCH- (every device matches)', variants: [{ q: 'BENCH-', matches: devices }] });
  types.push({ id: 'prefix-none', label: 'q matching no device', variants: Array.from({ length: 16 }, (_, j) => ({ q: `NOSUCH-${j.toString(36)}`, matches: 0 })) });
  types.push({ id: 'status-revoked', label: `status = revoked (${int(revoked)} revoked, every ${REVOKE_EVERY}th)`, variants: [{ status: 'revoked', matches: revoked }] });
  return types;
}

function apiPath(query: Query): string {
  const params = new URLSearchParams();
  if (query.q !== undefined) params.set('q', query.q);
  if (query.status !== undefined) params.set('status', query.status);
  if (query.cursor !== undefined) params.set('cursor', query.cursor);
  params.set('limit', String(PAGE_LIMIT));
  return `${API}/devices?${params.toString()}`;
}

function repoOptions(query: Query): ListDevicesOptions {
  return {
    limit: PAGE_LIMIT,
    ...(query.q !== undefined ? { serialPrefix: query.q } : {}),
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
  };
}

interface Page {
  serials: string[];
  statuses: string[];
  nextCursor: string | undefined;
}

/** Times `count` sequential calls of `run(i)` after `warmup` unmeasured ones; returns ms. */
async function timeEach(warmup: number, count: number, run: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run(i);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await run(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

/** A page of the keyset walk: page n (0-based) of every walk, timed. */
async function walk(pages: number, fetchPage: (cursor: string | undefined) => Promise<Page>, onPage?: (n: number, page: Page) => void): Promise<number[]> {
  const out: number[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < pages; n++) {
    const t0 = process.hrtime.bigint();
    const page = await fetchPage(cursor);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    onPage?.(n, page);
    if (page.nextCursor === undefined) break;
    cursor = page.nextCursor;
  }
  return out;
}

function slopeUsPerPage(perPage: readonly number[][]): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const w of perPage) {
    w.forEach((y, x) => {
      n++;
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    });
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : Math.round(((n * sxy - sx * sy) / d) * 1000 * 100) / 100;
}

export async function runAdminBench(options: AdminBenchOptions): Promise<AdminBenchResult> {
  const started = performance.now();
  const progress = options.progress;
  const s = sizes(options.quick);
  const cpuList = cpus();
  const la = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);
  const result: AdminBenchResult = {
    status: 'ok',
    command: options.command,
    date: new Date().toISOString(),
    environment: { node: process.version, cpuModel: cpuList[0]?.model.trim() ?? 'unknown', cores: cpuList.length, platform: `${platform()} ${release()}`, loadAverageAtStart: la(), loadAverageAtEnd: [] },
    quick: options.quick,
    client: `real HTTP/1.1 from the orchestrator to the gateway in its own process: one keep-alive connection (undici Pool), one request at a time, response JSON parsed; limit ${PAGE_LIMIT}`,
    queries: [],
    checks: [],
    elapsedS: 0,
  };
  const fail = (reason: string): AdminBenchResult => {
    result.status = 'failed';
    result.reason = reason;
    return result;
  };
  const dir = mkdtempSync(join(options.dir, 'admin-'));
  let db: ReturnType<typeof openDeviceDatabase> | undefined;
  let gateway: BenchChild | undefined;
  let pool: Pool | undefined;
  try {
    // ---- 1. Registry -------------------------------------------------------------------------
    let databaseUrl: string;
    let masterKeys: string;
    let devices: number;
    let repo: DeviceRepository;
    if (options.registry) {
      ({ databaseUrl, masterKeys, devices } = options.registry);
      db = openDeviceDatabase(databaseUrl);
      repo = new DeviceRepository({ db, masterKeys: MasterKeyRing.parse(masterKeys) });
      result.registry = { requested: options.registry.requested, devices, provisionS: options.registry.provisionS, reused: true, revoked: 0, revokedEvery: REVOKE_EVERY, revokeS: 0 };
      progress?.line(`[admin] reusing scenario (g)'s registry: ${int(devices)} devices`);
    } else {
      masterKeys = `bench:${MasterKeyRing.generateKey()}`;
      databaseUrl = `sqlite:${join(dir, 'admin-devices.db')}`;
      db = openDeviceDatabase(databaseUrl);
      const provisioned = await provisionRegistry(db, {
        masterKeys: MasterKeyRing.parse(masterKeys),
        devices: options.registryDevices,
        budgetS: s.provisionBudgetS,
        tag: '[admin]',
        ...(progress ? { progress } : {}),
      });
      if (typeof provisioned === 'string') return fail(provisioned);
      if (provisioned.devices < 1000) return fail(`only ${provisioned.devices} devices provisioned`);
      ({ repo, devices } = provisioned);
      result.registry = { requested: options.registryDevices, devices, provisionS: Math.round(provisioned.provisionS * 10) / 10, reused: false, revoked: 0, revokedEvery: REVOKE_EVERY, revokeS: 0 };
    }
    const registry = result.registry;

    // Revoke every 200th device (offset 100), one DeviceRepository.revoke each (transaction + audit row).
    const toRevoke: string[] = [];
    for (let i = REVOKE_EVERY / 2; i < devices; i += REVOKE_EVERY) toRevoke.push(serialOf(i));
    const tr = performance.now();
    for (let k = 0; k < toRevoke.length; k++) {
      await repo.revoke(toRevoke[k]!, { actor: 'bench', reason: 'admin bench: status filter' });
      if ((k & 0x1ff) === 0) progress?.live(`[admin] revoking every ${REVOKE_EVERY}th device through DeviceRepository.revoke… ${int(k)} / ${int(toRevoke.length)}`);
    }
    registry.revoked = toRevoke.length;
    registry.revokeS = Math.round((performance.now() - tr) / 100) / 10;
    progress?.line(`[admin] ${int(toRevoke.length)} devices revoked in ${registry.revokeS} s`);

    const types = queryTypes(devices, toRevoke.length);

    // ---- 2. The same queries on DeviceRepository.list, in-process ------------------------------
    const repoPage = async (query: Query): Promise<Page> => {
      const page = await repo.list(repoOptions(query));
      return { serials: page.devices.map((d) => d.serial), statuses: page.devices.map((d) => d.status), nextCursor: page.nextCursor };
    };
    const repoTimes = new Map<string, number[]>();
    /** First page of each variant from the repository, to compare with the API's answer. */
    const expected = new Map<string, string[]>();
    for (const t of types) {
      progress?.live(`[admin] DeviceRepository.list, in-process: ${t.label}…`);
      for (const v of t.variants) expected.set(apiPath(v), (await repoPage(v)).serials);
      repoTimes.set(t.id, await timeEach(s.warmup, s.samples, (i) => repo.list(repoOptions(t.variants[i % t.variants.length]!))));
    }
    progress?.live(`[admin] DeviceRepository.list, in-process: ${s.walks} walks of ${WALK_PAGES} pages…`);
    const repoWalks: number[][] = [];
    const walkSerials: string[] = [];
    for (let w = 0; w < s.walks + 1; w++) {
      const times = await walk(WALK_PAGES, (cursor) => repoPage(cursor === undefined ? { matches: devices } : { cursor, matches: devices }), w === 0 ? (_n, page) => walkSerials.push(...page.serials) : undefined);
      if (w > 0) repoWalks.push(times); // the first walk warms up
    }
    // For contrast: the same page with LIMIT/OFFSET (what keyset paging avoids).
    const offsetContrast: AdminPagingResult['offsetContrast'] = [];
    for (const offset of [(WALK_PAGES - 1) * PAGE_LIMIT, Math.floor(devices * 0.9)]) {
      if (offset >= devices) continue;
      const times = await timeEach(2, s.offsetSamples, () => db!.selectFrom('wxseal_devices').select(['serial', 'product_id', 'status', 'key_version']).orderBy('serial').limit(PAGE_LIMIT).offset(offset).execute());
      offsetContrast.push({ offset, p50: latency(times).p50, samples: times.length });
    }
    await db.destroy();
    db = undefined;

    // ---- 3. The gateway in its own process, admin API over HTTP --------------------------------
    const token = randomBytes(32).toString('base64url');
    const stateDir = join(dir, 'admin-state');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    progress?.live(`[admin] starting the gateway (migrating the registry, building its Bloom filter from ${int(devices)} serials)…`);
    const tg = performance.now();
    gateway = await startChild({
      name: 'real gateway (admin)',
      module: 'servers/real-gateway',
      config: {
        upstreamUrl: options.upstreamUrl ?? 'http://127.0.0.1:9',
        upstreamConnections: 1,
        sessionKeyCache: false,
        devices: { databaseUrl, devices, preloadBudgetS: 0 },
        admin: { tokenEnv: ADMIN_TOKEN_ENV, stateDir },
      },
      env: { [KEYS_ENV]: options.keysPath, [DEVICE_MASTER_KEYS_ENV]: masterKeys, [ADMIN_TOKEN_ENV]: token },
      readyTimeoutMs: 180_000,
    });
    result.gatewayStartS = Math.round((performance.now() - tg) / 100) / 10;
    const adminUrl = String(gateway.ready['adminUrl']);
    pool = new Pool(adminUrl, { connections: 1, pipelining: 1 });
    const p = pool;
    const login = await p.request({ path: `${API}/session`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    const loginText = await login.body.text();
    if (login.statusCode !== 200) return fail(`admin login answered ${login.statusCode}: ${loginText.slice(0, 200)}`);
    const setCookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []).find((c) => c.startsWith('wxseal_admin='));
    if (!setCookie) return fail('the admin login set no wxseal_admin cookie');
    const cookie = setCookie.split(';')[0]!;
    result.checks.push(`admin login with the token (POST ${API}/session) → 200 and a wxseal_admin session cookie; every GET below sent it`);

    let problem: string | undefined;
    let answered = 0;
    const httpPage = async (path: string): Promise<Page> => {
      const res = await p.request({ path, method: 'GET', headers: { cookie } });
      const text = await res.body.text();
      answered++;
      if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}: ${text.slice(0, 200)}`);
      const json = JSON.parse(text) as { devices: Array<{ serial: string; status: string }>; nextCursor?: string };
      return { serials: json.devices.map((d) => d.serial), statuses: json.devices.map((d) => d.status), nextCursor: json.nextCursor };
    };
    const check = (t: QueryType, v: Query, path: string, page: Page): void => {
      if (problem) return;
      const want = Math.min(PAGE_LIMIT, v.matches);
      if (page.serials.length !== want) problem = `${t.id}: GET ${path} returned ${page.serials.length} devices, ${want} expected`;
      else if ((page.nextCursor !== undefined) !== v.matches > PAGE_LIMIT) problem = `${t.id}: GET ${path} ${page.nextCursor ? 'has' : 'lacks'} a nextCursor with ${v.matches} matches`;
      else if (v.status !== undefined && page.statuses.some((st) => st !== v.status)) problem = `${t.id}: GET ${path} returned devices that are not ${v.status}`;
      else if (v.q !== undefined && page.serials.some((sn) => !sn.startsWith(v.q!))) problem = `${t.id}: GET ${path} returned serials without the prefix ${v.q}`;
      else if (page.serials.join() !== expected.get(path)?.join()) problem = `${t.id}: GET ${path} differs from DeviceRepository.list's page`;
    };
    for (const t of types) {
      progress?.live(`[admin] HTTP: ${t.label}…`);
      const times = await timeEach(s.warmup, s.samples, async (i) => {
        const v = t.variants[i % t.variants.length]!;
        const path = apiPath(v);
        check(t, v, path, await httpPage(path));
      });
      if (problem) return fail(problem);
      const http = latency(times);
      const repoL = latency(repoTimes.get(t.id)!);
      const counts = t.variants.map((v) => v.matches);
      result.queries.push({
        id: t.id,
        label: t.label,
        example: apiPath(t.variants[0]!),
        variants: t.variants.length,
        matches: { min: Math.min(...counts), max: Math.max(...counts) },
        http,
        repo: repoL,
        ratioP50: Math.round((100 * http.p50) / Math.max(1e-6, repoL.p50)) / 100,
        ratioMean: Math.round((100 * http.mean) / Math.max(1e-6, repoL.mean)) / 100,
      });
      progress?.line(`[admin] ${t.label}: HTTP p50 ${http.p50} ms, p99 ${http.p99} ms; repository p50 ${repoL.p50} ms`);
    }
    result.checks.push(
      `every measured answer (${int(types.length * (s.warmup + s.samples))} GETs) was 200 with the expected number of devices (min(${PAGE_LIMIT}, matches)) and a nextCursor exactly when more matched; prefix answers held only serials with the prefix, status answers only revoked devices, and each page equalled DeviceRepository.list's`,
    );

    progress?.live(`[admin] HTTP: ${s.walks} walks of ${WALK_PAGES} pages with the cursor…`);
    const httpWalks: number[][] = [];
    for (let w = 0; w < s.walks + 1; w++) {
      const seen: string[] = [];
      const times = await walk(
        WALK_PAGES,
        (cursor) => httpPage(apiPath(cursor === undefined ? { matches: devices } : { cursor, matches: devices })),
        (_n, page) => seen.push(...page.serials),
      );
      if (seen.join() !== walkSerials.join()) return fail(`keyset walk ${w}: the ${seen.length} serials of ${times.length} pages differ from DeviceRepository.list's walk`);
      if (w > 0) httpWalks.push(times);
    }
    const pages = httpWalks[0]!.length;
    const pageTimes = (walks: number[][], n: number): number[] => walks.map((w) => w[n]!).filter((v) => v !== undefined);
    const flat = (walks: number[][], from: number, to: number): number[] => walks.flatMap((w) => w.slice(from, to));
    result.paging = {
      pages,
      walks: httpWalks.length,
      limit: PAGE_LIMIT,
      http: latency(httpWalks.flat()),
      repo: latency(repoWalks.flat()),
      httpPage1: median(pageTimes(httpWalks, 0)),
      httpPageLast: median(pageTimes(httpWalks, pages - 1)),
      repoPage1: median(pageTimes(repoWalks, 0)),
      repoPageLast: median(pageTimes(repoWalks, pages - 1)),
      httpFirst20Mean: latency(flat(httpWalks, 0, 20)).mean,
      httpLast20Mean: latency(flat(httpWalks, pages - 20, pages)).mean,
      httpSlopeUsPerPage: slopeUsPerPage(httpWalks),
      offsetContrast,
    };
    const pg = result.paging;
    result.checks.push(
      `keyset walks: ${s.walks + 1} walks of ${pages} pages over HTTP (the first unmeasured) each returned the same ${int(walkSerials.length)} serials in the same order as DeviceRepository.list's walk, no gap, no repeat`,
    );
    result.checks.push(`${int(answered)} admin API answers in all, every one 200`);
    progress?.line(`[admin] keyset walk, ${pages} pages: page 1 ${pg.httpPage1} ms, page ${pages} ${pg.httpPageLast} ms (HTTP, median of ${pg.walks} walks); slope ${pg.httpSlopeUsPerPage} µs/page`);
    return result;
  } catch (err) {
    return fail((err as Error).message);
  } finally {
    await pool?.close().catch(() => undefined);
    await gateway?.close().catch(() => undefined);
    await db?.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    result.environment.loadAverageAtEnd = la();
    result.elapsedS = Math.round((performance.now() - started) / 100) / 10;
  }
}

