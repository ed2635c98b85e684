/**
 * The load generator: its own process, so the servers under test never share an event loop with
 * the client that measures them. For each job it
 *
 *   1. builds the request pool (the real @wxseal/client, captured on the wire; see pool.ts),
 *   2. checks a sample of pooled requests one by one against the target (status, Wxseal-Error,
 *      sealed response), and for valid traffic makes real client calls whose sealed answers must
 *      open and carry the upstream's document,
 *   3. warms the target up, then measures with autocannon, each request taken from the pool
 *      exactly once (a replayed nonce would be rejected and measure the wrong thing),
 *   4. checks that every response had the expected status and checks a last sample.
 *
 * Any mismatch aborts the scenario with a message saying what was expected and what came back.
 */
import autocannon, { type Instance, type RequestData, type Result } from 'autocannon';
import { Agent, Pool, request, type Dispatcher } from 'undici';
import { createClient, type ClientOptions } from '@wxseal/client';
import { b64uDecodeStrict, b64uEncode } from '@wxseal/protocol/primitives';
import { deviceKeyOf } from '../device-serials.js';
import { readBenchKeys } from '../keys.js';
import { announceReady } from '../process.js';
import {
  BENCH_PATH,
  IDENTITY,
  benchPayload,
  captureClientRequests,
  checkSameShape,
  distinctHeaderValues,
  generateDeviceSignedRequests,
  generateSealedRequests,
  plainRequest,
  serverKeyFor,
  type WireRequest,
} from './pool.js';
import type { Expectation, LoadJob, LoadResult, LoadgenMessage } from './types.js';

const NONCE_WINDOW_S = 60;
const keys = readBenchKeys();

function send(message: LoadgenMessage): void {
  process.send?.(message);
}

class ScenarioAborted extends Error {}

function describeExpectation(e: Expectation): string {
  return `${e.status}${e.code ? ` ${e.code}` : ''}${e.sealed ? ' (sealed)' : ''}`;
}

/** undici's TLS options for an HTTPS target; `maxCachedSessions: 0` makes every new connection a full handshake. */
function connectOptions(job: LoadJob): { ca: string; servername?: string; maxCachedSessions: number } | undefined {
  if (!job.tls) return undefined;
  return { ca: job.tls.ca, ...(job.tls.servername ? { servername: job.tls.servername } : {}), maxCachedSessions: job.tls.sessionResumption ? 100 : 0 };
}

/** Sends pooled requests one at a time and checks each response; throws ScenarioAborted on a mismatch. */
async function checkSample(job: LoadJob, sample: readonly WireRequest[], when: string): Promise<string> {
  const connect = connectOptions(job);
  const dispatcher: Dispatcher | undefined = connect ? new Agent({ connect }) : undefined;
  try {
    return await checkSampleWith(job, sample, when, dispatcher);
  } finally {
    await dispatcher?.close();
  }
}

async function checkSampleWith(job: LoadJob, sample: readonly WireRequest[], when: string, dispatcher: Dispatcher | undefined): Promise<string> {
  for (const r of sample) {
    const res = await request(new URL(r.path, job.url), { method: r.method as 'POST', headers: r.headers, body: r.body, ...(dispatcher ? { dispatcher } : {}) });
    const body = Buffer.from(await res.body.arrayBuffer());
    const code = res.headers['wxseal-error'];
    const type = res.headers['content-type'];
    const problems: string[] = [];
    if (res.statusCode !== job.expect.status) problems.push(`status ${res.statusCode}`);
    if (job.expect.code !== undefined && code !== job.expect.code) problems.push(`Wxseal-Error ${String(code ?? '(none)')}`);
    if (job.expect.code === undefined && code !== undefined) problems.push(`Wxseal-Error ${String(code)}`);
    if (job.expect.sealed && (type !== 'application/vnd.wxseal.sealed' || res.headers['wxseal-response-nonce'] === undefined)) {
      problems.push(`an unsealed response (content-type ${String(type)})`);
    }
    if (problems.length > 0) {
      throw new ScenarioAborted(
        `sanity check ${when} failed: expected ${describeExpectation(job.expect)}, got ${problems.join(', ')}; body: ${body.toString('utf8').slice(0, 200)}`,
      );
    }
  }
  return `${sample.length} pooled requests ${when} answered ${describeExpectation(job.expect)}`;
}

