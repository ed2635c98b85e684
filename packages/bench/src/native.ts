/**
 * The native part: the verifier's cost per core in each language wxseal ships a verifier for,
 * side by side in one run. For Node (@wxseal/server's Verifier, in this process), Java (the library
 * in java/, its examples' `Benchmark` main) and Go (the module in go/, its `go test -bench`
 * benchmarks): forged rejections/s (a sealed request with a wrong signature: one HMAC, never an
 * unwrap) and valid sealed requests/s (verify + unwrap + decrypt + sealed response) with an
 * RSA-OAEP-2048, an X25519 and an SM2 server key (the SM suite), all on one thread, in-process, no
 * HTTP.
 *
 * Java and Go run as child processes with a timeout (runCommand); a missing toolchain or a failed
 * build is a failed row with its reason, never a crash of the bench.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildRequest, sm2ServerKeyId, type BuiltRequest, type ServerPublicKey } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { BAD_SIGNATURE, MemoryNonceStore, ServerKeyRing, StaticKeyResolver, createVerifier, serverKeyIdFor, type Verifier } from '@wxseal/server';
import { gm } from './gm.js';
import { fmt } from './load-generator.js';
import { REPO_ROOT, runCommand, type CommandResult } from './process.js';
import type { ProgressSink } from './progress.js';

export type NativeLanguage = 'node' | 'java' | 'go';

/** Rates per core (operations per CPU-second of one thread) of the three measurements. */
export interface NativeRates {
  /** Forged sealed requests (RSA-OAEP envelope, wrong signature) rejected per second. */
  forged?: number;
  /** Valid sealed requests with an RSA-OAEP-2048 server key: verify + unwrap + decrypt + sealed response. */
  validRsa?: number;
  /** The same with an X25519 server key (HPKE). */
  validX25519?: number;
  /** The same with an SM2 server key: the SM suite (SPEC.md 6.6: SM2 unwrap, SM4-GCM, HMAC-SM3). */
  validSm?: number;
}

export type NativeMeasure = keyof NativeRates;
export const NATIVE_MEASURES: readonly NativeMeasure[] = ['forged', 'validRsa', 'validX25519', 'validSm'];

export interface NativeRow {
  language: NativeLanguage;
  label: string;
  status: 'ok' | 'failed';
  reason?: string;
  /**
   * Failed because its toolchain (java, go) is not installed here: the row says so, and the part
   * does not fail for it (as the devices part runs without Redis).
   */
  toolchainMissing?: boolean;
  /** The runtime that ran it (`node --version`, `java -version`, `go version`). */
  runtime?: string;
  /** What ran, for the report. */
  command: string;
  /** How the time per request is taken in this language. */
  timing: string;
  /** Requests per second per core. */
  perSec?: NativeRates;
  /** µs per request (1e6 / the rate). */
  micros?: NativeRates;
  /** This language's rate ÷ Node's (Node: 1). */
  vsNode?: NativeRates;
  /** Go only: its forged rejection with an X25519 envelope (per s), which Java and Node do not measure. */
  forgedX25519PerSec?: number;
  /** Forged rejections of SM-suite requests (per s): one HMAC-SM3 over an SM3 body hash, no SM2 decryption. */
  forgedSmPerSec?: number;
  elapsedS: number;
}

export interface NativeBenchResult {
  status: 'ok' | 'failed';
  reason?: string;
  method: string;
  /** Seconds of measured CPU (Java, Node) or benchtime (Go) per measurement. */
  secondsPerMeasurement: number;
  rows: NativeRow[];
  /** A generated paragraph: who is fastest per measurement, and by how much. */
  summary: string;
  elapsedS: number;
}

export interface NativeBenchOptions {
  quick: boolean;
  progress?: ProgressSink;
}

/** Seconds per measurement: Java's argument, Go's -benchtime, Node's CPU seconds. */
export function nativeSeconds(quick: boolean): number {
  return quick ? 0.3 : 2;
}

/** The request body of Java's Benchmark, which Node sends too (Go's bench_test.go sends its own 21 B). */
const BODY = Buffer.from('{"order":"A-1","amount":100,"note":"a typical small JSON body of about one hundred bytes"}', 'utf8');
const IDENTITY = { openid: 'o-bench', appid: 'wx-bench' };
const TARGET = '/api/orders';
const ANSWER = '{"ok":true}';

