import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { collectBounded, declaredLengthExceeds, readBounded } from '@wxseal/support';

class TooLarge extends Error {}
const tooLarge = (): Error => new TooLarge('too large');

test('readBounded: the whole body, text chunks as UTF-8', async () => {
  const stream = new PassThrough();
  const read = readBounded(stream, { limit: 10, tooLarge });
  stream.write('héllo');
  stream.end(Buffer.from('!'));
  assert.equal((await read).toString('utf8'), 'héllo!');
  assert.equal((await readBounded(Readable.from([]), { limit: 0, tooLarge })).length, 0, 'empty body');
});

test('readBounded: a declared length over the limit fails before anything is read', async () => {
  const stream = new PassThrough();
  stream.write('abc');
  await assert.rejects(readBounded(stream, { limit: 2, tooLarge, declaredLength: '3' }), TooLarge);
  assert.equal(stream.readableFlowing, null, 'untouched');
  await assert.rejects(readBounded(new PassThrough(), { limit: 2, tooLarge, declaredLength: ['9', '1'] }), TooLarge, 'the first value counts');
  const ok = new PassThrough();
  const read = readBounded(ok, { limit: 2, tooLarge, declaredLength: 'x' });
  ok.end('ab');
  assert.equal((await read).toString(), 'ab', 'a declared length that is no number: the bytes decide');
});

test("readBounded: past the limit it fails with the caller's error and pauses (default) or drains the rest", async () => {
  const paused = new PassThrough();
  const read = readBounded(paused, { limit: 4, tooLarge });
  paused.write('abc');
  paused.write('de');
  await assert.rejects(read, TooLarge);
  assert.equal(paused.isPaused(), true);
  assert.equal(paused.listenerCount('data'), 0);

  const drained = new PassThrough();
  const read2 = readBounded(drained, { limit: 4, tooLarge, rest: 'drain' });
  drained.write('abcde');
  await assert.rejects(read2, TooLarge);
  drained.end('more');
  await once(drained, 'end'); // the rest was read (and thrown away)
});

test('readBounded: a failing or cut stream fails with failed(cause); a later error is swallowed', async () => {
  const broken = new PassThrough();
  const read = readBounded(broken, { limit: 10, tooLarge });
  const cause = new Error('boom');
  broken.destroy(cause);
  await assert.rejects(read, (err) => err === cause, 'default: the cause itself');

  const cut = new PassThrough();
  const read2 = readBounded(cut, { limit: 10, tooLarge, failed: (c) => new RangeError(`unreadable: ${(c as { code?: string }).code}`) });
  cut.write('ab');
  cut.destroy();
  await assert.rejects(read2, { name: 'RangeError', message: 'unreadable: ERR_STREAM_PREMATURE_CLOSE' });

  const late = new PassThrough();
  const read3 = readBounded(late, { limit: 1, tooLarge });
  late.write('ab');
  await assert.rejects(read3, TooLarge);
  const closed = new Promise((resolve) => late.on('close', resolve));
  late.destroy(new Error('after the read')); // no listener of ours left but the no-op: not uncaught
  await closed;
});

test('collectBounded: chunks of every kind, the iteration ended past the limit', async () => {
  const body = await collectBounded(Readable.from([Buffer.from('a'), 'é', new Uint8Array([0x21])]), { limit: 10, tooLarge });
  assert.equal(body.toString('utf8'), 'aé!');

  const stream = new PassThrough();
  stream.write('abc');
  stream.write('def');
  await assert.rejects(collectBounded(stream, { limit: 4, tooLarge }), TooLarge);
  assert.equal(stream.destroyed, true, 'a Node stream is destroyed by its iterator');

  let cancelled = false;
  const web = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array(3));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assert.rejects(collectBounded(web as unknown as AsyncIterable<Uint8Array>, { limit: 5, tooLarge }), TooLarge);
  assert.equal(cancelled, true, 'a web stream is cancelled');

  await assert.rejects(collectBounded(Readable.from(['x']), { limit: 0, tooLarge, declaredLength: '1' }), TooLarge);
  await assert.rejects(collectBounded(Readable.from([42], { objectMode: true }), { limit: 10, tooLarge }), TypeError);
});

test('collectBounded: a server request past the limit still gets its answer (the socket is detached, not destroyed)', async () => {
  const server = createServer((req: IncomingMessage, res) => {
    collectBounded(req, { limit: 1000, tooLarge }).then(
      () => res.end('ok'),
      () => res.writeHead(413, { connection: 'close' }).end('too large'),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(800));
      setTimeout(() => req.end(Buffer.alloc(800)), 20);
    });
    assert.equal(status, 413);
  } finally {
    server.close();
    server.closeAllConnections();
  }
});

test('declaredLengthExceeds: decimal lengths only, the first of several', () => {
  assert.equal(declaredLengthExceeds('11', 10), true);
  assert.equal(declaredLengthExceeds(' 10 ', 10), false);
  assert.equal(declaredLengthExceeds(['11', '1'], 10), true);
  assert.equal(declaredLengthExceeds(undefined, 10), false);
  assert.equal(declaredLengthExceeds('1e3', 10), false);
  assert.equal(declaredLengthExceeds('', 0), false);
});
