/**
 * `npm run bench`: runs every scenario once on this machine, prints a table, writes the JSON
 * results, BENCHMARKS.md and docs/benchmarks.svg. See packages/bench/README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { BENCH_PARTS, runBench, type BenchOptions, type BenchPart, type BenchReport, type ProgressSink } from './harness.js';
import { mergeReports } from './merge.js';
import { REPO_ROOT, abandon } from './process.js';
import { renderMarkdown, renderSvg, renderTerminal } from './report.js';
import { latencySvgPathFor, renderLatencySvg } from './latency-report.js';

const HELP = `wxseal bench — throughput and latency of wxseal against a plain proxy, on this machine

usage: npm run bench -- [options]

  --duration S        seconds measured per scenario (default 8; env WXSEAL_BENCH_DURATION)
  --warmup S          seconds of unmeasured load first (default 1; env WXSEAL_BENCH_WARMUP)
  --connections N     concurrent connections (default 50; env WXSEAL_BENCH_CONNECTIONS)
  --quick             smoke test: 2 s per scenario, short crypto runs (env WXSEAL_BENCH_QUICK=1)
  --only LIST         parts to run, e.g. a,b,e or latency or tls or devices or admin or fleet or native
                      (default: a,b,c,d,e,f,g,h,i,j,k,latency,tls,devices,admin,fleet,native);
                      a partial run replaces only its parts in an existing benchmarks.json and
                      BENCHMARKS.md, keeping the others from the last run
  --devices N         devices in the registries of the devices part, scenario (g) and admin (default
                      1000000, quick 20000; provisioning also stops after 30 s, quick 2 s (admin's
                      own registry: 60 s, quick 5 s), and reports the count)
  --crypto-seconds S  seconds per primitive for the crypto limits (default 1; quick 0.3)
  --pool-factor X     sealed request pools hold rate bound × seconds × X (default 1.3)
  --out-dir DIR       write benchmarks.json, BENCHMARKS.md and benchmarks.svg into DIR instead
  --json PATH         results JSON (default docs/benchmarks.json)
  --markdown PATH     report (default BENCHMARKS.md)
  --svg PATH          chart (default docs/benchmarks.svg; the latency chart goes next to it, benchmarks-latency.svg)
  --no-docs           write only the JSON, not BENCHMARKS.md and the chart
  -h, --help          this text

Durations are whole seconds (autocannon samples once per second) and at most 40: every sealed
request is generated before its run and must still be inside the server's 60 s nonce window.
The latency part times a fixed number of requests per cell (plain proxy and each suite × concurrency
1, 10, 100 × bodies of 100 B, 10 KB, 1 MB) instead of running for a duration; so does the tls
part (the gateway over HTTP and HTTPS, keep-alive and a new connection per request; certificates
made with the openssl command line).
The admin part runs after the scenarios and reuses (g)'s registry when (g) ran.
The native part runs the verifier per core in Node (in-process), Java (java/build.sh when its jars
are stale, then its Benchmark main) and Go (go test -bench in go/); a missing toolchain fails its row.
The fleet part uses PostgreSQL at 127.0.0.1:5432 (database test, a schema of its own) and Redis.
The devices part and scenario (g) use Redis at 127.0.0.1:6379 for L2 (env WXSEAL_BENCH_REDIS_URL);
without it, the devices part reports L2 as not measured and (g) runs with L1 + SQLite only.
`;

interface CliOptions {
  bench: BenchOptions;
  json: string;
  markdown: string | undefined;
  svg: string | undefined;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${HELP}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): CliOptions {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (!arg.startsWith('--')) fail(`unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'quick' || name === 'no-docs') flags.set(name, true);
    else if (inline !== undefined) flags.set(name, inline);
    else if (i + 1 < argv.length) flags.set(name, argv[++i]!);
    else fail(`--${name} needs a value`);
  }
  const known = new Set(['duration', 'warmup', 'connections', 'quick', 'only', 'crypto-seconds', 'pool-factor', 'devices', 'out-dir', 'json', 'markdown', 'svg', 'no-docs']);
  for (const name of flags.keys()) if (!known.has(name)) fail(`unknown option --${name}`);

  const text = (name: string, envName?: string): string | undefined => {
    const v = flags.get(name);
    if (typeof v === 'string') return v;
    return envName ? env[envName] || undefined : undefined;
  };
  const number = (name: string, envName: string | undefined, fallback: number, min: number, max: number, integer: boolean): number => {
    const raw = text(name, envName);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      fail(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${raw}`);
    }
    return n;
  };
  const quick = flags.has('quick') || env['WXSEAL_BENCH_QUICK'] === '1';
  const onlyText = text('only');
  let only: BenchPart[] | undefined;
  if (onlyText !== undefined) {
    only = onlyText.split(',').map((s) => s.trim().toLowerCase()) as BenchPart[];
    for (const id of only) if (!BENCH_PARTS.includes(id)) fail(`--only: unknown part ${id} (one of ${BENCH_PARTS.join(', ')})`);
  }
  const redisUrl = env['WXSEAL_BENCH_REDIS_URL'] || undefined;
  const bench: BenchOptions = {
    durationS: number('duration', 'WXSEAL_BENCH_DURATION', quick ? 2 : 8, 1, 40, true),
    warmupS: number('warmup', 'WXSEAL_BENCH_WARMUP', 1, 0, 10, true),
    connections: number('connections', 'WXSEAL_BENCH_CONNECTIONS', 50, 1, 1000, true),
    cryptoSeconds: number('crypto-seconds', undefined, quick ? 0.3 : 1, 0.05, 30, false),
    quick,
    poolFactor: number('pool-factor', undefined, 1.3, 1, 10, false),
    upstreamConnections: 64,
    sampleSize: 4,
    deviceRegistrySize: number('devices', undefined, quick ? 20_000 : 1_000_000, 1000, 10_000_000, true),
    ...(redisUrl ? { redisUrl } : {}),
    ...(only ? { only } : {}),
  };
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(process.cwd(), p));
  const outDir = text('out-dir');
  const docs = !flags.has('no-docs');
  const json = abs(text('json') ?? (outDir ? join(outDir, 'benchmarks.json') : join(REPO_ROOT, 'docs/benchmarks.json')));
  const markdown = docs ? abs(text('markdown') ?? (outDir ? join(outDir, 'BENCHMARKS.md') : join(REPO_ROOT, 'BENCHMARKS.md'))) : undefined;
  const svg = docs ? abs(text('svg') ?? (outDir ? join(outDir, 'benchmarks.svg') : join(REPO_ROOT, 'docs/benchmarks.svg'))) : undefined;
  return { bench, json, markdown, svg };
}

function progressSink(): ProgressSink {
  const tty = process.stderr.isTTY === true;
  let liveShown = false;
  let lastLive = 0;
  return {
    live(text) {
      if (tty) {
        process.stderr.write(`\r\x1b[K${text}`);
        liveShown = true;
      } else {
        // Not a terminal (CI, a pipe): at most one progress line every 2 s.
        const now = Date.now();
        if (now - lastLive >= 2000) {
          process.stderr.write(`${text}\n`);
          lastLive = now;
        }
      }
    },
    line(text) {
      process.stderr.write(`${tty && liveShown ? '\r\x1b[K' : ''}${text}\n`);
      liveShown = false;
    },
  };
}

function commandLine(argv: readonly string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  if (process.env['npm_lifecycle_event'] === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node --conditions=wxseal-source --import tsx packages/bench/src/run.ts${args ? ` ${args}` : ''}`;
}

/** The results a partial run merges into: the existing JSON, when it is a bench report. */
function readPrevious(path: string): BenchReport | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as BenchReport;
    if (json.schema === 'wxseal-bench/1' && Array.isArray(json.scenarios)) return json;
  } catch {
    // not a report: overwritten
  }
  process.stderr.write(`bench: ${path} is not a bench report; it is replaced by this run's results\n`);
  return undefined;
}