const JAVA_DIR = join(REPO_ROOT, 'java');
const GO_DIR = join(REPO_ROOT, 'go');
const JAVA_JARS = [join(JAVA_DIR, 'build/wxseal.jar'), join(JAVA_DIR, 'build/examples.jar')];
/** Bouncy Castle from Debian (libbcprov-java): the Java library's SM suite needs it at run time. */
const BCPROV_JAR = process.env['BCPROV_JAR'] ?? '/usr/share/java/bcprov.jar';
const JAVA_MAIN = 'dev.wxseal.examples.Benchmark';
const GO_CACHE = '/tmp/wxseal-go-cache';

/** A toolchain that is not installed: its row fails with this reason, the part does not. */
class ToolchainMissing extends Error {}

/** Runs `<tool> <version args>`, or throws ToolchainMissing when the program is not on PATH. */
async function toolVersion(tool: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CommandResult> {
  const r = await runCommand(tool, args, { ...options, timeoutMs: 30_000 });
  if (r.spawnError?.includes('ENOENT')) throw new ToolchainMissing(`${tool} is not installed (not found on PATH)`);
  if (r.code !== 0) throw new Error(failedReason(`${tool} ${args.join(' ')}`, r));
  return r;
}

const elapsedSince = (t: number): number => Math.round((performance.now() - t) / 100) / 10;

function ratesFrom(perSec: NativeRates): { perSec: NativeRates; micros: NativeRates } {
  const r: NativeRates = {};
  const m: NativeRates = {};
  for (const k of NATIVE_MEASURES) {
    const v = perSec[k];
    if (v !== undefined && Number.isFinite(v) && v > 0) {
      r[k] = Math.round(v);
      m[k] = Math.round((1e6 / v) * 100) / 100;
    }
  }
  return { perSec: r, micros: m };
}

// ---------------------------------------------------------------------------------------------
// Node, in this process

/** A ServerKeyRing that counts its unwraps: a forged request must never reach one. */
class CountingKeyRing extends ServerKeyRing {
  unwraps = 0;
  override unwrap(id: string, wrapped: Uint8Array): Buffer {
    this.unwraps++;
    return super.unwrap(id, wrapped);
  }
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Thrown by an operation when its prepared requests ran out: the measurement ends there. */
class Exhausted extends Error {}

/**
 * Operations per CPU-second of this process (one thread does the work), over about `seconds` of
 * CPU after a warm-up of a fifth of that, as Java's Benchmark does.
 */
async function ratePerCpuSecond(seconds: number, op: () => Promise<void>): Promise<number> {
  const warmEnd = cpuMicros() + seconds * 0.2e6;
  while (cpuMicros() < warmEnd) await op();
  let n = 0;
  const start = cpuMicros();
  const end = start + seconds * 1e6;
  let now = start;
  try {
    do {
      for (let i = 0; i < 16; i++) {
        await op();
        n++;
      }
      now = cpuMicros();
    } while (now < end);
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err;
    now = cpuMicros();
    if (n < 200) throw new Error('too few prepared requests for a measurement');
  }
  return n / ((now - start) / 1e6);
}

interface NodeKeys {
  secret: Buffer;
  rsa: ServerPublicKey;
  x25519: ServerPublicKey;
  sm2: ServerPublicKey;
  ring: CountingKeyRing;
}

function nodeKeys(): NodeKeys {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const x = generateKeyPairSync('x25519');
  const server = (privateKey: KeyObject, publicKey: KeyObject): { id: string; publicKey: KeyObject; privateKey: KeyObject } => ({ id: serverKeyIdFor(privateKey), publicKey, privateKey });
  const r = server(rsa.privateKey, rsa.publicKey);
  const xk = server(x.privateKey, x.publicKey);
  const sm = gm.sm2GenerateKeyPair();
  const smId = sm2ServerKeyId(sm.publicKeyHex);
  return {
    secret: randomBytes(32),
    rsa: { id: r.id, publicKey: r.publicKey },
    x25519: { id: xk.id, publicKey: xk.publicKey },
    sm2: { id: smId, sm2: { type: 'sm2', publicKeyHex: sm.publicKeyHex, primitives: gm } },
    ring: new CountingKeyRing([
      { id: r.id, privateKey: r.privateKey },
      { id: xk.id, privateKey: xk.privateKey },
      { id: smId, privateKey: { type: 'sm2', privateKeyHex: sm.privateKeyHex } },
    ]),
  };
}

function build(keys: NodeKeys, serverKey: ServerPublicKey): BuiltRequest {
  return buildRequest({ mode: 'sealed', method: 'POST', target: TARGET, keyId: 'bench', secret: keys.secret, body: BODY, contentType: 'application/json', identity: IDENTITY, serverKey });
}

async function measureNode(seconds: number, progress: ProgressSink | undefined): Promise<{ rates: NativeRates; forgedSm: number }> {
  const keys = nodeKeys();
  const verifier: Verifier = createVerifier({
    keys: new StaticKeyResolver([{ keyId: 'bench', secrets: [{ secret: keys.secret }] }]),
    serverKeys: keys.ring,
    nonceStore: new MemoryNonceStore({ maxEntries: 10_000_000 }),
  });
  const input = (r: BuiltRequest): Parameters<Verifier['verify']>[0] => ({ method: 'POST', target: TARGET, headers: r.headers, body: r.body });

  // Forged: a genuine sealed request with a random signature (what the gateway calls: verifyOrFailure).
  progress?.live('[native] Node: forged rejections…');
  const genuine = build(keys, keys.rsa);
  const forged = input({ ...genuine, headers: { ...genuine.headers, 'wxseal-signature': b64uEncode(randomBytes(32)) } });
  const unwrapsBefore = keys.ring.unwraps;
  const forgedRate = await ratePerCpuSecond(seconds, async () => {
    if ((await verifier.verifyOrFailure(forged)) !== BAD_SIGNATURE) throw new Error('a forged request was not rejected with WXSEAL_BAD_SIGNATURE');
  });
  if (keys.ring.unwraps !== unwrapsBefore) throw new Error('a forged request was unwrapped');
  progress?.line(`[native] Node: forged rejections ${fmt(Math.round(forgedRate))}/s per core`);
  progress?.live('[native] Node: forged rejections, SM suite…');
  const genuineSm = build(keys, keys.sm2);
  const forgedSm = input({ ...genuineSm, headers: { ...genuineSm.headers, 'wxseal-signature': b64uEncode(randomBytes(32)) } });
  const forgedSmRate = await ratePerCpuSecond(seconds, async () => {
    if ((await verifier.verifyOrFailure(forgedSm)) !== BAD_SIGNATURE) throw new Error('a forged SM request was not rejected with WXSEAL_BAD_SIGNATURE');
  });
  if (keys.ring.unwraps !== unwrapsBefore) throw new Error('a forged SM request was unwrapped');
  progress?.line(`[native] Node: forged rejections, SM suite ${fmt(Math.round(forgedSmRate))}/s per core`);

  const valid: Record<'rsa' | 'x25519' | 'sm2', number> = { rsa: 0, x25519: 0, sm2: 0 };
  for (const suite of ['rsa', 'x25519', 'sm2'] as const) {
    const label = { rsa: 'RSA-OAEP-2048', x25519: 'X25519', sm2: 'SM2 (SM suite)' }[suite];
    progress?.live(`[native] Node: valid sealed requests, ${label}: building requests…`);
    const serverKey = keys[suite];
    const op = (list: BuiltRequest[]): (() => Promise<void>) => {
      let next = 0;
      return async () => {
        const r = list[next++];
        if (r === undefined) throw new Exhausted();
        const verified = await verifier.verify(input(r));
        verifier.sealResponse(verified, { status: 200, contentType: 'application/json', body: ANSWER });
      };
    };
    // A check first: the request opens to the body and identity sent.
    const sample = await verifier.verify(input(build(keys, serverKey)));
    if (!sample.body.equals(BODY) || sample.identity['openid'] !== IDENTITY.openid || sample.serverKeyId !== serverKey.id) throw new Error(`the verified ${label} request does not hold what was sent`);
    // Estimate the rate on a few hundred requests (fewer for SM2, whose wrap is slow to build), then build enough distinct requests for the measurement.
    const warm = Array.from({ length: suite === 'sm2' ? 60 : 300 }, () => build(keys, serverKey));
    const warmOp = op(warm);
    const t0 = cpuMicros();
    for (let i = 0; i < warm.length; i++) await warmOp();
    const estimate = warm.length / Math.max((cpuMicros() - t0) / 1e6, 1e-6);
    const n = Math.min(300_000, Math.ceil(estimate * seconds * 2 + 2000));
    const list = Array.from({ length: n }, () => build(keys, serverKey));
    progress?.live(`[native] Node: valid sealed requests, ${label}…`);
    const unwrapsBeforeValid = keys.ring.unwraps;
    valid[suite] = await ratePerCpuSecond(seconds, op(list));
    if (keys.ring.unwraps === unwrapsBeforeValid) throw new Error(`no unwrap was counted for the valid ${label} requests`);
    progress?.line(`[native] Node: valid sealed requests, ${label}: ${fmt(Math.round(valid[suite]))}/s per core`);
  }
  return { rates: { forged: forgedRate, validRsa: valid.rsa, validX25519: valid.x25519, validSm: valid.sm2 }, forgedSm: forgedSmRate };
}

// ---------------------------------------------------------------------------------------------
// Java and Go, in child processes

function failedReason(what: string, r: CommandResult): string {
  if (r.spawnError !== undefined) return `${what} could not start: ${r.spawnError}`;
  if (r.timedOut) return `${what} did not finish in time (killed)`;
  const tail = r.stderrTail.trim().split('\n').slice(-3).join(' / ');
  return `${what} exited with ${r.signal ?? r.code}${tail ? `: ${tail}` : ''}`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.java')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The jars are missing or older than a source of the library or of its examples. */
function javaJarsStale(): boolean {
  if (!JAVA_JARS.every((j) => existsSync(j))) return true;
  const built = Math.min(...JAVA_JARS.map((j) => statSync(j).mtimeMs));
  return Math.max(newestMtime(join(JAVA_DIR, 'src')), newestMtime(join(JAVA_DIR, 'examples'))) > built;
}

/** Parses the Benchmark main's output: its JSON line, else its human lines. */
export function parseJavaBenchmark(stdout: string): NativeRates & { forgedSm?: number } {
  const json = /^WXSEAL-BENCH-JSON (\{.*\})\s*$/m.exec(stdout);
  if (json) {
    const o = JSON.parse(json[1]!) as Record<string, unknown>;
    const num = (k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);
    return {
      ...opt('forged', num('forgedPerSec')),
      ...opt('validRsa', num('validRsaPerSec')),
      ...opt('validX25519', num('validX25519PerSec')),
      ...opt('validSm', num('validSmPerSec')),
      ...opt('forgedSm', num('forgedSmPerSec')),
    };
  }
  const grab = (re: RegExp): number | undefined => {
    const m = re.exec(stdout);
    return m ? Number(m[1]!.replace(/[^0-9.]/g, '')) : undefined;
  };
  return {
    ...opt('forged', grab(/forged rejections\/s \(1 core\):\s*([\d,.\u00a0 ]+)/)),
    ...opt('validRsa', grab(/valid sealed requests\/s, RSA-2048 \(1 core\):\s*([\d,.\u00a0 ]+?)\s{2}/)),
    ...opt('validX25519', grab(/valid sealed requests\/s, X25519\s+\(1 core\):\s*([\d,.\u00a0 ]+?)\s{2}/)),
    ...opt('validSm', grab(/valid sealed requests\/s, SM2\s+\(1 core\):\s*([\d,.\u00a0 ]+?)\s{2}/)),
    ...opt('forgedSm', grab(/forged rejections\/s, SM2 \(1 core\):\s*([\d,.\u00a0 ]+)/)),
  };
}

function opt<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined || !Number.isFinite(value) ? {} : ({ [key]: value } as Record<K, number>);
}

async function measureJava(seconds: number, quick: boolean, progress: ProgressSink | undefined): Promise<{ rates: NativeRates; forgedSm?: number; runtime: string; built: boolean }> {
  const version = await toolVersion('java', ['-version']);
  const runtime = /^(\S+) version "([^"]+)"/m.exec(version.stderrTail)?.slice(1, 3).join(' ') ?? version.stderrTail.split('\n')[0]!.trim();
  let built = false;
  if (javaJarsStale()) {
    progress?.live('[native] Java: building the library and its examples (java/build.sh)…');
    const b = await runCommand('sh', [join(JAVA_DIR, 'build.sh')], { timeoutMs: 300_000 });
    if (b.code !== 0) throw new Error(failedReason('java/build.sh', b));
    built = true;
    progress?.line('[native] Java: built java/build/wxseal.jar and examples.jar (java/build.sh)');
  }
  progress?.live(`[native] Java: ${JAVA_MAIN} ${seconds}…`);
  const r = await runCommand('java', ['-cp', [...JAVA_JARS, BCPROV_JAR].join(':'), JAVA_MAIN, String(seconds)], {
    timeoutMs: quick ? 120_000 : 300_000,
    onLine: (line, stream) => {
      if (stream === 'stdout' && !line.startsWith('WXSEAL-BENCH-JSON')) progress?.line(`[native] Java: ${line.trim()}`);
    },
  });
  if (r.code !== 0) throw new Error(failedReason(`java ${JAVA_MAIN}`, r));
  const { forgedSm, ...rates } = parseJavaBenchmark(r.stdout);
  const missing = NATIVE_MEASURES.filter((k) => rates[k] === undefined);
  if (missing.length > 0) throw new Error(`the Java benchmark printed no ${missing.join(', ')}`);
  return { rates, runtime, built, ...(forgedSm !== undefined ? { forgedSm } : {}) };
}

