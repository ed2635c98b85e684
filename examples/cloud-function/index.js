// A WeChat cloud function (云函数) that is only a BFF: it forwards the Mini Program's call to the
// company backend through the wxseal gateway, sealed and signed, asserting the caller's identity.
//
// Deploy it like any cloud function (Node 16.13 or later); until @wxseal/client is on the npm
// registry, `node bundle.mjs --out DIR` builds the folder to upload (see README.md). Configuration
// comes from the function's environment variables, never from code:
//   WXSEAL_BASE_URL           e.g. https://api.example.com
//   WXSEAL_KEY_ID             the credential's key id
//   WXSEAL_SECRET             the client secret (base64url); keep it in the console's env settings
//   WXSEAL_SERVER_KEY_ID      the backend's server key id (sk-...)
//   WXSEAL_SERVER_PUBLIC_KEY  the backend's RSA public key (PEM)
'use strict';

// One client per instance: warm invocations reuse its keep-alive connections.
let clientPromise;

async function getClient() {
  if (!clientPromise) {
    clientPromise = (async () => {
      // @wxseal/client is an ES module; import() loads it from CommonJS on every runtime from Node 16.
      const { createClient } = await import('@wxseal/client');
      const env = process.env;
      return createClient({
        baseUrl: env.WXSEAL_BASE_URL,
        keyId: env.WXSEAL_KEY_ID,
        secret: env.WXSEAL_SECRET,
        serverKeyId: env.WXSEAL_SERVER_KEY_ID,
        serverPublicKey: env.WXSEAL_SERVER_PUBLIC_KEY,
        timeoutMs: 2500,
      });
    })();
    // A bad configuration must not stick to the instance: the next call tries again.
    clientPromise.catch(() => {
      clientPromise = undefined;
    });
  }
  return clientPromise;
}

/**
 * event: what the Mini Program passed to wx.cloud.callFunction({ name, data }), e.g.
 *   { action: 'createOrder', sku: 'A-1', qty: 2 }
 * context: injected by WeChat; its `environment` carries this call's OPENID, APPID, UNIONID,
 * ENV and SOURCE, which forwardEvent reads per call (never from process-wide variables).
 */
exports.main = async (event, context) => {
  const { forwardEvent, isWxsealError } = await import('@wxseal/client');
  const client = await getClient();
  try {
    const answer = await forwardEvent(client, event, context, { path: '/api/orders', method: 'POST' });
    return { ok: true, data: answer };
  } catch (err) {
    // Never hand the Mini Program internal details; the code is stable and safe to show.
    if (isWxsealError(err)) return { ok: false, code: err.code };
    throw err;
  }
};
