// Devices (SPEC.md section 15): reproduces every value of spec/vectors/device-activation.json and
// device-request.json, and checks round trips, tampering and that device requests are plain v1.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  ACTIVATION_NONCE_SCOPE_PREFIX,
  DEVICE_LABELS,
  HEADERS,
  LABELS,
  WxsealError,
  buildActivationRequest,
  buildRequest,
  canonicalActivationString,
  checkTimestamp,
  deviceRequestSpec,
  encodeActivationBody,
  generateDeviceKey,
  openActivationResponse,
  openDeviceKey,
  openResponse,
  openSealedRequest,
  parseActivationRequest,
  parseDeviceKeyDelivery,
  parseRequestHeaders,
  rejectionResponse,
  sealDeviceKey,
  sealResponse,
  signResponse,
  verifyActivationSignature,
  verifyRequestSignature,
  type DeviceKeyBinding,
  type DeviceKeyPurpose,
  type ParsedActivationRequest,
} from '@wxseal/protocol';
import { b64uEncode, deriveDeviceKeyWrap, deviceKeyAad, deviceKeySalt, signCanonical, unwrapSessionKey } from '@wxseal/protocol/primitives';

const vectors = (name: string) => JSON.parse(readFileSync(new URL(`../../../spec/vectors/${name}`, import.meta.url), 'utf8'));
const b = (s: string) => Buffer.from(s, 'base64url');
const b64u = (x: Uint8Array) => Buffer.from(x).toString('base64url');
const codeOf = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    assert.ok(err instanceof WxsealError, `expected a WxsealError, got ${String(err)}`);
    return err.code;
  }
};
const header = (h: Record<string, string>) => (name: string) => h[name];

type BindingJson = { purpose: DeviceKeyPurpose; wrappingSecret: string; productId: string; serial: string; requestNonce: string };
const bindingOf = (j: BindingJson): DeviceKeyBinding => ({ ...j, wrappingSecret: b(j.wrappingSecret) });

const act = vectors('device-activation.json');
const dev = vectors('device-request.json');

describe('device-activation.json: activation', () => {
  for (const c of act.activation) {
    test(c.description, () => {
      const i = c.input;
      const fields = { productId: i.productId, serial: i.serial, timestamp: i.timestamp, nonce: i.nonce };
      const canonical = canonicalActivationString(fields);
      assert.equal(canonical, c.expected.canonical);
      assert.equal(canonical.split('\n').length, 5);
      assert.equal(canonical.split('\n')[0], DEVICE_LABELS.activation);
      assert.equal(signCanonical(b(i.productSecret), canonical), c.expected.signature);
      assert.equal(b64u(encodeActivationBody({ ...fields, signature: c.expected.signature })), c.expected.body);

      const built = buildActivationRequest({ productId: i.productId, serial: i.serial, productSecret: b(i.productSecret), timestamp: Number(i.timestamp), nonce: i.nonce });
      assert.equal(built.canonical, c.expected.canonical);
      assert.equal(b64u(built.body), c.expected.body);
      assert.deepEqual(built.headers, c.expected.headers);
      assert.equal(built.fields.signature, c.expected.signature);
      assert.deepEqual(built.context, { productId: i.productId, serial: i.serial, nonce: i.nonce, productSecret: b(i.productSecret) });

      // And the server side reads it back.
      const parsed = parseActivationRequest(b(c.expected.body));
      assert.equal(parsed.productId, i.productId);
      assert.equal(parsed.serial, i.serial);
      assert.equal(parsed.timestamp, i.timestamp);
      assert.equal(parsed.timestampSeconds, Number(i.timestamp));
      assert.equal(parsed.nonce, i.nonce);
      assert.equal(parsed.nonceScope, ACTIVATION_NONCE_SCOPE_PREFIX + i.productId);
      assert.equal(b64u(parsed.signature), c.expected.signature);
      assert.equal(verifyActivationSignature(parsed, [b(i.productSecret)]), 0);
    });
  }
});