export interface GoBenchLine {
  name: string;
  suite: string;
  iterations: number;
  nsPerOp: number;
}

/**
 * The ns/op lines of `go test -bench`. With -cpu 1 the names carry no -GOMAXPROCS suffix, so a name
 * is taken whole (the suites themselves end in digits: rsa-oaep-256).
 */
export function parseGoBench(stdout: string): GoBenchLine[] {
  const out: GoBenchLine[] = [];
  for (const m of stdout.matchAll(/^Benchmark(\w+)\/(\S+)\s+(\d+)\s+([\d.]+) ns\/op/gm)) {
    out.push({ name: m[1]!, suite: m[2]!, iterations: Number(m[3]), nsPerOp: Number(m[4]) });
  }
  return out;
}

function goBenchtime(quick: boolean): string {
  return quick ? '200ms' : `${nativeSeconds(false)}s`;
}

function goArgs(quick: boolean): string[] {
  return ['test', '-run', '^$', '-bench', '.', '-cpu', '1', '-benchtime', goBenchtime(quick), '.'];
}

const GO_ENV = { GOPROXY: 'off', GOFLAGS: '-mod=mod', GOCACHE: GO_CACHE };

async function measureGo(quick: boolean, progress: ProgressSink | undefined): Promise<{ rates: NativeRates; forgedX25519?: number; forgedSm?: number; runtime: string }> {
  const version = await toolVersion('go', ['version'], { cwd: GO_DIR, env: GO_ENV });
  const runtime = /go version (\S+)/.exec(version.stdout)?.[1] ?? version.stdout.trim();
  progress?.live(`[native] Go: go ${goArgs(quick).join(' ')} (compiling, then the benchmarks)…`);
  const r = await runCommand('go', goArgs(quick), {
    cwd: GO_DIR,
    env: GO_ENV,
    timeoutMs: quick ? 240_000 : 480_000,
    onLine: (line, stream) => {
      if (stream === 'stdout' && line.startsWith('Benchmark')) progress?.line(`[native] Go: ${line.replace(/\s+/g, ' ').trim()}`);
    },
  });
  if (r.code !== 0) throw new Error(failedReason('go test -bench', r) + (r.stdout.includes('FAIL') ? `: ${r.stdout.trim().split('\n').slice(-4).join(' / ')}` : ''));
  const lines = parseGoBench(r.stdout);
  const rate = (name: string, suite: string): number | undefined => {
    const l = lines.find((x) => x.name === name && x.suite === suite);
    return l && l.nsPerOp > 0 ? 1e9 / l.nsPerOp : undefined;
  };
  const rates: NativeRates = {
    ...opt('forged', rate('ForgedRejection', 'rsa-oaep-256')),
    ...opt('validRsa', rate('ValidSealedRequest', 'rsa-oaep-256')),
    ...opt('validX25519', rate('ValidSealedRequest', 'x25519-hpke')),
    ...opt('validSm', rate('ValidSealedRequest', 'sm2-sm4-gcm')),
  };
  const missing = NATIVE_MEASURES.filter((k) => rates[k] === undefined);
  if (missing.length > 0) throw new Error(`go test -bench printed no ns/op for ${missing.join(', ')}`);
  const forgedX25519 = rate('ForgedRejection', 'x25519-hpke');
  const forgedSm = rate('ForgedRejection', 'sm2-sm4-gcm');
  return { rates, runtime, ...(forgedX25519 !== undefined ? { forgedX25519 } : {}), ...(forgedSm !== undefined ? { forgedSm } : {}) };
}