function write(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

// Stopped by Ctrl-C or a supervisor: no server or load generator outlives the run.
process.once('SIGINT', abandon);
process.once('SIGTERM', abandon);

const argv = process.argv.slice(2);
const cli = parseArgs(argv, process.env);
const report = await runBench({ ...cli.bench, progress: progressSink() }, commandLine(argv));

process.stdout.write(`\n${renderTerminal(report)}\n\n`);
// A partial run (--only) replaces its own parts in the last results and keeps the others.
const previous = cli.bench.only ? readPrevious(cli.json) : undefined;
const output = previous ? mergeReports(previous, report, cli.bench.only!) : report;
if (previous) process.stderr.write(`merged ${cli.bench.only!.join(', ')} into the results of \`${previous.command}\` (${previous.date})\n`);
write(cli.json, `${JSON.stringify(output, null, 2)}\n`);
const written = [cli.json];
if (cli.markdown && cli.svg) {
  const mdDir = dirname(cli.markdown);
  write(cli.svg, renderSvg(output));
  write(cli.markdown, renderMarkdown(output, relative(mdDir, cli.svg).split('\\').join('/'), relative(mdDir, cli.json).split('\\').join('/')));
  written.push(cli.markdown, cli.svg);
  if (output.latency) {
    write(latencySvgPathFor(cli.svg), renderLatencySvg(output.latency));
    written.push(latencySvgPathFor(cli.svg));
  }
}
process.stderr.write(`wrote ${written.map((p) => relative(process.cwd(), p) || p).join(', ')} (${report.elapsedS} s)\n`);
process.exit(report.sanityPassed ? 0 : 1);