describe('device-activation.json: delivery', () => {
  for (const c of act.delivery) {
    test(c.description, () => {
      const i = c.input;
      const binding = bindingOf(i);
      const serverNonce = b(i.serverNonce);
      const keyVersion = Number(i.keyVersion);
      assert.equal(c.expected.hkdfInfo, i.purpose === 'activate' ? DEVICE_LABELS.hkdfActivate : DEVICE_LABELS.hkdfRotate);
      assert.equal(deviceKeySalt(i.requestNonce, serverNonce).toString('hex'), c.expected.saltHex);
      const { key, iv } = deriveDeviceKeyWrap(i.purpose, binding.wrappingSecret, i.requestNonce, serverNonce);
      assert.equal(Buffer.concat([key, iv]).toString('hex'), c.expected.okmHex);
      assert.equal(key.toString('hex'), c.expected.wrapKeyHex);
      assert.equal(iv.toString('hex'), c.expected.wrapIvHex);
      assert.equal(deviceKeyAad({ productId: i.productId, serial: i.serial, keyVersion }).toString('utf8'), c.expected.aad);

      const sealed = sealDeviceKey(binding, keyVersion, { deviceKey: b(i.deviceKey), serverNonce });
      assert.equal(sealed.delivery.sealedKey, c.expected.sealedKey);
      assert.equal(b(sealed.delivery.sealedKey).length, 48);
      assert.equal(b64u(sealed.body), c.expected.body);
      assert.deepEqual(sealed.headers, c.expected.headers);
      assert.equal(sealed.status, 200);
      assert.equal(b64u(sealed.deviceKey), i.deviceKey);

      const opened = openDeviceKey(binding, b(c.expected.body));
      assert.equal(b64u(opened.deviceKey), i.deviceKey);
      assert.equal(opened.keyVersion, keyVersion);
      assert.deepEqual(openDeviceKey(binding, parseDeviceKeyDelivery(b(c.expected.body))), opened);
    });
  }
  test('the activation answer opens through openActivationResponse with the context buildActivationRequest returned', () => {
    const a = act.activation[0].input;
    const d = act.delivery[0];
    const { context } = buildActivationRequest({ productId: a.productId, serial: a.serial, productSecret: b(a.productSecret), timestamp: Number(a.timestamp), nonce: a.nonce });
    const result = openActivationResponse(context, { status: 200, header: header(d.expected.headers), body: b(d.expected.body) });
    assert.ok(result.ok);
    assert.equal(b64u(result.deviceKey), d.input.deviceKey);
    assert.equal(result.keyVersion, 1);
  });
});

describe('device-activation.json: verify (steps 1-6 of SPEC.md 15.5)', () => {
  const v = act.verify;
  for (const c of v.cases) {
    test(c.description, () => {
      const secrets: Buffer[] = (c.productSecrets ?? v.productSecrets).map(b);
      // Returns the code, or the parsed request and the matching secret's index when accepted.
      const run = (seen: Set<string>, body: Buffer): string | { parsed: ParsedActivationRequest; index: number } => {
        try {
          const parsed = parseActivationRequest(body);
          checkTimestamp(parsed.timestampSeconds, c.now, v.windowSeconds);
          if (parsed.productId !== v.productId) return 'WXSEAL_UNKNOWN_KEY_ID';
          const index = verifyActivationSignature(parsed, secrets);
          const id = `${parsed.nonceScope} ${parsed.nonce}`;
          if (seen.has(id)) return 'WXSEAL_REPLAYED_NONCE';
          seen.add(id);
          return { parsed, index };
        } catch (err) {
          assert.ok(err instanceof WxsealError, String(err));
          return err.code;
        }
      };
      const seen = new Set<string>();
      if (c.precededBy) assert.equal(typeof run(seen, b(c.precededBy)), 'object');
      if (c.sendTwice) assert.equal(typeof run(seen, b(c.body)), 'object');
      const result = run(seen, b(c.body));
      if (c.expectedCode === null) {
        assert.equal(typeof result, 'object', `expected acceptance, got ${String(result)}`);
        const { parsed, index } = result as { parsed: ParsedActivationRequest; index: number };
        assert.equal(index, c.expectedSecretIndex);
        assert.equal(parsed.productId, v.productId);
      } else {
        assert.equal(result, c.expectedCode);
      }
    });
  }
});

describe('device-activation.json: mustNotOpen', () => {
  for (const c of act.mustNotOpen) {
    test(c.description, () => {
      assert.equal(codeOf(() => openDeviceKey(bindingOf(c.binding), b(c.body))), 'WXSEAL_RESPONSE_INVALID');
    });
  }
});