// ---------------------------------------------------------------------------------------------

export async function runNativeBench(options: NativeBenchOptions): Promise<NativeBenchResult> {
  const started = performance.now();
  const progress = options.progress;
  const seconds = nativeSeconds(options.quick);
  const rows: NativeRow[] = [];

  const nodeRow: NativeRow = {
    language: 'node',
    label: 'Node (@wxseal/server Verifier)',
    status: 'failed',
    runtime: `Node ${process.version}`,
    command: `in the bench's process: verifier.verifyOrFailure (forged) / verifier.verify + verifier.sealResponse (valid), ${seconds} s of CPU each`,
    timing: 'process.cpuUsage() of the bench process (user + system, every thread: GC included), one request at a time, each awaited',
    elapsedS: 0,
  };
  let t = performance.now();
  try {
    const n = await measureNode(seconds, progress);
    Object.assign(nodeRow, { status: 'ok', ...ratesFrom(n.rates), forgedSmPerSec: Math.round(n.forgedSm) });
  } catch (err) {
    nodeRow.reason = (err as Error).message;
    progress?.line(`[native] Node: FAILED: ${nodeRow.reason}`);
  }
  nodeRow.elapsedS = elapsedSince(t);
  rows.push(nodeRow);

  const javaRow: NativeRow = {
    language: 'java',
    label: 'Java (java/, dev.wxseal.Verifier)',
    status: 'failed',
    command: `java -cp java/build/wxseal.jar:java/build/examples.jar:${BCPROV_JAR} ${JAVA_MAIN} ${seconds}`,
    timing: "the thread's CPU time (ThreadMXBean), one request at a time, after a warm-up of a fifth of the time (the JIT compiles then)",
    elapsedS: 0,
  };
  t = performance.now();
  try {
    const j = await measureJava(seconds, options.quick, progress);
    Object.assign(javaRow, { status: 'ok', runtime: j.runtime, ...ratesFrom(j.rates), ...(j.forgedSm !== undefined ? { forgedSmPerSec: Math.round(j.forgedSm) } : {}) });
    if (j.built) javaRow.command = `sh java/build.sh && ${javaRow.command}`;
  } catch (err) {
    javaRow.reason = (err as Error).message;
    if (err instanceof ToolchainMissing) javaRow.toolchainMissing = true;
    progress?.line(`[native] Java: FAILED: ${javaRow.reason}`);
  }
  javaRow.elapsedS = elapsedSince(t);
  rows.push(javaRow);

  const goRow: NativeRow = {
    language: 'go',
    label: 'Go (go/, wxseal.dev/go Verifier)',
    status: 'failed',
    command: `cd go && GOPROXY=off GOFLAGS=-mod=mod GOCACHE=${GO_CACHE} go ${goArgs(options.quick).join(' ')}`,
    timing: 'ns/op of go test -bench with GOMAXPROCS=1 (wall-clock time of the benchmark loop; the rest of the bench is idle meanwhile)',
    elapsedS: 0,
  };
  t = performance.now();
  try {
    const g = await measureGo(options.quick, progress);
    Object.assign(goRow, {
      status: 'ok',
      runtime: g.runtime,
      ...ratesFrom(g.rates),
      ...(g.forgedX25519 !== undefined ? { forgedX25519PerSec: Math.round(g.forgedX25519) } : {}),
      ...(g.forgedSm !== undefined ? { forgedSmPerSec: Math.round(g.forgedSm) } : {}),
    });
  } catch (err) {
    goRow.reason = (err as Error).message;
    if (err instanceof ToolchainMissing) goRow.toolchainMissing = true;
    progress?.line(`[native] Go: FAILED: ${goRow.reason}`);
  }
  goRow.elapsedS = elapsedSince(t);
  rows.push(goRow);

  // Ratios to Node, per measurement.
  const node = nodeRow.status === 'ok' ? nodeRow.perSec : undefined;
  if (node) {
    for (const row of rows) {
      if (row.status !== 'ok' || !row.perSec) continue;
      const vs: NativeRates = {};
      for (const k of NATIVE_MEASURES) {
        const a = row.perSec[k];
        const b = node[k];
        if (a !== undefined && b !== undefined && b > 0) vs[k] = Math.round((a / b) * 100) / 100;
      }
      row.vsNode = vs;
    }
  }

  const failed = rows.filter((r) => r.status !== 'ok' && !r.toolchainMissing);
  const missing = rows.filter((r) => r.toolchainMissing);
  const method = `Each language's verifier in its own runtime, in-process, one thread, no HTTP: forged rejections (a real sealed request under the RSA server key whose signature is replaced by random bytes: the verifier answers WXSEAL_BAD_SIGNATURE after one HMAC; each language checks that no unwrap happened) and valid sealed requests (verify, with a fresh nonce each in the memory nonce store, unwrap, AES-GCM decrypt, then a sealed 200 answer of ${ANSWER.length} B), for an RSA-OAEP-2048, an X25519 (HPKE) and an SM2 server key (the SM suite: SM2 unwrap, SM4-GCM, HMAC-SM3; Node through @wxseal/gm (SM2 decryption on OpenSSL's curve arithmetic, SM4-GCM in JavaScript from sm-crypto-v2), Java through Bouncy Castle, Go through tjfoc/gmsm). Requests are built before each measurement and not timed. Node and Java send the same ${BODY.length} B JSON body with a two-field identity (Java's Benchmark main); Go sends its bench_test.go's 21 B body. ${seconds} s per measurement (Java's argument, Node's CPU seconds, Go's -benchtime ${goBenchtime(options.quick)}). Node and Java count CPU time; Go reports wall-clock ns/op with GOMAXPROCS=1. The three run one after the other while nothing else of the bench runs.`;
  return {
    status: failed.length > 0 ? 'failed' : 'ok',
    ...(failed.length > 0 || missing.length > 0 ? { reason: [...failed, ...missing].map((r) => `${r.language}: ${r.reason ?? 'failed'}`).join('; ') } : {}),
    method,
    secondsPerMeasurement: seconds,
    rows,
    summary: nativeSummary(rows),
    elapsedS: elapsedSince(started),
  };
}

