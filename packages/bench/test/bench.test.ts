// Smoke test of the bench harness: the whole pipeline (key generation, crypto limits, every
// server in its own process, the load generator, sanity checks, JSON/Markdown/SVG output) in its
// quickest mode. It checks that every scenario ran and passed its sanity checks, never the numbers:
// no performance assertion belongs in a test suite that shares its machine.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import type { BenchReport } from '../src/harness.js';
import type { LatencyCell } from '../src/latency-matrix.js';
import { runProcess } from '../../../tests/support/processes.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const runScript = fileURLToPath(new URL('../src/run.ts', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'wxseal-bench-test-'));
const partialOut = mkdtempSync(join(tmpdir(), 'wxseal-bench-test-partial-'));
after(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(partialOut, { recursive: true, force: true });
});

/** Runs the harness in a process group of its own, killed with its servers if it runs past the test's bound. */
async function runHarness(args: string[], timeoutMs = 390_000): Promise<{ code: number | null; stderr: string }> {
  const r = await runProcess(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', runScript, ...args], { cwd: repoRoot, timeoutMs });
  return { code: r.timedOut ? null : r.code, stderr: r.stderr.slice(-20_000) };
}

test('npm run bench --quick: every scenario, the latency matrix, the devices, admin, tls and native parts run and pass their sanity checks', { timeout: 560_000 }, async () => {
  // ~2 min on a quiet 2-core machine; seen at 5.5 min on a loaded one (the native part compiles and runs Java and Go).
  const { code, stderr } = await runHarness(['--quick', '--duration', '1', '--warmup', '0', '--connections', '8', '--crypto-seconds', '0.05', '--out-dir', out], 540_000);
  assert.equal(code, 0, `the harness failed:\n${stderr}`);

  const report = JSON.parse(readFileSync(join(out, 'benchmarks.json'), 'utf8')) as BenchReport;
  assert.equal(report.schema, 'wxseal-bench/1');
  assert.equal(report.sanityPassed, true);

  assert.deepEqual(
    report.crypto.map((c) => c.id),
    ['hmac', 'rsa-unwrap', 'x25519-unwrap', 'aes-gcm', 'body-sha256', 'response-hkdf', 'response-seal', 'sm-hmac', 'sm-body-sm3', 'sm2-unwrap', 'sm4-gcm', 'sm-response-hkdf', 'sm-response-seal'],
  );
  for (const c of report.crypto) assert.ok(c.opsPerSec > 0, `(e) ${c.id} has a positive rate`);
  assert.deepEqual(
    (report.client ?? []).map((c) => c.suite),
    ['rsa-oaep-256', 'x25519-hpke', 'sm2-sm4-gcm', 'session-key-reuse'],
    '(e) measured the client per suite',
  );
  for (const c of report.client ?? []) assert.ok(c.callMicros > 0 && c.primitivesMicros > 0, `(e) client ${c.suite} has positive costs`);

  assert.deepEqual(
    report.scenarios.map((s) => s.id),
    ['a', 'b', 'c', 'i', 'd', 'h', 'l', 'f', 'j', 'k', 'g'],
  );
  for (const s of report.scenarios) {
    if ((s.id === 'f' || s.id === 'k') && s.status === 'skipped') {
      // The session-key cache is optional: skipped only with a reason, never by crashing.
      assert.match(s.reason ?? '', /not available yet/);
      continue;
    }
    assert.equal(s.status, 'ok', `(${s.id}) ${s.reason ?? ''}`);
    assert.ok((s.reqPerSec ?? 0) > 0, `(${s.id}) has a positive req/s`);
    assert.ok((s.totalResponses ?? 0) > 0, `(${s.id}) got responses`);
    assert.ok(s.checks.some((c) => c.startsWith('all ')), `(${s.id}) checked every response of the run`);
    assert.ok(s.checks.some((c) => c.includes('after the run')), `(${s.id}) checked a sample after the run`);
    const expected = s.id === 'c' || s.id === 'd' || s.id === 'i' ? '401' : '200';
    assert.deepEqual(Object.keys(s.statusCodes ?? {}), [expected], `(${s.id}) only ${expected} responses`);
    assert.ok((s.serverCpuMicrosPerRequest ?? 0) > 0, `(${s.id}) measured the server's CPU per request`);
  }
  const byId = new Map(report.scenarios.map((s) => [s.id, s]));
  assert.equal(byId.get('c')!.upstreamRequests, 0, 'forged requests never reach the upstream');
  assert.equal(byId.get('d')!.upstreamRequests, 0, 'forged requests never reach the upstream (decrypt-first)');
  // (l): the SM suite (SPEC 6.6) through the real gateway, answers opened by the client with the SM suite.
  assert.ok(byId.get('l')!.checks.some((c) => c.includes('with the SM suite')), '(l) the real client opened SM-sealed answers');
  assert.ok(byId.get('l')!.checks.some((c) => c.includes('answered 200 (sealed)')), '(l) the pooled SM requests were answered sealed');

  const ratioIds = report.ratios.map((r) => r.id);
  assert.deepEqual(ratioIds, ['b/a', 'b/rsa', 'c/a', 'i/c cpu', 'c/d', 'c/d cpu', 'c/d crypto', 'f/a', 'f-a cpu', 'h/a', 'h-a cpu', 'l/a', 'l-a cpu', 'k/j', 'g/a']);
  for (const r of report.ratios.filter((x) => x.id !== 'f/a' && x.id !== 'f-a cpu' && x.id !== 'k/j')) assert.ok(r.value !== null && r.value > 0, `${r.id} computed`);

  // The devices part (in-process key lookups): it ran, and every number is positive.
  const devices = report.devices;
  assert.ok(devices, 'the devices part ran');
  assert.equal(devices.status, 'ok', `(devices) ${devices.reason ?? ''}`);
  assert.deepEqual(
    devices.latency.map((l) => l.id),
    ['l1-hit', 'l2-hit', 'l3-miss', 'bloom-reject'],
  );
  for (const l of devices.latency) {
    if (l.id === 'l2-hit' && l.status === 'skipped') {
      // Without a Redis at 127.0.0.1:6379, L2 is skipped with a reason, never by crashing.
      assert.match(l.reason ?? '', /not reachable/);
      continue;
    }
    assert.equal(l.status, 'ok', `(devices) ${l.id}`);
    assert.ok(l.samples > 0, `(devices) ${l.id} has samples`);
    for (const v of [l.p50Us, l.p99Us, l.meanUs]) assert.ok((v ?? 0) > 0, `(devices) ${l.id} has positive latencies`);
  }
  assert.equal(typeof devices.l1TargetMet, 'boolean');
  assert.ok(devices.bloom, '(devices) Bloom filter measured');
  assert.equal(devices.bloom.reduced, true, 'quick mode uses fewer than 10 M serials');
  assert.ok(devices.bloom.bytes > 0 && devices.bloom.probes > 0 && devices.bloom.falsePositiveRate > 0, '(devices) Bloom numbers are positive');
  assert.ok(devices.registry, '(devices) registry measured');
  assert.ok(devices.registry.devices > 0 && devices.registry.lookupsPerSec > 0 && devices.registry.provisionPerSec > 0, '(devices) registry numbers are positive');
  assert.ok(!devices.notMeasured.some((n) => n.includes('gateway')), 'the gateway throughput with device keys is measured by (g), not reported as unmeasured');
  // (g): signed device requests through the gateway over a provisioned registry.
  const g = byId.get('g')!;
  assert.ok(g.deviceRegistry && g.deviceRegistry.devices > 0, '(g) provisioned a device registry');
  assert.ok((g.deviceRegistry.distinctDevices ?? 0) > 1, '(g) the pool was signed by many devices');
  assert.ok(g.checks.some((c) => c.includes('device-signed requests')), '(g) the gateway verified and forwarded the device requests');

  // The admin part: device search and keyset paging through the gateway's admin API.
  const admin = report.admin;
  assert.ok(admin, 'the admin part ran');
  assert.equal(admin.status, 'ok', `(admin) ${admin.reason ?? ''}`);
  assert.equal(admin.registry?.reused, true, "(admin) reuses scenario (g)'s registry");
  assert.ok((admin.registry?.revoked ?? 0) > 0, '(admin) revoked devices for the status filter');
  for (const id of ['first-page', 'prefix-1', 'prefix-36', 'prefix-all', 'prefix-none', 'status-revoked']) {
    const q = admin.queries.find((x) => x.id === id);
    assert.ok(q, `(admin) measured ${id}`);
    assert.ok(q.http.samples > 0 && q.http.p50 > 0 && q.repo.p50 > 0 && q.ratioMean > 0, `(admin) ${id} has positive numbers`);
  }
  assert.equal(admin.paging?.pages, 200, '(admin) walked 200 pages');
  assert.ok((admin.paging?.httpPage1 ?? 0) > 0 && (admin.paging?.httpPageLast ?? 0) > 0, '(admin) timed page 1 and page 200');

  // The latency matrix: every suite × concurrency × body size timed, each request answered as expected.
  const latency = report.latency;
  assert.ok(latency, 'the latency part ran');
  assert.equal(latency.status, 'ok', `(latency) ${latency.reason ?? ''}`);
  const suites = [...new Set(latency.cells.map((c) => c.suite))];
  assert.deepEqual(suites, ['plain', 'rsa', 'x25519', 'session-key']);
  for (const suite of suites) {
    const cells: LatencyCell[] = latency.cells.filter((c) => c.suite === suite);
    assert.deepEqual(
      cells.map((c) => `${c.bodyBytes}×${c.concurrency}`),
      ['100×1', '100×10', '100×100', '10000×1', '10000×10', '10000×100', '1000000×1', '1000000×10', '1000000×100'],
      `(latency) ${suite} has every cell`,
    );
    for (const c of cells) {
      assert.equal(c.status, 'ok', `(latency) ${suite} ${c.bodyBytes} B × ${c.concurrency}: ${c.reason ?? ''}`);
      assert.ok((c.requests ?? 0) >= c.concurrency, `(latency) ${suite} ${c.bodyBytes} × ${c.concurrency} timed at least one request per caller`);
      const l = c.latencyMs!;
      assert.ok(l.p50 > 0 && l.p50 <= l.p99 && l.p99 <= l.max, `(latency) ${suite} ${c.bodyBytes} × ${c.concurrency}: 0 < p50 ≤ p99 ≤ max`);
    }
  }
  assert.match(readFileSync(join(out, 'benchmarks-latency.svg'), 'utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);

  // TLS at the edge: every cell answered over the scheme it names, and the handshake costs derived.
  const tls = report.tls;
  assert.ok(tls, 'the tls part ran');
  assert.equal(tls.status, 'ok', `(tls) ${tls.reason ?? ''}`);
  assert.deepEqual(
    tls.cells.map((c) => c.id),
    ['http-keepalive', 'http-new', 'https-keepalive', 'https-new-full-ecdsa', 'https-new-resumed-ecdsa', 'https-new-full-rsa'],
  );
  for (const c of tls.cells) {
    assert.equal(c.status, 'ok', `(tls) ${c.id}: ${c.reason ?? ''}`);
    assert.ok((c.reqPerSec ?? 0) > 0 && (c.serverCpuMicrosPerRequest ?? 0) > 0, `(tls) ${c.id} has a rate and a CPU cost`);
  }
  assert.equal(typeof tls.handshakeMicros?.fullEcdsa, 'number', '(tls) the full-handshake cost is derived');
  assert.equal(typeof tls.handshakeMicros?.fullRsa, 'number', '(tls) the RSA handshake cost is derived');
  assert.equal(typeof tls.keepAliveOverheadMicros, 'number', '(tls) the keep-alive overhead is derived');

  // Native verifiers: Node in-process, Java (java/) and Go (go/) in child processes, per core.
  const native = report.native;
  assert.ok(native, 'the native part ran');
  assert.equal(native.status, 'ok', `(native) ${native.reason ?? ''}`);
  assert.deepEqual(
    native.rows.map((r) => r.language),
    ['node', 'java', 'go'],
  );
  for (const r of native.rows) {
    if (r.status !== 'ok') {
      // A missing toolchain (no java or go on this machine) fails its row with the reason, never the harness or the part.
      assert.notEqual(r.language, 'node', `(native) Node always runs: ${r.reason ?? ''}`);
      assert.equal(r.toolchainMissing, true, `(native) ${r.language} failed only for lack of its toolchain: ${r.reason ?? ''}`);
      continue;
    }
    for (const k of ['forged', 'validRsa', 'validX25519', 'validSm'] as const) {
      assert.ok((r.perSec?.[k] ?? 0) > 0 && (r.micros?.[k] ?? 0) > 0, `(native) ${r.language} ${k} has a rate and a cost per request`);
      assert.ok((r.vsNode?.[k] ?? 0) > 0, `(native) ${r.language} ${k} has a ratio to Node`);
    }
    assert.ok((r.runtime ?? '').length > 0, `(native) ${r.language} names its runtime`);
    assert.ok((r.forgedSmPerSec ?? 0) > (r.perSec?.validSm ?? Infinity), `(native) ${r.language} rejects a forged SM request faster than it serves a valid one`);
  }
  assert.equal(native.rows[0]!.vsNode?.forged, 1, '(native) Node is its own reference');
  assert.ok(native.summary.length > 0, '(native) the paragraph is generated');

  const markdown = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
  assert.match(markdown, /## Latency: concurrency × body size/);
  assert.match(markdown, /## TLS at the edge: handshake cost and requests\/s over HTTPS/);
  assert.match(markdown, /## Native verifiers: Node, Java, Go \(per core, in-process\)/);
  assert.match(markdown, /!\[p50 and p99 latency[^\]]*\]\(benchmarks-latency\.svg\)/);
  assert.match(markdown, /## Admin API: device search and paging/);
  assert.match(markdown, /## Device keys \(packages\/devices\)/);
  assert.match(markdown, /L1 hit p99 < 5 µs/);
  assert.match(markdown, /^# wxseal benchmarks/);
  assert.match(markdown, /### \(e\) The client: CPU per sealed call, per suite/);
  assert.match(markdown, /\*\*SM suite \(l\/a = [\d.]+, informational; l−a cpu = [\d.]+, informational\)\.\*\*/, 'the SM suite paragraph reads (l)');
  assert.match(markdown, /!\[requests per second per scenario\]\(benchmarks\.svg\)/);
  assert.match(markdown, /\| c\/d \|/);
  const svg = readFileSync(join(out, 'benchmarks.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
});

test('a partial run (--only admin) replaces only the admin part of the last results', { timeout: 120_000 }, async () => {
  copyFileSync(join(out, 'benchmarks.json'), join(partialOut, 'benchmarks.json'));
  const before = JSON.parse(readFileSync(join(partialOut, 'benchmarks.json'), 'utf8')) as BenchReport;
  assert.ok(before.admin, 'the full quick run left an admin part to replace');
  const { code, stderr } = await runHarness(['--only', 'admin', '--quick', '--out-dir', partialOut]);
  assert.equal(code, 0, `the harness failed:\n${stderr}`);

  const merged = JSON.parse(readFileSync(join(partialOut, 'benchmarks.json'), 'utf8')) as BenchReport;
  assert.equal(merged.command, before.command, 'the header still describes the full run');
  assert.deepEqual(merged.scenarios, before.scenarios, 'the scenarios of the full run are kept');
  assert.deepEqual(merged.crypto, before.crypto);
  assert.deepEqual(merged.devices, before.devices);
  assert.equal(merged.admin?.status, 'ok');
  assert.notEqual(merged.admin?.date, before.admin!.date, 'the admin part is the new one');
  assert.equal(merged.admin?.registry?.reused, false, '--only admin provisions its own registry');
  assert.match(merged.admin?.command ?? '', /--only admin/);
  assert.deepEqual(merged.updates?.map((u) => u.parts), [['admin']]);
  const markdown = readFileSync(join(partialOut, 'BENCHMARKS.md'), 'utf8');
  assert.match(markdown, /## Results/);
  assert.match(markdown, /## Device keys/);
  assert.match(markdown, /## Admin API: device search and paging/);
  assert.match(markdown, /\*\*Updated since:\*\* `admin` by `.*--only admin/);
});
