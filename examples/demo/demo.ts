/**
 * `npm run demo`: the whole story, live. A Mini Program call enters the example cloud function
 * (examples/cloud-function/index.js, loaded exactly as WeChat would run it), which forwards it
 * sealed through the wxseal gateway to the upstream service and returns the decrypted answer.
 * Then three attacks are shown being turned away: a forged request, a replayed one and one with a
 * skewed clock — and a client with a skewed clock correcting itself. Exits non-zero if any step
 * does not go as told.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@wxseal/client';
import { startGateway } from '@wxseal/gateway';
import { HEADERS, buildRequest, loadServerPublicKey } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { ensureDevKeys, writeDevConfig } from './dev-setup.js';
import { startDemoUpstream } from './upstream.js';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const [bold, green, red, dim, cyan] = [paint(1), paint(32), paint(31), paint(2), paint(36)];
let failures = 0;
const step = (title: string) => console.log(`\n${bold(title)}`);
const line = (s: string) => console.log(`  ${s}`);
function expect(ok: boolean, what: string): void {
  if (!ok) failures++;
  line(`${ok ? green('✔') : red('✘')} ${what}`);
}

// --- Set-up: keys, the upstream service, the gateway in front of it ------------------------------
// Without WXSEAL_DEV_DIR the demo works in a temporary folder of its own, which holds a private
// key, a client secret and an admin token: it is removed on every way out — the end of the
// demo, an error (an 'exit' follows), Ctrl-C, SIGTERM or a closed terminal.
// The handlers come first: a signal that arrives just after the folder exists must find them.
let ownDir: string | undefined;
if (!process.env.WXSEAL_DEV_DIR) {
  process.on('exit', () => {
    if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => process.exit(128 + constants.signals[signal]));
  }
  ownDir = mkdtempSync(join(tmpdir(), 'wxseal-demo-'));
}
const keys = ensureDevKeys(process.env.WXSEAL_DEV_DIR || ownDir!);
const upstream = await startDemoUpstream();
const seenByUpstream: Array<Record<string, string | undefined>> = [];
upstream.server.prependListener('request', (req) => {
  seenByUpstream.push({ openid: req.headers['x-wxseal-openid'] as string | undefined, keyId: req.headers['x-wxseal-key-id'] as string | undefined });
});
const setup = writeDevConfig({ dir: keys.dir, serverKeyId: keys.serverKeyId, upstreamUrl: upstream.url, port: 0, adminPort: 0 });
const gateway = await startGateway(setup.gatewayConfigPath);
const secretB64u = readFileSync(join(keys.dir, 'client-secret.txt'), 'utf8').trim();
const secret = b64uDecodeStrict(secretB64u)!;
const publicKeyPem = readFileSync(join(keys.dir, 'server-public.pem'), 'utf8');
const serverKey = { id: keys.serverKeyId, publicKey: loadServerPublicKey(publicKeyPem) };

step('Set-up');
line(`upstream service (plain HTTP, no wxseal inside)  ${cyan(upstream.url)}`);
line(`wxseal gateway in front of it                    ${cyan(gateway.url)}   server key ${keys.serverKeyId}`);

// --- 1. A Mini Program call through the cloud function ------------------------------------------
step('1. Mini Program → cloud function → gateway → upstream');
Object.assign(process.env, {
  WXSEAL_BASE_URL: gateway.url,
  WXSEAL_KEY_ID: setup.keyId,
  WXSEAL_SECRET: secretB64u,
  WXSEAL_SERVER_KEY_ID: keys.serverKeyId,
  WXSEAL_SERVER_PUBLIC_KEY: publicKeyPem,
});
const cloudFunction = createRequire(import.meta.url)('../cloud-function/index.js') as { main: (event: unknown, context: unknown) => Promise<{ ok: boolean; data?: unknown; code?: string }> };
const event = { action: 'createOrder', sku: 'A-1', qty: 2, userInfo: { appId: 'wx5d4bd4b7f1e2a9c0', openId: 'oDemoUser0001' } };
// What WeChat hands the function for a call from the Mini Program: this call's identity in
// context.environment, a 3 s time limit and a request id.
const context = {
  request_id: 'demo-' + randomBytes(4).toString('hex'),
  time_limit_in_ms: 3000,
  environment: JSON.stringify({ WX_OPENID: 'oDemoUser0001', WX_APPID: 'wx5d4bd4b7f1e2a9c0', WX_UNIONID: 'uDemoUnion0001', TCB_ENV: 'demo-env', TCB_SOURCE: 'wx_client' }),
};
line(`wx.cloud.callFunction({ name: 'order', data: ${JSON.stringify({ action: event.action, sku: event.sku, qty: event.qty })} })   ${dim(`request_id ${context.request_id}, SOURCE wx_client`)}`);
const started = Date.now();
const result = await cloudFunction.main(event, context);
line(`cloud function returned in ${Date.now() - started} ms: ${JSON.stringify(result)}`);
const answer = (result.data ?? {}) as { caller?: { openid?: string }; received?: Record<string, unknown> };
expect(result.ok === true, 'the sealed call was answered and the answer decrypted (only the real gateway could seal it)');
expect(answer.caller?.openid === 'oDemoUser0001', 'the upstream received the OPENID from the signed, encrypted identity block');
expect(answer.received !== undefined && !('userInfo' in answer.received), 'the WeChat-injected userInfo was not forwarded');

// --- 2-4. Attacks -----------------------------------------------------------------------------
async function send(built: { headers: Record<string, string>; body: Buffer }, target = '/api/orders') {
  const res = await fetch(gateway.url + target, { method: 'POST', headers: built.headers, body: new Uint8Array(built.body) });
  return { status: res.status, code: res.headers.get(HEADERS.error), serverTime: res.headers.get(HEADERS.serverTime) };
}
const upstreamCallsBefore = seenByUpstream.length;

step('2. A forged request (an attacker without the client secret)');
const forged = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: setup.keyId, secret: randomBytes(32), serverKey, body: Buffer.from('{"sku":"A-1","qty":999}'), contentType: 'application/json' });
const r2 = await send(forged);
line(`→ ${r2.status} ${r2.code}`);
expect(r2.status === 401 && r2.code === 'WXSEAL_BAD_SIGNATURE', 'rejected by one HMAC, before any RSA work');

step('3. A replayed request (a genuine request captured on the wire and sent again)');
const genuine = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: setup.keyId, secret, serverKey, body: Buffer.from('{"sku":"B-2","qty":1}'), contentType: 'application/json', identity: { openid: 'oDemoUser0001', source: 'wx_client' } });
const first = await send(genuine);
const again = await send(genuine);
line(`first → ${first.status}    same bytes again → ${again.status} ${again.code}`);
expect(first.status === 200 && again.status === 401 && again.code === 'WXSEAL_REPLAYED_NONCE', 'the nonce was spent by the first delivery');

step('4. A request with a skewed clock (signed 5 minutes ago)');
const stale = buildRequest({ mode: 'sealed', method: 'POST', target: '/api/orders', keyId: setup.keyId, secret, serverKey, body: Buffer.from('{}'), contentType: 'application/json', timestamp: Math.floor(Date.now() / 1000) - 300 });
const r4 = await send(stale);
line(`→ ${r4.status} ${r4.code}   Wxseal-Server-Time: ${r4.serverTime}`);
expect(r4.status === 401 && r4.code === 'WXSEAL_TIMESTAMP_EXPIRED' && r4.serverTime !== null, 'outside the ±60 s window; the server tells its time');
const skewed = createClient({ baseUrl: gateway.url, keyId: setup.keyId, secret, serverKeyId: keys.serverKeyId, serverPublicKey: publicKeyPem, now: () => Date.now() - 300_000 });
const corrected = await skewed.post('/api/orders', { json: { sku: 'C-3', qty: 1 } });
line(`a client whose clock is 5 min slow → ${corrected.status} after ${corrected.attempts} attempts, offset now ${skewed.clockOffsetSeconds} s`);
expect(corrected.status === 200 && skewed.clockOffsetSeconds >= 299, 'the client corrected its clock once from Wxseal-Server-Time and succeeded');
skewed.close();
expect(seenByUpstream.length === upstreamCallsBefore + 2, 'none of the rejected requests reached the upstream (only the genuine one and the corrected one did)');

// --- Wrap-up ----------------------------------------------------------------------------------
const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
const rejections = metrics.split('\n').filter((l) => l.startsWith('wxseal_gateway_rejections_total{'));
step('Gateway metrics (rejections by code)');
for (const l of rejections) line(dim(l));
await gateway.close();
await upstream.close();
console.log(failures === 0 ? `\n${green('demo complete: every step behaved as described')}` : `\n${red(`${failures} step(s) did not behave as described`)}`);
process.exit(failures === 0 ? 0 : 1);