describe('device-request.json', () => {
  for (const c of dev.cases) {
    test(c.description, () => {
      const i = c.input;
      const built = buildRequest(
        deviceRequestSpec(i.serial, b(i.deviceKey), {
          mode: i.mode, method: i.method, target: i.target, body: b(i.body), timestamp: Number(i.timestamp), nonce: i.nonce,
          ...(i.contentType ? { contentType: i.contentType } : {}),
        }),
      );
      assert.equal(built.canonical, c.expected.canonical);
      assert.deepEqual(built.headers, c.expected.headers);
      assert.equal(built.headers[HEADERS.keyId], i.serial);
      assert.equal(built.canonical.split('\n')[0], LABELS.request);
      // The existing verifier, with the device key as the key id's secret.
      const parsed = parseRequestHeaders({ method: i.method, target: i.target, header: header(c.expected.headers) });
      assert.equal(parsed.keyId, i.serial);
      assert.equal(verifyRequestSignature(parsed, b(i.body), [b(i.deviceKey)]), 0);
    });
  }

  test('rotation: request, signed response, delivery wrapped under the old key', () => {
    const r = dev.rotation;
    const oldKey = b(r.deviceKey);
    const nonce = r.request.headers[HEADERS.nonce];
    const timestamp = Number(r.request.headers[HEADERS.timestamp]);
    const built = buildRequest(deviceRequestSpec(r.serial, oldKey, { mode: 'signed', method: r.request.method, target: r.request.target, timestamp, nonce }));
    assert.deepEqual(built.headers, r.request.headers);
    assert.equal(built.canonical, r.request.canonical);
    const parsed = parseRequestHeaders({ method: r.request.method, target: r.request.target, header: header(r.request.headers) });
    // The server tries every valid key of the serial; here the old one and an unrelated one.
    assert.equal(verifyRequestSignature(parsed, Buffer.alloc(0), [generateDeviceKey(), oldKey]), 1);

    // Server: the delivery of device-activation.json delivery[2], signed as a sign-only response.
    const d = act.delivery[2];
    assert.equal(d.input.requestNonce, nonce);
    assert.equal(d.input.wrappingSecret, r.deviceKey);
    const answer = sealDeviceKey({ purpose: 'rotate', wrappingSecret: oldKey, productId: r.productId, serial: r.serial, requestNonce: nonce }, 2, { deviceKey: b(r.newDeviceKey), serverNonce: b(d.input.serverNonce) });
    assert.equal(b64u(answer.body), r.response.body);
    assert.equal(r.request.body, ''); // b64u of the empty body
    const res = signResponse({ keyId: r.serial, nonce, secret: oldKey }, { status: 200, contentType: 'application/json', body: answer.body });
    // The handler's Cache-Control: no-store (SPEC.md 15.7) travels next to the signed headers.
    assert.deepEqual({ ...res.headers, 'cache-control': answer.headers['cache-control'] }, r.response.headers);

    // Device: authenticate the response (section 12), then open the delivery with the old key.
    const opened = openResponse(built.context, { status: r.response.status, header: header(r.response.headers), body: b(r.response.body) });
    const key = openDeviceKey({ purpose: 'rotate', wrappingSecret: oldKey, productId: r.productId, serial: r.serial, requestNonce: nonce }, opened.body);
    assert.equal(b64u(key.deviceKey), r.newDeviceKey);
    assert.equal(String(key.keyVersion), r.newKeyVersion);
  });
});

