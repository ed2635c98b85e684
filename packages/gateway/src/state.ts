/**
 * What a request is verified and routed with, built from a config: the credentials (the config's
 * clients with the admin API's changes overlaid, then the devices), the server keys, the route
 * table and the verifier over them. Built at start, after every reload and after every admin
 * change, and swapped whole: a request keeps the state it arrived with.
 */
import type { BlockList } from 'node:net';
import {
  ServerKeyRing,
  StaticKeyResolver,
  createVerifier,
  type ClientCredentialInput,
  type ServerKeyInput,
  type SessionKeyCache,
  type Verifier,
  type VerifierDependency,
} from '@wxseal/server';
import type { GatewayConfig } from './config.js';
import { CompositeKeyResolver, type DeviceRuntime } from './devices.js';
import { trustedProxyList } from './headers.js';
import type { NonceBackend } from './nonce.js';
import { RouteTable } from './routes.js';
import type { CredentialState } from './admin/state.js';
import { StalenessGuard, type ControlPlaneRuntime } from './control-plane.js';

export interface GatewayState {
  readonly config: GatewayConfig;
  readonly routes: RouteTable;
  readonly verifier: Verifier;
  readonly trustedProxies: BlockList | undefined;
  /** The key ids of the config's clients: a verified key id outside it is a device's serial. */
  readonly clientKeyIds: ReadonlySet<string>;
}

/** What every part of a running gateway reads: the state in force and whether it is draining. */
export interface LiveGateway {
  state: GatewayState;
  draining: boolean;
}

/** What a state is built over besides the config; the same for the gateway's whole life. */
export interface StateSources {
  readonly nonce: NonceBackend;
  readonly sessionKeyCache: SessionKeyCache | undefined;
  readonly devices: DeviceRuntime | undefined;
  /** With a control plane: the secrets and server keys added or retired through the admin API, shared by the fleet. */
  readonly credentials: CredentialState | undefined;
  /** With a control plane: how stale this instance's view is (credentials are refused past the bound). */
  readonly controlPlane: ControlPlaneRuntime | undefined;
  /** Unix ms. */
  readonly now: () => number;
  readonly onDependencyError: (err: unknown, dependency: VerifierDependency) => void;
}

export function buildState(config: GatewayConfig, sources: StateSources): GatewayState {
  const clients = new StaticKeyResolver(clientCredentials(config, sources.credentials));
  const composite = sources.devices ? new CompositeKeyResolver(clients, sources.devices.resolver, config.devices?.allowedModes) : clients;
  // Checked before any lookup: a view the control plane has not confirmed lately answers nothing.
  const keys = sources.controlPlane ? new StalenessGuard(composite, sources.controlPlane) : composite;
  const serverKeyInputs = serverKeys(config, sources.credentials);
  const serverKeyRing = serverKeyInputs.length > 0 ? new ServerKeyRing(serverKeyInputs) : undefined;
  // The verifier's bound is the largest of any route; each route reads at most its own.
  const maxBodyBytes = Math.max(config.limits.maxBodyBytes, ...config.routes.map((r) => r.maxBodyBytes));
  const verifier = createVerifier({
    keys,
    nonceStore: sources.nonce.store,
    ...(serverKeyRing ? { serverKeys: serverKeyRing } : {}),
    allowedModes: serverKeyRing ? ['sealed', 'signed'] : ['signed'],
    windowSeconds: config.limits.windowSeconds,
    maxBodyBytes,
    now: () => Math.floor(sources.now() / 1000),
    ...(sources.nonce.verifierTimeoutMs !== undefined ? { nonceStoreTimeoutMs: sources.nonce.verifierTimeoutMs } : {}),
    ...(sources.sessionKeyCache ? { sessionKeyCache: sources.sessionKeyCache } : {}),
    onDependencyError: sources.onDependencyError,
  });
  return {
    config,
    routes: new RouteTable(config.routes),
    verifier,
    trustedProxies: trustedProxyList(config.trustedProxies),
    clientKeyIds: new Set(config.clients.map((c) => c.keyId)),
  };
}

/** The config's client credentials, with the admin API's secrets overlaid when it has a state. */
function clientCredentials(config: GatewayConfig, credentials: CredentialState | undefined): ClientCredentialInput[] {
  if (credentials) return credentials.clients(config.clients);
  return config.clients.map((c) => ({
    keyId: c.keyId,
    revoked: c.revoked,
    ...(c.allowedModes ? { allowedModes: c.allowedModes } : {}),
    secrets: c.secrets.map((s) => ({
      secret: s.secret,
      ...(s.id !== undefined ? { id: s.id } : {}),
      ...(s.notBefore !== undefined ? { notBefore: s.notBefore } : {}),
      ...(s.notAfter !== undefined ? { notAfter: s.notAfter } : {}),
    })),
  }));
}

/** The config's server keys, with the admin API's added and retired keys applied when it has a state. */
function serverKeys(config: GatewayConfig, credentials: CredentialState | undefined): ServerKeyInput[] {
  if (credentials) return credentials.serverKeys(config.serverKeys);
  return config.serverKeys.map((k) => ({ id: k.id, privateKey: k.privateKey }));
}
