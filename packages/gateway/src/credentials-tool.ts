/**
 * Changing the credentials of a gateway (or a fleet) without a running gateway: what
 * `wxseal credentials …` uses. It opens the control plane named by the gateway config, applies
 * the same checks as the admin API (CredentialState), writes the same change and audit rows, and
 * announces the change the same way, so every running instance applies it within its poll interval.
 */
import type { ServerKeySuite } from '@wxseal/protocol';
import type { ServerKeyType } from '@wxseal/server';
import { ControlPlaneRuntime, controlPlaneSettings } from './control-plane.js';
import type { GatewayConfig } from './config.js';
import { gatewayLogger } from './logger.js';
import { CredentialState, type SecretView, type ServerKeyView } from './admin/state.js';
import { AdminError } from './admin/http.js';

export interface CredentialsTool {
  credentials(): { keyId: string; secrets: SecretView[] }[];
  serverKeys(): ServerKeyView[];
  addSecret(keyId: string, reason: string): Promise<{ secretId: string; secret: string }>;
  retireSecret(keyId: string, secretId: string, reason: string): Promise<void>;
  /** Generates a server key of `type` (default rsa: RSA-2048; x25519; sm2) and makes it the active one. */
  rotateServerKey(reason: string, type?: ServerKeyType): Promise<{ kid: string; type: ServerKeyType; suite: ServerKeySuite; publicKeyPem: string }>;
  retireServerKey(kid: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the control plane of `config` for one tool run (no heartbeat, no listener). Fails with
 * AdminError ADMIN_NOT_CONFIGURED when the config has neither a controlPlane nor an admin section,
 * and ADMIN_UNAVAILABLE when the control plane cannot be read.
 */
export async function openCredentialsTool(config: GatewayConfig, options: { actor: string; now?: () => number }): Promise<CredentialsTool> {
  const settings = controlPlaneSettings(config);
  if (!settings) throw new AdminError('ADMIN_NOT_CONFIGURED', 'the gateway config has no controlPlane (or admin) section: its credentials live in the config file alone');
  const now = options.now ?? Date.now;
  let failure: unknown;
  // A copy that names the tool; the master key ring is non-enumerable (kept out of logs), so it is carried over by hand.
  const toolSettings = { ...settings, instanceId: 'cli' };
  Object.defineProperty(toolSettings, 'masterKeys', { value: settings.masterKeys, enumerable: false });
  const runtime = new ControlPlaneRuntime(config, toolSettings, {
    now,
    log: gatewayLogger(undefined, 'silent'),
    applied: () => undefined,
    heartbeatStats: () => undefined,
    onError: (err) => (failure ??= err),
  });
  await runtime.start({ heartbeat: false });
  if (runtime.stale()) {
    await runtime.close();
    throw new AdminError('ADMIN_UNAVAILABLE', `the control plane (${settings.database.displayUrl}) cannot be read`, { cause: failure });
  }
  const state = new CredentialState(runtime);
  const audit = async (action: string, target: string, reason: string, outcome: 'ok' | 'refused' | 'failed', detail?: Record<string, unknown>): Promise<void> => {
    await runtime.store.audit.append({ actor: options.actor, action, target, reason, outcome, client: 'cli', ...(detail ? { detail } : {}) });
  };
  /** Runs a change and audits it, refused or not, like the admin API does. */
  const audited = async <T>(action: string, target: string, reason: string, change: () => Promise<T>, detail?: (out: T) => Record<string, unknown>): Promise<T> => {
    try {
      const out = await change();
      await audit(action, target, reason, 'ok', detail?.(out));
      return out;
    } catch (err) {
      const e = err instanceof AdminError ? err : undefined;
      await audit(action, target, reason, e && e.status < 500 ? 'refused' : 'failed', e ? { code: e.code, status: e.status } : undefined).catch(() => undefined);
      throw err;
    }
  };
  return {
    credentials: () => state.credentialViews(config.clients),
    serverKeys: () => state.serverKeyViews(config.serverKeys),
    async addSecret(keyId, reason) {
      let out: { secretId: string; secret: string };
      try {
        out = await state.addSecret(config.clients, keyId);
      } catch (err) {
        return audited('credential.secret.add', keyId, reason, () => Promise.reject(err));
      }
      await audit('credential.secret.add', `${keyId}/${out.secretId}`, reason, 'ok');
      return out;
    },
    retireSecret: (keyId, secretId, reason) => audited('credential.secret.retire', `${keyId}/${secretId}`, reason, () => state.retireSecret(config.clients, keyId, secretId)),
    rotateServerKey: (reason, type = 'rsa') =>
      audited('server-key.rotate', 'server-keys', reason, () => state.rotateServerKey(type), (out) => ({ type: out.type })),
    retireServerKey: (kid, reason) => audited('server-key.retire', kid, reason, () => state.retireServerKey(config.serverKeys, kid)),
    close: () => runtime.close(),
  };
}