describe('round trips', () => {
  const productSecret = Buffer.alloc(32, 0x5a);
  const spec = { productId: 'prod-1', serial: 'dev-0001', productSecret };

  test('activation: build, parse, verify, seal, open', () => {
    const req = buildActivationRequest(spec);
    assert.match(req.fields.nonce, /^[A-Za-z0-9_-]{22}$/);
    const parsed = parseActivationRequest(req.body);
    checkTimestamp(parsed.timestampSeconds, Math.floor(Date.now() / 1000), 60);
    assert.equal(verifyActivationSignature(parsed, [Buffer.alloc(48, 1), productSecret]), 1);
    const sealed = sealDeviceKey({ purpose: 'activate', wrappingSecret: productSecret, productId: parsed.productId, serial: parsed.serial, requestNonce: parsed.nonce }, 1);
    assert.equal(sealed.deviceKey.length, 32);
    const result = openActivationResponse(req.context, { status: sealed.status, header: header(sealed.headers), body: sealed.body });
    assert.ok(result.ok);
    assert.deepEqual(result.deviceKey, sealed.deviceKey);
    assert.equal(result.keyVersion, 1);
  });

  test('fresh randomness: two deliveries of the same key differ, and two activations get different nonces', () => {
    const req = buildActivationRequest(spec);
    assert.notEqual(buildActivationRequest(spec).fields.nonce, req.fields.nonce);
    const binding: DeviceKeyBinding = { purpose: 'activate', wrappingSecret: productSecret, productId: 'prod-1', serial: 'dev-0001', requestNonce: req.fields.nonce };
    const key = generateDeviceKey();
    const a = sealDeviceKey(binding, 1, { deviceKey: key });
    const c = sealDeviceKey(binding, 1, { deviceKey: key });
    assert.notEqual(a.delivery.serverNonce, c.delivery.serverNonce);
    assert.notEqual(a.delivery.sealedKey, c.delivery.sealedKey);
    assert.deepEqual(openDeviceKey(binding, a.body).deviceKey, openDeviceKey(binding, c.body).deviceKey);
  });

  test('largest key version round-trips; 0, 2^31 and fractions are refused when sealing', () => {
    const binding: DeviceKeyBinding = { purpose: 'rotate', wrappingSecret: Buffer.alloc(32, 3), productId: 'p', serial: 's', requestNonce: 'A'.repeat(22) };
    assert.equal(openDeviceKey(binding, sealDeviceKey(binding, 2147483647).body).keyVersion, 2147483647);
    for (const bad of [0, 2147483648, 1.5, -1]) assert.throws(() => sealDeviceKey(binding, bad), RangeError);
    // A delivery claiming 2^31 is refused by the device before any decryption.
    const body = sealDeviceKey(binding, 7).body.toString('utf8').replace('"keyVersion":"7"', '"keyVersion":"2147483648"');
    assert.equal(codeOf(() => openDeviceKey(binding, Buffer.from(body))), 'WXSEAL_RESPONSE_INVALID');
  });

  test('a device request in sealed mode verifies and opens with the existing server functions', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const deviceKey = generateDeviceKey();
    const built = buildRequest(
      deviceRequestSpec('dev-0001', deviceKey, {
        mode: 'sealed', method: 'POST', target: '/api/devices/telemetry', contentType: 'application/json', body: Buffer.from('{"t":21.5}'),
        serverKey: { id: 'sk-test', publicKey },
      }),
    );
    const parsed = parseRequestHeaders({ method: 'POST', target: '/api/devices/telemetry', header: header(built.headers) });
    assert.equal(parsed.keyId, 'dev-0001');
    assert.ok(parsed.mode === 'sealed');
    assert.equal(verifyRequestSignature(parsed, built.body, [deviceKey]), 0);
    const sessionKey = unwrapSessionKey(privateKey, parsed.wrappedKey);
    const opened = openSealedRequest(parsed, sessionKey, built.body);
    assert.equal(opened.body.toString(), '{"t":21.5}');
    assert.equal(opened.meta.contentType, 'application/json');
    // And the device opens the sealed answer.
    const res = sealResponse({ keyId: parsed.keyId, nonce: parsed.nonce, sessionKey }, { status: 200, contentType: 'application/json', body: Buffer.from('{}') });
    assert.equal(openResponse(built.context, { status: res.status, header: header(res.headers), body: res.body }).body.toString(), '{}');
  });

  test('a device request signed with another key, or under the product secret, is BAD_SIGNATURE', () => {
    const deviceKey = generateDeviceKey();
    const built = buildRequest(deviceRequestSpec('dev-0001', deviceKey, { mode: 'signed', method: 'GET', target: '/api/x' }));
    const parsed = parseRequestHeaders({ method: 'GET', target: '/api/x', header: header(built.headers) });
    assert.equal(codeOf(() => verifyRequestSignature(parsed, Buffer.alloc(0), [generateDeviceKey()])), 'WXSEAL_BAD_SIGNATURE');
    // The product secret is no request key: even a request "signed" with it fails against the device key.
    const withProduct = buildRequest({ mode: 'signed', method: 'GET', target: '/api/x', keyId: 'dev-0001', secret: productSecret });
    const parsed2 = parseRequestHeaders({ method: 'GET', target: '/api/x', header: header(withProduct.headers) });
    assert.equal(codeOf(() => verifyRequestSignature(parsed2, Buffer.alloc(0), [deviceKey])), 'WXSEAL_BAD_SIGNATURE');
  });
});

