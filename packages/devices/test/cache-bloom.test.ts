// The Bloom filter of known serials and its hash (SipHash-1-3). No Redis needed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BloomFilter, MAX_BLOOM_BITS, SerialBloom, bloomSize, measureFalsePositiveRate } from '../src/cache/index.js';
import { sipHash, sipHash13String, sipKey } from '../src/cache/siphash.js';

const hex = (out: Uint32Array): string => Buffer.from(out.buffer, out.byteOffset, 8).toString('hex');
const serialsOf = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36).padStart(6, '0')}`);

describe('SipHash', () => {
  const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));

  test('SipHash-2-4 matches the reference vectors of the SipHash paper', () => {
    const out = new Uint32Array(2);
    sipHash(key, new Uint8Array(0), 0, 2, 4, out);
    assert.equal(hex(out), '310e0edd47db6f72'); // 0x726fdb47dd0e0e31, little-endian
    const m = Uint8Array.from({ length: 15 }, (_, i) => i);
    sipHash(key, m, 15, 2, 4, out);
    assert.equal(hex(out), 'e545be4961ca29a1'); // 0xa129ca6149be45e5, the paper's worked example
  });

  test('SipHash-1-3 matches OpenSSL (`openssl mac -macopt c-rounds:1 -macopt d-rounds:3 SIPHASH`) at every tail length', () => {
    // key 00..0f, message 00 01 .. (n-1); generated with OpenSSL 3.0.
    const vectors: [number, string][] = [
      [0, 'dcc40f055801acab'], [1, '93ca577df39bf4c9'], [2, '4dd4c74d029bcb82'], [3, 'fbf7dde7b80af88b'],
      [4, '2883d388605775cf'], [5, '673b53492fd5f9de'], [6, 'a7229fc5502b0dc5'], [7, '4011b19b987d92d3'],
      [8, '8e9a298d11959036'], [9, 'e43d066cb38ea425'], [15, '5699512a6dd820d3'], [16, '668b907d1add4fcc'],
      [17, '0cd8db639068f29c'], [31, 'bcd1218c1fdd7023'], [63, 'a8b3bbb76290199d'], [64, '65604a4bec9779f1'],
      [256, '70e37d164ee6b375'], // length byte wraps to 0
    ];
    const out = new Uint32Array(2);
    for (const [n, expected] of vectors) {
      const m = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
      sipHash(key, m, n, 1, 3, out);
      assert.equal(hex(out), expected, `length ${n}`);
    }
  });

  test('strings hash as their UTF-8 bytes (ASCII fast path and non-ASCII alike)', () => {
    const out = new Uint32Array(2);
    const k2 = sipKey(Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex'));
    sipHash13String(k2, 'WX-DEV-000123456789', out);
    assert.equal(hex(out), '32cda4f96b8679f0'); // OpenSSL, same key and text
    sipHash13String(key, 'SN-0001:é', out);
    assert.equal(hex(out), '6c366000ed8e823d'); // OpenSSL, same text
    const long = 'x'.repeat(1000);
    const bytes = Buffer.from(long);
    const viaBytes = new Uint32Array(2);
    sipHash(key, bytes, bytes.length, 1, 3, viaBytes);
    sipHash13String(key, long, out);
    assert.deepEqual([...out], [...viaBytes], 'a string longer than the scratch buffer');
  });

  test('the key is 16 bytes', () => {
    assert.throws(() => sipKey(new Uint8Array(15)), RangeError);
  });
});

describe('BloomFilter', () => {
  test('sizing: m = -n ln p / (ln 2)^2, k = m/n ln 2; 10 M serials at 1 % take about 12 MB', () => {
    const size = bloomSize(10_000_000, 0.01);
    assert.equal(size.bits, Math.ceil((10_000_000 * Math.log(100)) / Math.LN2 ** 2));
    assert.equal(size.hashes, 7);
    assert.ok(size.bytes > 11.9e6 && size.bytes < 12.1e6, `${size.bytes} bytes`);
    // The real allocation matches the computed size.
    const big = new BloomFilter({ expectedItems: 10_000_000, falsePositiveRate: 0.01 });
    assert.equal(big.byteLength, size.bytes);
    assert.equal(big.bits, size.bits);
    assert.equal(big.hashes, 7);
    assert.equal(bloomSize(1000, 0.001).hashes, 10);
    assert.equal(bloomSize(1, 0.5).hashes, 1);
  });

  test('rejects impossible sizes', () => {
    assert.throws(() => bloomSize(0, 0.01), RangeError);
    assert.throws(() => bloomSize(1.5, 0.01), RangeError);
    assert.throws(() => bloomSize(100, 0), RangeError);
    assert.throws(() => bloomSize(100, 1), RangeError);
    assert.throws(() => bloomSize(1e10, 0.01), /at most/);
    assert.ok(bloomSize(440_000_000, 0.01).bits <= MAX_BLOOM_BITS);
  });

  test('100 k serials at 1 %: no false negatives, measured false-positive rate close to 1 %', () => {
    const n = 100_000;
    const filter = new BloomFilter({ expectedItems: n, falsePositiveRate: 0.01 });
    const members = serialsOf('SN-', n);
    for (const s of members) filter.add(s);
    for (const s of members) assert.ok(filter.mightContain(s), `false negative for ${s}`);
    assert.ok(filter.count > n * 0.995 && filter.count <= n, `count ${filter.count}`);
    // 200 k probes: the standard deviation of the measured rate is about 0.02 %.
    const measured = measureFalsePositiveRate(filter, serialsOf('XX-', 200_000));
    assert.equal(measured.probes, 200_000);
    assert.ok(measured.rate > 0.007 && measured.rate < 0.013, `measured FPR ${measured.rate}`);
    // At n items the fill is 1 - e^(-kn/m) (about one half) and the estimate is p.
    const expectedFill = 1 - Math.exp((-filter.hashes * n) / filter.bits);
    assert.ok(Math.abs(filter.fillRatio - expectedFill) < 0.005, `fill ${filter.fillRatio}, expected ${expectedFill}`);
    assert.ok(Math.abs(filter.estimatedFalsePositiveRate - 0.01) < 0.002, `estimate ${filter.estimatedFalsePositiveRate}`);
  });

  test('a tighter target gives a lower rate; overfilling raises it (and the estimate shows it)', () => {
    const tight = new BloomFilter({ expectedItems: 20_000, falsePositiveRate: 0.001 });
    for (const s of serialsOf('A-', 20_000)) tight.add(s);
    const rate = measureFalsePositiveRate(tight, serialsOf('B-', 100_000)).rate;
    assert.ok(rate < 0.0025, `measured ${rate}`);
    const over = new BloomFilter({ expectedItems: 5_000, falsePositiveRate: 0.01 });
    for (const s of serialsOf('A-', 20_000)) over.add(s);
    assert.ok(over.estimatedFalsePositiveRate > 0.2);
    assert.ok(measureFalsePositiveRate(over, serialsOf('B-', 20_000)).rate > 0.2);
  });

  test('the seed decides the positions: the same key gives the same filter, another key another one', () => {
    const seed = Buffer.alloc(16, 7);
    const a = new BloomFilter({ expectedItems: 1000, falsePositiveRate: 0.05, seed });
    const b = new BloomFilter({ expectedItems: 1000, falsePositiveRate: 0.05, seed });
    const c = new BloomFilter({ expectedItems: 1000, falsePositiveRate: 0.05 }); // random seed
    const d = new BloomFilter({ expectedItems: 1000, falsePositiveRate: 0.05 });
    for (const s of serialsOf('M-', 1000)) [a, b, c, d].forEach((f) => f.add(s));
    const probes = serialsOf('P-', 20_000);
    const positives = (f: BloomFilter) => probes.filter((p) => f.mightContain(p));
    assert.deepEqual(positives(a), positives(b));
    // False positives of one process are not those of another: an outsider cannot precompute them.
    const pc = new Set(positives(c));
    const shared = positives(d).filter((p) => pc.has(p)).length;
    assert.ok(pc.size > 500 && shared < pc.size * 0.2, `${shared} of ${pc.size} shared`);
  });

  test('empty strings and non-ASCII serials work', () => {
    const f = new BloomFilter({ expectedItems: 10, falsePositiveRate: 0.001 });
    f.add('');
    f.add('设备-001');
    assert.ok(f.mightContain(''));
    assert.ok(f.mightContain('设备-001'));
    assert.equal(f.mightContain('设备-002'), false);
  });
});

describe('SerialBloom: rebuild and swap', () => {
  test('before the first rebuild it is not ready; a rebuild fills it', async () => {
    const bloom = new SerialBloom({ expectedItems: 1000 });
    assert.equal(bloom.ready, false);
    const result = await bloom.rebuild(serialsOf('S-', 500));
    assert.equal(bloom.ready, true);
    assert.equal(result.serials, 500);
    assert.ok(serialsOf('S-', 500).every((s) => bloom.mightContain(s)));
  });

  test('lookups see the old complete filter until the new one is complete, then the new one only', async () => {
    const bloom = new SerialBloom({ expectedItems: 10_000, falsePositiveRate: 1e-6, yieldEvery: 10 });
    await bloom.rebuild(['old-1', 'old-2']);
    let release!: () => void;
    const half = new Promise<void>((r) => (release = r));
    let reachedHalf!: () => void;
    const atHalf = new Promise<void>((r) => (reachedHalf = r));
    async function* source(): AsyncIterable<string> {
      for (let i = 0; i < 1000; i++) {
        if (i === 500) {
          reachedHalf();
          await half;
        }
        yield `new-${i}`;
      }
      yield 'old-1';
    }
    const running = bloom.rebuild(source());
    assert.equal(bloom.rebuilding, true);
    assert.equal(bloom.rebuild([]), running, 'a second call joins the running rebuild');
    await atHalf;
    // Half-way: nothing of the new filter is visible, the old one is whole.
    assert.equal(bloom.mightContain('new-0'), false);
    assert.ok(bloom.mightContain('old-1') && bloom.mightContain('old-2'));
    // Activated during the rebuild: visible at once and carried into the new filter.
    bloom.add('activated-mid-rebuild');
    assert.ok(bloom.mightContain('activated-mid-rebuild'));
    release();
    const result = await running;
    assert.equal(result.serials, 1001);
    assert.equal(result.carriedOver, 1);
    assert.equal(bloom.rebuilding, false);
    assert.ok(bloom.mightContain('new-0') && bloom.mightContain('new-999') && bloom.mightContain('old-1'));
    assert.ok(bloom.mightContain('activated-mid-rebuild'), 'not lost by the swap');
    // The rebuild forgot what the source no longer lists: the reason rebuilds exist.
    assert.equal(bloom.mightContain('old-2'), false);
  });

  test('a failing or stalled source leaves the old filter in place', async () => {
    const bloom = new SerialBloom({ expectedItems: 1000, falsePositiveRate: 1e-6, stepTimeoutMs: 50 });
    await bloom.rebuild(['keep-me']);
    async function* failing(): AsyncIterable<string> {
      yield 'x';
      throw new Error('database is down');
    }
    await assert.rejects(bloom.rebuild(failing()), /database is down/);
    assert.ok(bloom.mightContain('keep-me'));
    assert.equal(bloom.mightContain('x'), false);
    let returned = false;
    const stalled: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<string>>(() => undefined),
        return: async () => {
          returned = true;
          return { done: true, value: undefined };
        },
      }),
    };
    const started = Date.now();
    await assert.rejects(bloom.rebuild(stalled), /did not answer within 50 ms/);
    assert.ok(Date.now() - started < 1000);
    assert.ok(bloom.mightContain('keep-me'));
    await new Promise((r) => setImmediate(r));
    assert.ok(returned, 'the stalled iterator was told to stop');
    assert.equal(bloom.rebuilding, false, 'the next rebuild can run');
    await bloom.rebuild(['after']);
    assert.ok(bloom.mightContain('after'));
  });

  test('a long rebuild yields to the event loop', async () => {
    const bloom = new SerialBloom({ expectedItems: 50_000, yieldEvery: 1000 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      // A synchronous iterable: without the periodic yield the whole build would run in one go.
      await bloom.rebuild(serialsOf('Y-', 50_000));
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'timers ran during the rebuild');
  });
});