/** Valid traffic: real client calls through the target must come back sealed, open, and carry the upstream's answer. */
async function checkEndToEnd(job: LoadJob): Promise<string> {
  const options: ClientOptions = {
    baseUrl: job.url,
    keyId: keys.keyId,
    secret: keys.secret,
    serverPublicKey: serverKeyFor(keys, job.traffic).publicKeyPem,
    serverKeyId: serverKeyFor(keys, job.traffic).id,
    mode: 'sealed',
    retry: { maxAttempts: 1 },
    ...(job.extraClientOptions ?? {}),
    ...(job.tls ? { tls: { ca: job.tls.ca, ...(job.tls.servername ? { servername: job.tls.servername } : {}) } } : {}),
  };
  const client = createClient(options);
  const payload = benchPayload(job.bodyBytes);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await client.post(BENCH_PATH, { json: payload.json, identity: IDENTITY });
      const doc = res.json<{ ok?: unknown; receivedBytes?: unknown }>();
      if (res.status !== 200 || doc.ok !== true || doc.receivedBytes !== payload.bytes.length) {
        throw new ScenarioAborted(`end-to-end check failed: status ${res.status}, body ${res.text().slice(0, 200)}`);
      }
    }
  } catch (err) {
    if (err instanceof ScenarioAborted) throw err;
    throw new ScenarioAborted(`end-to-end check failed: the client call threw ${(err as Error).message}`);
  } finally {
    client.close();
  }
  return job.traffic === 'device-signed'
    ? '3 real client calls, signed with a device key (sign-only mode), verified the signed answer and found the upstream document (the exact body reached the upstream)'
    : job.traffic === 'sealed-sm'
      ? '3 real client calls with the SM2 server key opened the sealed answer with the SM suite (HKDF-SM3, SM4-GCM) and found the upstream document (the exact plaintext reached the upstream)'
      : '3 real client calls opened the sealed answer and found the upstream document (the exact plaintext reached the upstream)';
}

interface PoolCursor {
  take(): WireRequest;
  /** Requests handed out so far. */
  readonly taken: number;
  readonly exhausted: boolean;
}

/** Hands out the pool in order, shared by every connection; distinct pools are never wrapped around. */
function cursor(pool: readonly WireRequest[], cycle: boolean): PoolCursor {
  let next = 0;
  let taken = 0;
  let exhausted = false;
  return {
    take() {
      taken++;
      if (next >= pool.length) {
        if (!cycle) {
          exhausted = true;
          return pool[pool.length - 1]!; // the run is being stopped; this replay is reported
        }
        next = 0;
      }
      return pool[next++]!;
    },
    get taken() {
      return taken;
    },
    get exhausted() {
      return exhausted;
    },
  };
}

/** One autocannon run over the pool; aborts early when responses stop matching the expectation. */
async function runAutocannon(
  job: LoadJob,
  pool: PoolCursor,
  seconds: number,
  phase: 'warmup' | 'measuring',
): Promise<{ result: Result; abort: string | undefined }> {
  let instance: Instance | undefined;
  let abort: string | undefined;
  const stop = (reason: string): void => {
    if (abort === undefined) abort = reason;
    instance?.stop();
  };
  const setupRequest = (req: RequestData): RequestData => {
    const r = pool.take();
    if (pool.exhausted) stop(`the request pool was exhausted after ${pool.taken - 1} requests; run again with a larger --pool-factor`);
    return { ...req, method: r.method, path: r.path, headers: { ...r.headers }, body: r.body };
  };
  instance = autocannon({
    url: job.url,
    connections: job.connections,
    duration: seconds,
    pipelining: 1,
    timeout: 10,
    requests: [{ setupRequest }],
    renderProgressBar: false,
    renderResultsTable: false,
    renderLatencyTable: false,
  });
  if (abort !== undefined) instance.stop(); // decided while autocannon built its first requests
  let seen = 0;
  let unexpected = 0;
  const unexpectedStatuses = new Map<number, number>();
  instance.on('response', (_client: unknown, statusCode: number) => {
    seen++;
    if (statusCode !== job.expect.status) {
      unexpected++;
      unexpectedStatuses.set(statusCode, (unexpectedStatuses.get(statusCode) ?? 0) + 1);
      if (unexpected >= 20 && unexpected > seen * 0.01) {
        const got = [...unexpectedStatuses].map(([s, n]) => `${n} × ${s}`).join(', ');
        stop(`expected every response to be ${job.expect.status}, got ${got} out of ${seen}`);
      }
    }
  });
  let errors = 0;
  instance.on('reqError', () => {
    errors++;
    if (errors >= 50) stop(`${errors} requests failed (connection errors or timeouts)`);
  });
  let elapsed = 0;
  instance.on('tick', (tick: { counter: number }) => {
    elapsed++;
    send({ type: 'progress', phase, elapsedS: Math.min(elapsed, seconds), totalS: seconds, reqPerSec: tick.counter });
  });
  const result = await instance;
  return { result, abort };
}

