/**
 * Child process of node16-compat.test.ts: removes the APIs Node 16.13 lacks from this process's
 * globals, then drives the client through a round trip, a retry, a timeout and an abort. Prints one
 * JSON line with what happened; exits non-zero on any failure.
 *
 * Node 20's own built-ins use some of these APIs internally, so they are loaded first (on Node 16
 * they exist with their own internals); only the code under test meets the stripped globals.
 */
import 'node:http';
import 'node:https';
import 'node:net';
import 'node:tls';
import 'node:crypto';
import 'node:perf_hooks';
import 'node:url';

const removed: string[] = [];
function remove(target: object, key: string, label: string): void {
  if (Reflect.deleteProperty(target, key) && !(key in target)) removed.push(label);
}
for (const key of ['fetch', 'Headers', 'Request', 'Response', 'FormData', 'structuredClone', 'crypto', 'navigator', 'WebSocket', 'CustomEvent']) {
  remove(globalThis, key, key);
}
remove(AbortSignal, 'timeout', 'AbortSignal.timeout');
remove(AbortSignal, 'any', 'AbortSignal.any');
remove(AbortSignal.prototype, 'throwIfAborted', 'AbortSignal#throwIfAborted');
remove(AbortSignal.prototype, 'reason', 'AbortSignal#reason');
for (const key of ['findLast', 'findLastIndex', 'toSorted', 'toReversed', 'toSpliced', 'with']) {
  remove(Array.prototype, key, `Array#${key}`);
}
remove(Object, 'groupBy', 'Object.groupBy');
remove(Promise, 'withResolvers', 'Promise.withResolvers');

async function main(): Promise<void> {
  // Loaded only now, so nothing can have captured a removed API first.
  const { createClient, WxsealError } = await import('../src/index.js');
  const { makeKeys, startFixture, startSilentServer, rejection } = await import('./fixture.js');
  const { unixNow } = await import('@wxseal/protocol');

  const keys = makeKeys();
  const f = await startFixture({ keys, afterVerify: (_r, n) => (n === 1 ? rejection('WXSEAL_NONCE_STORE_UNAVAILABLE', unixNow()) : undefined) });
  const silent = await startSilentServer();
  const options = { keyId: keys.keyId, secret: keys.secretB64u, serverPublicKey: keys.publicKeyPem, serverKeyId: keys.serverKeyId, retry: { baseDelayMs: 1, maxDelayMs: 5 } };
  const client = createClient({ baseUrl: f.url, ...options });
  const slow = createClient({ baseUrl: silent.url, ...options });
  const codeOf = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'resolved',
      (e: unknown) => (e instanceof WxsealError ? e.code : String(e)),
    );
  try {
    const res = await client.get('/legacy', { identity: { openid: 'o-16', source: 'wx_client' } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const result = {
      removed,
      status: res.status,
      attempts: res.attempts,
      identity: f.received.at(-1)?.identity,
      timeout: await codeOf(slow.post('/slow', { timeoutMs: 50 })),
      aborted: await codeOf(slow.get('/slow', { signal: controller.signal })),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    client.close();
    slow.close();
    await f.close();
    await silent.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