const LANGUAGE_NAME: Record<NativeLanguage, string> = { node: 'Node', java: 'Java', go: 'Go' };
const MEASURE_LABEL: Record<NativeMeasure, string> = {
  forged: 'forged rejections',
  validRsa: 'valid RSA-OAEP-2048 requests',
  validX25519: 'valid X25519 requests',
  validSm: 'valid SM-suite (SM2) requests',
};

/** µs with two decimals below 100, whole above. */
function microsText(v: number): string {
  return v < 100 ? v.toFixed(2) : fmt(v);
}

/**
 * The generated paragraph: per measurement, the fastest language and the others against it; the
 * forged/valid gap per language; what dominates a valid RSA request.
 */
export function nativeSummary(rows: readonly NativeRow[]): string {
  const ok = rows.filter((r) => r.status === 'ok' && r.perSec);
  if (ok.length === 0) return 'No verifier was measured.';
  const sentences: string[] = [];
  for (const k of NATIVE_MEASURES) {
    const have = ok.filter((r) => r.perSec![k] !== undefined).sort((a, b) => b.perSec![k]! - a.perSec![k]!);
    if (have.length === 0) continue;
    const best = have[0]!;
    const others = have.slice(1).map((r) => `${LANGUAGE_NAME[r.language]} ${(best.perSec![k]! / r.perSec![k]!).toFixed(2)}× slower (${microsText(r.micros![k]!)} µs)`);
    sentences.push(
      `For ${MEASURE_LABEL[k]}, ${LANGUAGE_NAME[best.language]} is the fastest per core at ${fmt(best.perSec![k]!)}/s (${microsText(best.micros![k]!)} µs each)${others.length > 0 ? `; ${others.join(', ')}` : ''}.`,
    );
  }
  const gaps = ok
    .filter((r) => r.perSec!.forged !== undefined && r.perSec!.validRsa !== undefined)
    .map((r) => `${LANGUAGE_NAME[r.language]} ${fmt(r.perSec!.forged! / r.perSec!.validRsa!)}`);
  if (gaps.length > 0) {
    sentences.push(
      `In every language a forged request costs a small fraction of a valid RSA one (forged rejections per valid RSA request: ${gaps.join(', ')}): verifying the HMAC first keeps a forged flood from paying for an unwrap, whichever language verifies.`,
    );
  }
  if (ok.filter((r) => r.perSec!.validRsa !== undefined).length > 1) {
    const range = (k: NativeMeasure): string => {
      const us = ok.map((r) => r.micros![k]).filter((v): v is number => v !== undefined);
      const lo = Math.min(...us);
      const hi = Math.max(...us);
      return lo === hi ? `${microsText(lo)} µs` : `${microsText(lo)}–${microsText(hi)} µs`;
    };
    sentences.push(
      `A valid RSA request is dominated by the RSA-2048 private-key operation of the unwrap, so that column compares RSA implementations more than verifiers: OpenSSL in Node (node:crypto), the JDK's own providers in Java, crypto/rsa (math/big) in Go. Forged rejections (${range('forged')}) and X25519 requests (${range('validX25519')}) are short enough that the work around the cryptography (header parsing, allocations, each runtime's way into its crypto) is a large share of them; there, differences of 10–20 % move from run to run on a shared machine.`,
    );
  }
  return sentences.join(' ');
}