/** What a closed-loop run measured: every request's latency (ms, sub-microsecond resolution). */
interface ClosedLoopResult {
  latenciesMs: Float64Array;
  statusCodes: Record<string, number>;
  errors: number;
  seconds: number;
  abort: string | undefined;
}

/**
 * `requests` pooled requests from `connections` senders, each sending its next request when its
 * last answer is complete (closed loop, as a caller awaiting each call does). autocannon records
 * whole milliseconds, too coarse for sub-millisecond answers at concurrency 1; here each request
 * is timed with hrtime from the send to the last byte of its answer.
 */
async function runClosedLoop(job: LoadJob, pool: PoolCursor, requests: number, phase: 'warmup' | 'measuring'): Promise<ClosedLoopResult> {
  const origin = new URL(job.url).origin;
  const connect = connectOptions(job);
  const dispatcher = new Pool(origin, { connections: job.connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000, ...(connect ? { connect } : {}) });
  const reset = job.connectionPerRequest === true;
  const latenciesMs = new Float64Array(requests);
  const statusCodes: Record<string, number> = {};
  let next = 0;
  let done = 0;
  let errors = 0;
  let unexpected = 0;
  let abort: string | undefined;
  const started = performance.now();
  let lastTick = started;
  const sender = async (): Promise<void> => {
    while (abort === undefined && next < requests) {
      const slot = next++;
      const r = pool.take();
      if (pool.exhausted) {
        abort = `the request pool was exhausted after ${pool.taken - 1} requests`;
        return;
      }
      const t0 = process.hrtime.bigint();
      try {
        const res = await dispatcher.request({ origin, path: r.path, method: r.method as 'POST', headers: r.headers, body: r.body, reset });
        for await (const _chunk of res.body) void _chunk; // the whole answer, as a caller reads it
        latenciesMs[slot] = Number(process.hrtime.bigint() - t0) / 1e6;
        statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1;
        if (res.statusCode !== job.expect.status && ++unexpected >= 5) abort = `expected every response to be ${job.expect.status}, got ${JSON.stringify(statusCodes)}`;
      } catch (err) {
        latenciesMs[slot] = Number.NaN;
        if (++errors >= 5) abort = `${errors} requests failed: ${(err as Error).message}`;
      }
      done++;
      const now = performance.now();
      if (now - lastTick >= 1000) {
        lastTick = now;
        send({ type: 'progress', phase, elapsedS: Math.round((now - started) / 1000), totalS: 0, reqPerSec: Math.round((1000 * done) / (now - started)) });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(job.connections, requests) }, sender));
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  // A failed request's slot is NaN; after an abort the untaken slots are never read (the run is reported failed).
  return { latenciesMs: latenciesMs.filter((x) => !Number.isNaN(x)), statusCodes, errors, seconds, abort };
}

/** Percentiles of the measured latencies (nearest rank). */
function summarize(latenciesMs: Float64Array): { p50: number; p97_5: number; p99: number; average: number; max: number } {
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { p50: round(at(0.5)), p97_5: round(at(0.975)), p99: round(at(0.99)), average: round(sorted.length ? sum / sorted.length : 0), max: round(sorted.length ? sorted[sorted.length - 1]! : 0) };
}