describe('tampering and misuse', () => {
  const productSecret = Buffer.alloc(32, 0x33);
  const req = buildActivationRequest({ productId: 'prod-1', serial: 'dev-0001', productSecret, timestamp: 1763900000 });
  const binding: DeviceKeyBinding = { purpose: 'activate', wrappingSecret: productSecret, productId: 'prod-1', serial: 'dev-0001', requestNonce: req.fields.nonce };
  const sealed = sealDeviceKey(binding, 3);

  test('flipping any bit of the sealed key or tag makes the delivery refuse to open', () => {
    const raw = b(sealed.delivery.sealedKey);
    for (let byte = 0; byte < raw.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const t = Buffer.from(raw);
        t[byte] = t[byte]! ^ (1 << bit);
        assert.equal(codeOf(() => openDeviceKey(binding, { ...sealed.delivery, sealedKey: b64uEncode(t) })), 'WXSEAL_RESPONSE_INVALID');
      }
    }
  });

  test('a delivery replayed to a later activation (other request nonce) does not open', () => {
    const later = buildActivationRequest({ productId: 'prod-1', serial: 'dev-0001', productSecret });
    assert.equal(codeOf(() => openActivationResponse(later.context, { status: 200, header: header(sealed.headers), body: sealed.body })), 'WXSEAL_RESPONSE_INVALID');
  });

  test('flipping any bit of the activation signature, or changing any signed member, is BAD_SIGNATURE', () => {
    const parsed = parseActivationRequest(req.body);
    for (let i = 0; i < 32 * 8; i++) {
      const sig = Buffer.from(parsed.signature);
      sig[i >> 3] = sig[i >> 3]! ^ (1 << (i & 7));
      assert.equal(codeOf(() => verifyActivationSignature({ ...parsed, signature: sig }, [productSecret])), 'WXSEAL_BAD_SIGNATURE');
    }
    for (const edit of [{ productId: 'prod-2' }, { serial: 'dev-0002' }, { timestamp: '1763900001' }, { nonce: 'B'.repeat(22) }]) {
      assert.equal(codeOf(() => verifyActivationSignature({ ...parsed, ...edit }, [productSecret])), 'WXSEAL_BAD_SIGNATURE');
    }
    assert.equal(codeOf(() => verifyActivationSignature(parsed, [])), 'WXSEAL_BAD_SIGNATURE');
  });

  test('openActivationResponse: rejections are returned with their server time; other statuses are invalid', () => {
    const rej = rejectionResponse('WXSEAL_TIMESTAMP_EXPIRED', 'timestamp is more than 60s in the past', 1763990000);
    const result = openActivationResponse(req.context, { status: rej.status, header: header(rej.headers), body: rej.body });
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.rejection.code, 'WXSEAL_TIMESTAMP_EXPIRED');
      assert.equal(result.rejection.serverTime, 1763990000);
    }
    // A Wxseal-Error with the wrong status is not a rejection, and a 201 is not an answer.
    assert.equal(codeOf(() => openActivationResponse(req.context, { status: 500, header: header(rej.headers), body: rej.body })), 'WXSEAL_RESPONSE_INVALID');
    assert.equal(codeOf(() => openActivationResponse(req.context, { status: 201, header: header(sealed.headers), body: sealed.body })), 'WXSEAL_RESPONSE_INVALID');
    assert.equal(codeOf(() => openActivationResponse(req.context, { status: 200, header: header({}), body: Buffer.from('not json') })), 'WXSEAL_RESPONSE_INVALID');
  });

  test('configuration errors are WXSEAL_CONFIG_INVALID', () => {
    const bad = [
      () => buildActivationRequest({ productId: 'prod 1', serial: 'dev', productSecret }),
      () => buildActivationRequest({ productId: 'prod', serial: 'x'.repeat(65), productSecret }),
      () => buildActivationRequest({ productId: 'prod', serial: 'dev', productSecret: Buffer.alloc(16) }),
      () => buildActivationRequest({ productId: 'prod', serial: 'dev', productSecret, nonce: 'short' }),
      () => deviceRequestSpec('dev 1', generateDeviceKey(), { mode: 'signed', method: 'GET', target: '/' }),
      () => deviceRequestSpec('dev', Buffer.alloc(48), { mode: 'signed', method: 'GET', target: '/' }),
      () => sealDeviceKey({ ...binding, purpose: 'rotate', wrappingSecret: Buffer.alloc(48) }, 1),
      () => sealDeviceKey({ ...binding, wrappingSecret: Buffer.alloc(16) }, 1),
      () => sealDeviceKey(binding, 1, { deviceKey: Buffer.alloc(16) }),
      () => sealDeviceKey(binding, 1, { serverNonce: Buffer.alloc(16) }),
      () => sealDeviceKey({ ...binding, requestNonce: 'x' }, 1),
    ];
    for (const fn of bad) assert.equal(codeOf(fn), 'WXSEAL_CONFIG_INVALID');
  });

  test('deviceRequestSpec keeps every other field and sets only key id and secret', () => {
    const key = generateDeviceKey();
    const spec = deviceRequestSpec('dev-1', key, { mode: 'signed', method: 'PUT', target: '/a?b=1', body: Buffer.from('x'), contentType: 'text/plain', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    assert.equal(spec.keyId, 'dev-1');
    assert.equal(spec.secret, key);
    assert.equal(spec.method, 'PUT');
    assert.equal(spec.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  });
});
