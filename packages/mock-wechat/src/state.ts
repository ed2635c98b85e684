// Persistent state for `wxseal mock-wechat --state-dir DIR`: the first run generates the platform
// keys (RSA and SM2) and one development app — RSA (AES256_GCM + RSAwithSHA256) or, with suite 'SM',
// 国密 (SM4_GCM + SM2withSM3); later runs reuse them, so the client configuration stays valid.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateMpPlatformKey, type MpPlatformKey } from './certs.js';
import { toAppEntry, type MockAppConfig } from './mp/apps.js';
import { createMockMpApp, type MockMpClientConfig } from './mp/create-app.js';
import { PlatformKeyRing, generateMpSm2PlatformKey, loadSm2PlatformKey, type MpSm2PlatformKey } from './mp/platform.js';
import { startMockWechat } from './server.js';
import type { MockWechat, MockWechatOptions } from './types.js';

export const STATE_FILES = {
  platformKey: 'platform-key.json',
  /** The SM2 platform key (SM2withSM3 apps); added to older state dirs on their next run. */
  sm2PlatformKey: 'platform-sm2-key.json',
  app: 'dev-app.json',
  client: 'client.json',
} as const;

export interface MockWechatState {
  dir: string;
  /** True when this call generated the state (first run). */
  created: boolean;
  platformKey: MpPlatformKey;
  sm2PlatformKey: MpSm2PlatformKey;
  /** 'SM' when the development app uses SM4_GCM + SM2withSM3. */
  suite: MockWechatSuite;
  /** The development app as the mock holds it. */
  app: MockAppConfig;
  /** The client side of that app (no platform certificates, no baseUrl). */
  client: Omit<MockMpClientConfig, 'platformCertificates' | 'baseUrl' | 'publicBaseUrl'>;
  /** Path of client.json. */
  clientConfigPath: string;
}

/** The development app's algorithms: 'RSA' (AES256_GCM + RSAwithSHA256) or 'SM' (国密: SM4_GCM + SM2withSM3). */
export type MockWechatSuite = 'RSA' | 'SM';

interface StoredApp {
  config: MockAppConfig;
  client: MockWechatState['client'];
}

/** Writes a file readable by its owner only (0600), atomically (temp file + rename). */
function writePrivate(path: string, data: string): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`mock-wechat state: cannot read ${path}: ${(err as Error).message}`);
  }
}

function clientConfigOf(state: Pick<MockWechatState, 'client'>, certificates: Record<string, string>, baseUrl?: string): MockMpClientConfig {
  return { ...state.client, platformCertificates: certificates, ...(baseUrl !== undefined ? { baseUrl } : {}) };
}

/**
 * Loads the state in `dir`, or creates it (directory 0700, files 0600): `platform-key.json`,
 * `dev-app.json` (an app in `optional` API-security mode that accepts any code once) and
 * `client.json` (appid, secret, symKey, symSn, privateKeyPem, privateKeySn, platformCertificates,
 * baseUrl when known). A partial state (some files missing) is an error, never overwritten.
 */
export async function loadOrCreateMockWechatState(dir: string, options: { baseUrl?: string; suite?: MockWechatSuite } = {}): Promise<MockWechatState> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('state dir must be a non-empty path');
  if (options.suite !== undefined && options.suite !== 'RSA' && options.suite !== 'SM') throw new TypeError("suite must be 'RSA' or 'SM'");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, STATE_FILES.platformKey);
  const sm2KeyPath = join(dir, STATE_FILES.sm2PlatformKey);
  const appPath = join(dir, STATE_FILES.app);
  const clientConfigPath = join(dir, STATE_FILES.client);
  const haveKey = existsSync(keyPath);
  const haveApp = existsSync(appPath);
  if (haveKey !== haveApp) {
    throw new Error(`mock-wechat state in ${dir} is incomplete (${haveKey ? STATE_FILES.app : STATE_FILES.platformKey} missing); remove the directory to start afresh`);
  }

  if (haveKey && haveApp) {
    const platformKey = readJson(keyPath) as MpPlatformKey;
    const stored = readJson(appPath) as StoredApp;
    if (typeof stored !== 'object' || stored === null || typeof stored.client !== 'object' || stored.client === null) throw new Error(`mock-wechat state: ${appPath} is malformed`);
    const entry = toAppEntry(stored.config);
    const suite: MockWechatSuite = entry.asymmetric === 'SM2withSM3' ? 'SM' : 'RSA';
    if (options.suite !== undefined && options.suite !== suite) {
      throw new Error(`mock-wechat state in ${dir} holds a ${suite} development app, not ${options.suite}; use another state dir (or remove this one) to change the suite`);
    }
    let sm2PlatformKey: MpSm2PlatformKey;
    if (existsSync(sm2KeyPath)) sm2PlatformKey = readJson(sm2KeyPath) as MpSm2PlatformKey;
    else if (suite === 'SM') throw new Error(`mock-wechat state in ${dir} is incomplete (${STATE_FILES.sm2PlatformKey} missing); remove the directory to start afresh`);
    else {
      // A state dir from before the SM2 platform key was kept: add it (nothing is overwritten).
      sm2PlatformKey = generateMpSm2PlatformKey();
      writePrivate(sm2KeyPath, `${JSON.stringify(sm2PlatformKey, null, 2)}\n`);
    }
    // Validate before serving: keys parse, certificates match their keys, app config is sound.
    new PlatformKeyRing(platformKey, loadSm2PlatformKey(sm2PlatformKey));
    const state: MockWechatState = { dir, created: false, platformKey, sm2PlatformKey, suite, app: stored.config, client: stored.client, clientConfigPath };
    return state;
  }

  const suite = options.suite ?? 'RSA';
  const platformKey = await generateMpPlatformKey();
  const sm2PlatformKey = generateMpSm2PlatformKey();
  const generated = await createMockMpApp({
    mode: 'optional',
    acceptAnyCode: true,
    fixtures: 0,
    ...(suite === 'SM' ? { symmetricAlgorithm: 'SM4_GCM' as const, asymmetricAlgorithm: 'SM2withSM3' as const } : {}),
  });
  const stored: StoredApp = { config: generated.config, client: generated.client };
  writePrivate(keyPath, `${JSON.stringify(platformKey, null, 2)}\n`);
  writePrivate(sm2KeyPath, `${JSON.stringify(sm2PlatformKey, null, 2)}\n`);
  writePrivate(appPath, `${JSON.stringify(stored, null, 2)}\n`);
  const state: MockWechatState = { dir, created: true, platformKey, sm2PlatformKey, suite, app: stored.config, client: stored.client, clientConfigPath };
  const certificates = suite === 'SM' ? { [sm2PlatformKey.consoleNumber]: sm2PlatformKey.certificatePem } : { [platformKey.consoleNumber]: platformKey.certificatePem };
  writePrivate(clientConfigPath, `${JSON.stringify(clientConfigOf(state, certificates, options.baseUrl), null, 2)}\n`);
  return state;
}