function statusCounts(result: Result): Record<string, number> {
  return Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, { count }]) => [status, count]));
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  const checks: string[] = [];
  const t0 = performance.now();
  let pool: WireRequest[];
  const payload = benchPayload(job.bodyBytes);
  if (job.traffic === 'plain') {
    pool = [plainRequest(payload.bytes)];
  } else {
    send({ type: 'progress', phase: 'generating', elapsedS: 0, totalS: 0, done: 0 });
    // The whole pool must stay inside the nonce window until the run ends: building it may take
    // what the window leaves after the warm-up, the run and a margin for the checks.
    const budgetS = NONCE_WINDOW_S - 10 - job.warmupS - job.durationS;
    const onProgress = (done: number): void => send({ type: 'progress', phase: 'generating', elapsedS: (performance.now() - t0) / 1000, totalS: 0, done });
    if (job.traffic === 'device-signed') {
      if (!job.devices) throw new Error('device-signed traffic needs job.devices');
      pool = await generateDeviceSignedRequests({
        devices: job.devices.count,
        runSecret: b64uDecodeStrict(job.devices.runSecret)!,
        count: job.poolSize,
        deadline: t0 + Math.max(1, budgetS) * 1000,
        onProgress,
      });
      // The real client, signing as the pool's first device (sign-only mode), for the shape and
      // end-to-end checks.
      const serial = pool[0]!.headers['wxseal-key-id']!;
      job = { ...job, extraClientOptions: { keyId: serial, secret: b64uEncode(deviceKeyOf(b64uDecodeStrict(job.devices.runSecret)!, serial)), mode: 'signed' } };
    } else pool = await generateSealedRequests({
      keys,
      count: job.poolSize,
      deadline: t0 + Math.max(1, budgetS) * 1000,
      forged: job.traffic === 'forged',
      x25519: job.traffic === 'sealed-x25519',
      sm: job.traffic === 'sealed-sm',
      body: payload.bytes,
      ...(job.reuseMaxMessages !== undefined ? { reuseMaxMessages: job.reuseMaxMessages } : {}),
      onProgress,
    });
  }
  const generationMs = Math.round(performance.now() - t0);
  if (pool.length < job.poolSize) {
    checks.push(`the pool was cut to ${pool.length} of ${job.poolSize} requests to stay inside the nonce window (building took ${(generationMs / 1000).toFixed(1)} s)`);
  }
  const distinctWrappedKeys = job.traffic === 'plain' || job.traffic === 'device-signed' ? undefined : distinctHeaderValues(pool, 'wxseal-wrapped-key');
  const distinctDevices = job.traffic === 'device-signed' ? distinctHeaderValues(pool, 'wxseal-key-id') : undefined;
  const poolSummary = (used: number) => ({
    size: pool.length,
    used,
    generationMs,
    ...(distinctWrappedKeys !== undefined ? { distinctWrappedKeys } : {}),
    ...(distinctDevices !== undefined ? { distinctDevices } : {}),
  });
  const empty = (error: string, used = 0): LoadResult => ({
    ok: false,
    error,
    checks,
    reqPerSec: 0,
    reqPerSecSampleMean: 0,
    latencyMs: { p50: 0, p97_5: 0, p99: 0, average: 0, max: 0 },
    totalResponses: 0,
    durationS: 0,
    statusCodes: {},
    errors: 0,
    timeouts: 0,
    pool: poolSummary(used),
  });

  // Distinct pools: the first `sampleSize` requests are the pre-run sample, the last ones the
  // post-run sample; autocannon gets what is in between.
  const distinct = !job.cycle;
  const sampleSize = distinct ? Math.min(job.sampleSize, Math.max(1, Math.floor(pool.length / 4))) : job.sampleSize;
  const cycled = (n: number): WireRequest[] => Array.from({ length: n }, (_, i) => pool[i % pool.length]!);
  const before = distinct ? pool.slice(0, sampleSize) : cycled(sampleSize);
  const after = distinct ? pool.slice(pool.length - sampleSize) : cycled(sampleSize);
  const loadPool = distinct ? pool.slice(sampleSize, pool.length - sampleSize) : pool;

  try {
    send({ type: 'progress', phase: 'checking', elapsedS: 0, totalS: 0 });
    if (job.traffic !== 'plain') {
      const [fromClient] = await captureClientRequests({
        keys,
        count: 1,
        forged: job.traffic === 'forged',
        json: payload.json,
        extraClientOptions: { serverPublicKey: serverKeyFor(keys, job.traffic).publicKeyPem, serverKeyId: serverKeyFor(keys, job.traffic).id, ...job.extraClientOptions },
      });
      try {
        checkSameShape(pool[0]!, fromClient!);
      } catch (err) {
        throw new ScenarioAborted((err as Error).message);
      }
      checks.push('the pooled requests have the shape of requests captured from @wxseal/client (headers, envelope size)');
    }
    checks.push(await checkSample(job, before, 'before the run'));
    if (job.expect.status === 200 && job.traffic !== 'plain') checks.push(await checkEndToEnd(job));

    if (distinct) {
      // Every pooled request carries the time it was built; all of them must still be inside
      // the server's window when the last one is sent.
      const oldest = Number(pool[0]!.headers['wxseal-timestamp']);
      const endAt = Date.now() / 1000 + job.warmupS + job.durationS + 2;
      if (Number.isFinite(oldest) && endAt - oldest > NONCE_WINDOW_S - 5) {
        throw new ScenarioAborted(
          `the pool would leave the ${NONCE_WINDOW_S} s nonce window before the run ends (generation took ${Math.round(generationMs / 1000)} s); use a shorter --duration`,
        );
      }
    }

    const cur = cursor(loadPool, job.cycle);
    if (job.fixed) {
      if (job.fixed.warmupRequests > 0) {
        const warm = await runClosedLoop(job, cur, job.fixed.warmupRequests, 'warmup');
        if (warm.abort) throw new ScenarioAborted(`during warm-up: ${warm.abort}`);
      }
      const run = await runClosedLoop(job, cur, job.fixed.requests, 'measuring');
      const total = Object.values(run.statusCodes).reduce((a, b) => a + b, 0);
      const measured: LoadResult = {
        ok: run.abort === undefined,
        ...(run.abort !== undefined ? { error: run.abort } : {}),
        checks,
        reqPerSec: run.seconds > 0 ? total / run.seconds : 0,
        reqPerSecSampleMean: run.seconds > 0 ? total / run.seconds : 0,
        latencyMs: summarize(run.latenciesMs),
        totalResponses: total,
        durationS: Math.round(run.seconds * 1000) / 1000,
        statusCodes: run.statusCodes,
        errors: run.errors,
        timeouts: 0,
        pool: poolSummary(cur.taken + 2 * sampleSize),
      };
      if (!measured.ok) return measured;
      if (total !== job.fixed.requests || (run.statusCodes[String(job.expect.status)] ?? 0) !== total) {
        return { ...measured, ok: false, error: `expected ${job.fixed.requests} responses of ${job.expect.status}, got ${JSON.stringify(run.statusCodes)} and ${run.errors} errors` };
      }
      checks.push(`all ${total} timed requests were answered ${job.expect.status}`);
      checks.push(await checkSample(job, after, 'after the run'));
      return { ...measured, checks };
    }
    if (job.warmupS > 0) {
      const warm = await runAutocannon(job, cur, job.warmupS, 'warmup');
      if (warm.abort) throw new ScenarioAborted(`during warm-up: ${warm.abort}`);
    }
    const { result, abort } = await runAutocannon(job, cur, job.durationS, 'measuring');
    const counts = statusCounts(result);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const measured: LoadResult = {
      ok: true,
      checks,
      reqPerSec: result.duration > 0 ? total / result.duration : 0,
      reqPerSecSampleMean: result.requests.average,
      latencyMs: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, average: result.latency.average, max: result.latency.max },
      totalResponses: total,
      durationS: result.duration,
      statusCodes: counts,
      errors: result.errors,
      timeouts: result.timeouts,
      pool: poolSummary(cur.taken + 2 * sampleSize),
    };
    if (abort) return { ...measured, ok: false, error: abort };
    const wrong = total - (counts[String(job.expect.status)] ?? 0);
    if (wrong > 0 || total === 0) {
      return { ...measured, ok: false, error: `expected every response to be ${job.expect.status}, got ${JSON.stringify(counts)}` };
    }
    if (result.errors > 0) checks.push(`${result.errors} request errors or timeouts during the run (not counted as responses)`);
    checks.push(`all ${total} responses of the run were ${job.expect.status}`);
    checks.push(await checkSample(job, after, 'after the run'));
    return { ...measured, checks };
  } catch (err) {
    if (err instanceof ScenarioAborted) return empty(err.message);
    return empty(`load generator failed: ${(err as Error).stack ?? String(err)}`);
  }
}

announceReady({});
process.on('message', (job: LoadJob) => {
  runJob(job).then(
    (result) => send({ type: 'result', result }),
    (err: unknown) => send({ type: 'result', result: { ok: false, error: String(err), checks: [] } as unknown as LoadResult }),
  );
});
