import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateTraceparent, isValidTraceparent } from '../src/index.js';
import { backoffDelayMs, isIdempotent, parseRetryAfter } from '../src/retry.js';

describe('backoff', () => {
  it('full jitter stays within [0, min(max, base * 2^(n-1))] and actually varies', () => {
    const seen = new Set<number>();
    for (let retry = 1; retry <= 8; retry++) {
      const ceiling = Math.min(1000, 50 * 2 ** (retry - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelayMs(retry, 50, 1000);
        assert.ok(Number.isInteger(d) && d >= 0 && d <= ceiling, `retry ${retry}: ${d} > ${ceiling}`);
        seen.add(d);
      }
    }
    assert.ok(seen.size > 50, 'delays are jittered');
    assert.equal(backoffDelayMs(3, 0, 0), 0);
  });

  it('only GET, HEAD, PUT, DELETE and OPTIONS are idempotent', () => {
    for (const m of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) assert.equal(isIdempotent(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT']) assert.equal(isIdempotent(m), false, m);
  });
});

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP-dates, and ignores garbage', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });
});

describe('traceparent', () => {
  it('generates valid, distinct, sampled version-00 values', () => {
    const a = generateTraceparent();
    const b = generateTraceparent();
    assert.match(a, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(a, b);
    assert.ok(isValidTraceparent(a));
  });

  it('validates the W3C format', () => {
    assert.ok(isValidTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'));
    assert.ok(isValidTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'));
    for (const bad of [
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
      '',
    ]) {
      assert.equal(isValidTraceparent(bad), false, bad);
    }
  });
});
