import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from '@wxseal/support';

class Late extends Error {}

test('withTimeout: the work wins', async () => {
  assert.equal(await withTimeout(() => sleep(1).then(() => 'done'), 1000, () => new Late('late')), 'done');
  assert.equal(await withTimeout(() => 7, 1000, () => new Late('late')), 7, 'a plain value');
});

test("withTimeout: the deadline wins with the caller's error", async () => {
  const started = Date.now();
  await assert.rejects(
    withTimeout(() => new Promise(() => undefined), 30, () => new Late('no answer within 30 ms')),
    (err: unknown) => err instanceof Late && err.message === 'no answer within 30 ms',
  );
  assert.ok(Date.now() - started >= 25);
});

test('withTimeout: a synchronous throw fails like a rejection; a late failure is never unhandled', async () => {
  await assert.rejects(
    withTimeout(() => {
      throw new RangeError('sync');
    }, 1000, () => new Late('late')),
    RangeError,
  );
  let unhandled = false;
  const onUnhandled = (): void => {
    unhandled = true;
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(
      withTimeout(() => sleep(40).then(() => Promise.reject(new Error('after the deadline'))), 10, () => new Late('late')),
      Late,
    );
    await sleep(60);
    assert.equal(unhandled, false);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('withTimeout: onTimeout is not called when the work wins, and the timer is cleared', async () => {
  let calls = 0;
  await withTimeout(() => 'x', 20, () => {
    calls++;
    return new Late('late');
  });
  await sleep(40);
  assert.equal(calls, 0);
});

test('withTimeout: a synchronous answer arms no timer; a pending one does, and clears it', async () => {
  const armed: unknown[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    const timer = original(...args);
    armed.push(timer);
    return timer;
  }) as typeof setTimeout;
  try {
    assert.equal(await withTimeout(() => 'sync', 1000, () => new Late('late')), 'sync');
    assert.equal(armed.length, 0, 'no timer for a value');
    assert.equal(await withTimeout(() => Promise.resolve('async'), 1000, () => new Late('late')), 'async');
    assert.equal(armed.length, 1, 'one timer for a promise');
  } finally {
    globalThis.setTimeout = original;
  }
});