export interface RunMockWechatFromStateOptions extends Omit<MockWechatOptions, 'apps' | 'platformKey' | 'sm2PlatformKey'> {
  /** Directory holding the state (created on first run). */
  stateDir: string;
  /**
   * The development app generated on the first run: 'RSA' (default) or 'SM' (SM4_GCM + SM2withSM3,
   * client.json then holds the SM2 platform certificate). Later runs keep the stored app; a
   * different suite for an existing state dir is an error.
   */
  suite?: MockWechatSuite;
}

export interface RunningMockWechatFromState {
  mock: MockWechat;
  state: MockWechatState;
  /** What was written to client.json (baseUrl = the listening URL; publicBaseUrl when one is set). */
  clientConfig: MockMpClientConfig;
  clientConfigPath: string;
  /** True on the first run (state generated). */
  created: boolean;
}

/**
 * What `wxseal mock-wechat --state-dir DIR --port N` runs: loads or creates the state, starts the
 * mock with it, and rewrites client.json with the URL actually listened on. The caller owns the
 * process lifecycle (signals) and calls `mock.close()`.
 */
export async function runMockWechatFromState(options: RunMockWechatFromStateOptions): Promise<RunningMockWechatFromState> {
  const { stateDir, suite, ...mockOptions } = options;
  const state = await loadOrCreateMockWechatState(stateDir, suite !== undefined ? { suite } : {});
  const mock = await startMockWechat({ ...mockOptions, apps: [state.app], platformKey: state.platformKey, sm2PlatformKey: state.sm2PlatformKey });
  try {
    const clientConfig: MockMpClientConfig = {
      ...clientConfigOf(state, state.suite === 'SM' ? mock.sm2PlatformCertificates() : mock.platformCertificates(), mock.url),
      // Only when set: the scheme+host the client must compute urlpath with (AAD, signatures).
      ...(mockOptions.publicBaseUrl !== undefined ? { publicBaseUrl: mockOptions.publicBaseUrl } : {}),
    };
    writePrivate(state.clientConfigPath, `${JSON.stringify(clientConfig, null, 2)}\n`);
    return { mock, state, clientConfig, clientConfigPath: state.clientConfigPath, created: state.created };
  } catch (err) {
    await mock.close();
    throw err;
  }
}

/** A few human lines describing a running state-backed mock (for the CLI to print; no secrets). */
export function describeRunningMockWechat(running: RunningMockWechatFromState): string {
  const { mock, state } = running;
  return [
    `mock-wechat listening on ${mock.url}${running.created ? ' (new state generated)' : ''}`,
    `  state dir     ${state.dir}`,
    `  client config ${running.clientConfigPath} (appid ${state.app.appid}, API security: ${state.app.apiSecurity?.mode ?? 'off'}${state.suite === 'SM' ? ', 国密 SM4_GCM + SM2withSM3' : ''})`,
    `  platform cert ${state.suite === 'SM' ? `${mock.sm2PlatformSerial()} (SM2)` : mock.platformSerial()}`,
    `  control API   ${mock.url}/__mock/ (stats, faults, tokens, platform rotation, outage)`,
    '',
  ].join('\n');
}
