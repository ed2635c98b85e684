// The `devices` config section: defaults, secrets kept out of JSON, and clear messages.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { MasterKeyRing } from '@wxseal/devices';
import { GatewayConfigError, loadGatewayConfig, type GatewayConfigInput } from '@wxseal/gateway';
import { baseConfig, makeKeys } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-devcfg');
const env = { MK: `m1:${MasterKeyRing.generateKey()}`, CK: b64uEncode(randomBytes(32)) };
const withDevices = (devices: unknown, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput =>
  ({ ...baseConfig(keys, 'http://127.0.0.1:1', extra), devices }) as GatewayConfigInput;

function issues(input: GatewayConfigInput): string[] {
  try {
    loadGatewayConfig(input, { env });
  } catch (err) {
    assert.ok(err instanceof GatewayConfigError);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return assert.fail('expected a config error');
}

test('devices: defaults, and no URL password or key in the serialised config', () => {
  const c = loadGatewayConfig(
    withDevices({ database: { url: 'postgres://u:hunter2@db/x' }, masterKeys: { env: 'MK' }, redis: { url: 'redis://:pw@r:6379', cacheKeyEnv: 'CK' } }),
    { env },
  );
  const d = c.devices!;
  assert.equal(d.activation.enabled, false);
  assert.equal(d.activation.path, '/wxseal/device/activate');
  assert.equal(d.rotationGraceSeconds, 7 * 24 * 3600);
  assert.deepEqual(d.bloom, { expectedSerials: 1_000_000, falsePositiveRate: 0.01, rebuildIntervalMs: 600_000 });
  assert.deepEqual(d.activation.rateLimit.perSerial, { burst: 5, perMinute: 5 });
  assert.equal(d.masterKeys.activeId, 'm1');
  assert.equal(d.redis!.cacheKey.length, 32);
  const text = JSON.stringify(c);
  assert.ok(!text.includes('hunter2') && !text.includes(env.CK) && !text.includes(env.MK.slice(3)));
  // Without static clients a devices section is enough for the signed/sealed routes.
  assert.ok(loadGatewayConfig(withDevices({ database: { url: 'sqlite::memory:' }, masterKeys: { env: 'MK' } }, { clients: [] }), { env }).devices);
});

test('devices: every mistake is named with its path', () => {
  const found = issues(
    withDevices(
      {
        database: { url: 'ftp://x', urlEnv: 'DB' },
        masterKeys: { env: 'NOPE' },
        redis: { url: 'redis://r', cacheKeyEnv: 'MISSING' },
        bloom: { falsePositiveRate: 2 },
        activation: { enabled: true, rateLimit: { perSerial: { burst: 0, perMinute: 1 } } },
        rotationGraceSeconds: -1,
        extra: true,
      },
      { routes: [{ prefix: '/wxseal', upstream: 'http://127.0.0.1:1', mode: 'signed' }] },
    ),
  );
  const expect = ['devices.database', 'devices.bloom.falsePositiveRate', 'devices.activation.rateLimit.perSerial.burst', 'devices.rotationGraceSeconds', 'devices.extra'];
  for (const path of expect) assert.ok(found.some((f) => f.startsWith(path)), `${path} in ${found.join('\n')}`);
  const later = issues(withDevices({ database: { url: 'ftp://x' }, masterKeys: { env: 'NOPE' }, redis: { url: 'redis://r', cacheKeyEnv: 'MISSING' }, activation: { enabled: true } }, { routes: [{ prefix: '/wxseal', upstream: 'http://127.0.0.1:1', mode: 'signed' }] }));
  for (const path of ['devices.database.url', 'devices.masterKeys.env', 'devices.redis.cacheKeyEnv', 'routes[0].prefix']) {
    assert.ok(later.some((f) => f.startsWith(path)), `${path} in ${later.join('\n')}`);
  }
});

test('devices.changeFeed: always on, 250 ms / 5 s by default; a bound not above the interval is refused', () => {
  const base = { database: { url: 'sqlite::memory:' }, masterKeys: { env: 'MK' } };
  assert.deepEqual(loadGatewayConfig(withDevices(base), { env }).devices!.changeFeed, { pollIntervalMs: 250, maxStalenessMs: 5_000 });
  assert.deepEqual(loadGatewayConfig(withDevices({ ...base, changeFeed: { pollIntervalMs: 100, maxStalenessMs: 2_000 } }), { env }).devices!.changeFeed, {
    pollIntervalMs: 100,
    maxStalenessMs: 2_000,
  });
  const found = issues(withDevices({ ...base, changeFeed: { pollIntervalMs: 1_000, maxStalenessMs: 1_000, enabled: false } }));
  assert.ok(found.some((f) => f.startsWith('devices.changeFeed')), found.join('\n'));
  const bound = issues(withDevices({ ...base, changeFeed: { pollIntervalMs: 1_000, maxStalenessMs: 1_000 } }));
  assert.ok(bound.some((f) => f.startsWith('devices.changeFeed.maxStalenessMs: must be greater')), bound.join('\n'));
});
