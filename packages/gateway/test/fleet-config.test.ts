// Fleet mode (docs/fleet.md): `fleet: true` refuses every per-instance state and names the
// setting; without it the same list is what the start-up log says. The controlPlane section is
// validated like the others (paths in every message, secrets never printed).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MasterKeyRing } from '@wxseal/devices';
import { GatewayConfigError, loadGatewayConfig, perInstanceState, type GatewayConfigInput } from '@wxseal/gateway';
import { baseConfig, makeKeys, tempDir } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-fleet-config');
const dir = tempDir();
const ring = `m1:${MasterKeyRing.generateKey()}`;
writeFileSync(join(dir, 'ring.txt'), `${ring}\n`, { mode: 0o600 });
const env = { CP_DB: 'postgres://wxseal:s3cret-pw@db.internal:5432/wxseal', RING: ring };

const fleetConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...baseConfig(keys, 'http://127.0.0.1:9'),
  fleet: true,
  nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379' },
  controlPlane: { database: { urlEnv: 'CP_DB' }, masterKeys: { env: 'RING' } },
  ...extra,
});

function issuesOf(input: Record<string, unknown>): string[] {
  try {
    loadGatewayConfig(input as GatewayConfigInput, { env, baseDir: dir });
  } catch (err) {
    assert.ok(err instanceof GatewayConfigError, `expected a GatewayConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('s3cret-pw'), 'the database password is never printed');
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('the config loaded but should not have');
}

describe('fleet mode', () => {
  test('a fleet config with shared stores loads; its control plane is resolved without showing the password', () => {
    const c = loadGatewayConfig(fleetConfig() as GatewayConfigInput, { env, baseDir: dir });
    assert.equal(c.fleet, true);
    assert.ok(c.controlPlane);
    assert.equal(c.controlPlane.database.url, env.CP_DB);
    assert.equal(c.controlPlane.database.displayUrl, 'postgres://wxseal:***@db.internal:5432/wxseal');
    assert.equal(c.controlPlane.pollIntervalMs, 250);
    assert.equal(c.controlPlane.maxStalenessMs, 5_000);
    assert.ok(!JSON.stringify(c).includes('s3cret-pw'), 'JSON of the config holds no password');
    assert.ok(!JSON.stringify(c.controlPlane).includes(ring.slice(3)), 'nor the master key');
    assert.match(c.controlPlane.instanceId, /^[A-Za-z0-9._:-]{1,64}$/);
  });

  test('each per-instance state is refused at start in fleet mode, naming its setting', () => {
    assert.deepEqual(issuesOf(fleetConfig({ nonceStore: { type: 'memory' } })), [
      'nonceStore.type: fleet mode (fleet: true) refuses per-instance state: the memory nonce store is per instance: a request accepted by one gateway could be replayed to another (use redis)',
    ]);
    const { controlPlane: _omitted, ...withoutControlPlane } = fleetConfig();
    assert.match(issuesOf(withoutControlPlane).join('\n'), /^controlPlane: fleet mode \(fleet: true\) refuses per-instance state: no shared control plane/m);
    assert.match(issuesOf(fleetConfig({ controlPlane: { database: { url: 'sqlite:cp.db' }, masterKeys: { env: 'RING' } } })).join('\n'), /^controlPlane\.database\.url: .*SQLite is a file of one host/m);
    const devices = { database: { url: 'sqlite:devices.db' }, masterKeys: { env: 'RING' } };
    assert.match(issuesOf(fleetConfig({ devices })).join('\n'), /^devices\.database\.url: .*SQLite is a file of one host/m);
    // All at once: every one is named, not only the first.
    const all = issuesOf({ ...withoutControlPlane, nonceStore: { type: 'memory' }, devices });
    assert.deepEqual(all.map((l) => l.split(':')[0]), ['nonceStore.type', 'controlPlane', 'devices.database.url']);
  });

  test('without fleet mode the same config loads, and perInstanceState lists what the start-up log says', () => {
    const c = loadGatewayConfig({ ...baseConfig(keys, 'http://127.0.0.1:9'), admin: { auth: { tokenEnv: 'TOKEN' }, stateDir: join(dir, 'state') } } as GatewayConfigInput, {
      env: { TOKEN: 't'.repeat(40) },
      baseDir: dir,
    });
    assert.equal(c.fleet, false);
    const list = perInstanceState(c);
    assert.deepEqual(
      list.map((p) => [p.path, p.refusedInFleet]),
      [
        ['nonceStore.type', true],
        ['controlPlane', true],
      ],
    );
    assert.match(list[1]!.message, /admin\.stateDir/);
    assert.deepEqual(perInstanceState(loadGatewayConfig(fleetConfig() as GatewayConfigInput, { env, baseDir: dir })), [], 'a fleet config keeps nothing per instance');
  });

  test('the controlPlane section is validated field by field', () => {
    // The form first (every field of the schema), then what the fields name (URLs, key rings).
    const shape = issuesOf(fleetConfig({ controlPlane: { database: { url: 'x' }, pollIntervalMs: 10, maxStalenessMs: 100, instanceId: 'has space' } })).join('\n');
    const named = issuesOf(fleetConfig({ controlPlane: { database: { url: 'http://x' }, masterKeys: { env: 'NOPE' } } })).join('\n');
    assert.match(named, /controlPlane\.database\.url: must be a sqlite:, postgres:\/\/, mysql:\/\/ or mariadb:\/\/ URL/);
    assert.match(named, /controlPlane\.masterKeys\.env: environment variable NOPE is not set/);
    const bad = shape;
    assert.match(bad, /controlPlane\.pollIntervalMs: must be an integer from 50 to 60000/);
    assert.match(bad, /controlPlane\.maxStalenessMs: must be an integer from 500 to 3600000/);
    assert.match(bad, /controlPlane\.instanceId: must be 1-64 characters/);
  });
});