/** The BENCHMARKS.md section. */
export function nativeMarkdown(n: NativeBenchResult, mdCell: (s: string) => string): string[] {
  const out = ['## Native verifiers: Node, Java, Go (per core, in-process)', ''];
  out.push(`${n.status === 'ok' ? (n.reason ? `Not measured here: ${mdCell(n.reason)}. ` : '') : `**FAILED**: ${mdCell(n.reason ?? '')}. `}Method: ${mdCell(n.method)} Took ${n.elapsedS} s.`, '');
  out.push('| language | forged rejections/s | valid RSA-2048/s | valid X25519/s | valid SM2/s | µs per forged | µs per valid RSA | µs per valid X25519 | µs per valid SM2 | vs Node: forged / RSA / X25519 / SM2 | runtime |');
  out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  const rate = (v: number | undefined): string => (v === undefined ? '–' : fmt(v));
  const us = (v: number | undefined): string => (v === undefined ? '–' : v < 100 ? v.toFixed(2) : v.toFixed(0));
  const ratio = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(2));
  for (const r of n.rows) {
    if (r.status !== 'ok') {
      out.push(`| ${mdCell(r.label)} | ${r.toolchainMissing ? 'not measured' : 'FAILED'}: ${mdCell(r.reason ?? '')} | | | | | | | | | ${mdCell(r.runtime ?? '')} |`);
      continue;
    }
    const p = r.perSec ?? {};
    const m = r.micros ?? {};
    const v = r.vsNode;
    out.push(
      `| ${mdCell(r.label)} | ${rate(p.forged)} | ${rate(p.validRsa)} | ${rate(p.validX25519)} | ${rate(p.validSm)} | ${us(m.forged)} | ${us(m.validRsa)} | ${us(m.validX25519)} | ${us(m.validSm)} | ${v ? `${ratio(v.forged)} / ${ratio(v.validRsa)} / ${ratio(v.validX25519)} / ${ratio(v.validSm)}` : '–'} | ${mdCell(r.runtime ?? '')} |`,
    );
  }
  out.push('');
  out.push(mdCell(n.summary), '');
  const go = n.rows.find((r) => r.language === 'go' && r.forgedX25519PerSec !== undefined);
  if (go) out.push(`Go also rejects a forged request carrying an X25519 envelope: ${fmt(go.forgedX25519PerSec!)}/s (the forged column uses the RSA envelope in every language).`, '');
  const sm = n.rows.filter((r) => r.status === 'ok' && r.forgedSmPerSec !== undefined);
  if (sm.length > 0) {
    out.push(
      `Forged SM-suite requests (one HMAC-SM3 over an SM3 body hash, no SM2 decryption) are rejected at ${sm.map((r) => `${fmt(r.forgedSmPerSec!)}/s in ${LANGUAGE_NAME[r.language]}`).join(', ')}: against the valid SM2 column, a forged SM flood costs ${sm
        .filter((r) => r.perSec?.validSm)
        .map((r) => `${LANGUAGE_NAME[r.language]} ${fmt(r.forgedSmPerSec! / r.perSec!.validSm!)}×`)
        .join(', ')} less per request.`,
      '',
    );
  }
  out.push('How each was run and timed:', '');
  for (const r of n.rows) out.push(`- **${LANGUAGE_NAME[r.language]}**: \`${r.command}\`; ${mdCell(r.timing)} (${r.elapsedS} s with its setup).`);
  out.push('');
  return out;
}

export function nativeTerminal(n: NativeBenchResult, table: (rows: string[][], right: ReadonlySet<number>) => string): string[] {
  const rate = (v: number | undefined): string => (v === undefined ? '–' : fmt(v));
  const ratio = (v: number | undefined): string => (v === undefined ? '–' : `${v.toFixed(2)}×`);
  const rows = n.rows.map((r) =>
    r.status === 'ok'
      ? [LANGUAGE_NAME[r.language], rate(r.perSec?.forged), rate(r.perSec?.validRsa), rate(r.perSec?.validX25519), rate(r.perSec?.validSm), `${ratio(r.vsNode?.forged)} / ${ratio(r.vsNode?.validRsa)} / ${ratio(r.vsNode?.validX25519)} / ${ratio(r.vsNode?.validSm)}`]
      : [LANGUAGE_NAME[r.language], r.toolchainMissing ? 'not measured' : 'FAILED', '', '', '', r.reason ?? ''],
  );
  return [table([['native verifiers, per core', 'forged/s', 'valid RSA/s', 'valid X25519/s', 'valid SM2/s', 'vs Node'], ...rows], new Set([1, 2, 3, 4]))];
}
