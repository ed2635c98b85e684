// Run on Node 16.13 by tests/e2e/client-node16-gateway.test.ts against a real gateway (on the
// test's Node 20): a sealed call, a sign-only call and a call with a wrong secret, through the
// client's built dist.
// Reads its settings from WXSEAL_NODE16_GATEWAY (JSON) and prints one JSON line with what it got.
import { createClient, isWxsealError } from '@wxseal/client';

const settings = JSON.parse(process.env.WXSEAL_NODE16_GATEWAY);
const options = {
  baseUrl: settings.url,
  keyId: settings.keyId,
  secret: settings.secret,
  serverKeyId: settings.serverKeyId,
  serverPublicKey: settings.serverPublicKey,
  timeoutMs: 60000,
  retry: { maxAttempts: 1 },
};

const sealedClient = createClient(options);
const signedClient = createClient({ ...options, mode: 'signed' });
const wrongClient = createClient({ ...options, secret: settings.wrongSecret });
try {
  const sealed = await sealedClient.post('/api/orders', {
    query: { x: '1' },
    json: { sku: 'A-1', qty: 2 },
    identity: { openid: 'o-node16', appid: 'wx-node16', source: 'wx_client' },
  });
  const signed = await signedClient.request({
    method: 'PUT',
    path: '/api/profile',
    body: 'hello from 16',
    contentType: 'text/plain',
    identity: { openid: 'o-signed' },
  });
  let rejected = 'resolved';
  try {
    await wrongClient.get('/api/anything');
  } catch (err) {
    rejected = isWxsealError(err) ? `${err.code} ${err.status}` : String(err);
  }
  process.stdout.write(
    `${JSON.stringify({
      node: process.version,
      sealed: { status: sealed.status, contentType: sealed.contentType, json: sealed.json() },
      signed: { status: signed.status, contentType: signed.contentType, json: signed.json() },
      rejected,
    })}\n`,
  );
} finally {
  sealedClient.close();
  signedClient.close();
  wrongClient.close();
}
