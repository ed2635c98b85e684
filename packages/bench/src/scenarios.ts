/**
 * The HTTP scenarios of the bench, in the order they run. Scenario (e), the raw node:crypto
 * rates, is measured in-process (crypto-limits.ts). Each scenario names its target by a function
 * of targets.ts.
 */
import type { Expectation } from './loadgen/types.js';
import type { TrafficKind } from './loadgen/pool.js';
import { targets, type TargetFactory } from './targets.js';

export type ScenarioId = 'a' | 'b' | 'c' | 'd' | 'f' | 'g' | 'h' | 'i' | 'j' | 'k' | 'l';

export interface Scenario {
  id: ScenarioId;
  /** Short label for tables and the chart. */
  label: string;
  /** What is measured and why. */
  measures: string;
  target: TargetFactory;
  traffic: TrafficKind;
  /** Every response must look like this, or the scenario is aborted. */
  expect: Expectation;
  /** Valid traffic reaches the upstream once per response; forged traffic must never reach it. */
  upstream: 'every-response' | 'never';
  /** Needs the session-key cache (client `sessionKeyReuse` + verifier `sessionKeyCache`). */
  needsSessionKeyCache?: boolean;
  /** Needs the run's device registry (provisioned by the harness before it runs). */
  needsDeviceRegistry?: boolean;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'a',
    label: 'plain proxy (no wxseal)',
    measures: 'The ceiling: the same Fastify + undici forwarding to the same upstream, with no wxseal at all.',
    target: targets.plainProxy,
    traffic: 'plain',
    expect: { status: 200 },
    upstream: 'every-response',
  },
  {
    id: 'b',
    label: 'valid sealed → gateway',
    measures: 'The price of wxseal on real traffic: HMAC, nonce, RSA-OAEP unwrap, AES-GCM decrypt, forwarding, sealing the answer.',
    target: targets.realGateway,
    traffic: 'sealed',
    expect: { status: 200, sealed: true },
    upstream: 'every-response',
  },
  {
    id: 'c',
    label: 'forged → gateway',
    measures: 'A flood of forged requests (valid envelope, wrong HMAC key) against the gateway: one HMAC and a 401 each, never RSA, never the upstream.',
    target: targets.realGateway,
    traffic: 'forged',
    expect: { status: 401, code: 'WXSEAL_BAD_SIGNATURE' },
    upstream: 'never',
  },
  {
    id: 'i',
    label: 'forged → plain endpoint',
    measures: 'The floor for a rejection: the same forged bytes to a plain Fastify endpoint that answers the same 401 itself, checking nothing. A forged request should cost the gateway little more than this.',
    target: targets.plainEndpoint,
    traffic: 'forged',
    expect: { status: 401, code: 'WXSEAL_BAD_SIGNATURE' },
    upstream: 'never',
  },
  {
    id: 'd',
    label: 'forged → decrypt-first',
    measures: 'The same forged flood against a server that unwraps and decrypts BEFORE the HMAC (the wrong order): what failing fast saves.',
    target: targets.decryptFirst,
    traffic: 'forged',
    expect: { status: 401, code: 'WXSEAL_BAD_SIGNATURE' },
    upstream: 'never',
  },
  {
    id: 'h',
    label: 'valid sealed (X25519) → gateway',
    measures: 'Valid sealed requests wrapped for the X25519 server key (SPEC 6.5: HPKE, one X25519 derive per request instead of an RSA-OAEP unwrap), no session-key reuse.',
    target: targets.realGateway,
    traffic: 'sealed-x25519',
    expect: { status: 200, sealed: true },
    upstream: 'every-response',
  },
  {
    id: 'l',
    label: 'valid sealed (SM suite) → gateway',
    measures:
      'Valid sealed requests wrapped for the SM2 server key (SPEC 6.6, the SM suite: SM3, HMAC-SM3, SM2 decryption of the session key, SM4-GCM, HKDF-SM3, all from @wxseal/gm), no session-key reuse.',
    target: targets.realGateway,
    traffic: 'sealed-sm',
    expect: { status: 200, sealed: true },
    upstream: 'every-response',
  },
  {
    id: 'f',
    label: 'sealed + session-key cache',
    measures: 'Valid sealed requests from a client reusing its wrapped session key (fresh IV each), against the gateway with its session-key cache: RSA paid once per key.',
    target: targets.realGatewayWithSessionKeyCache,
    traffic: 'sealed-reuse',
    expect: { status: 200, sealed: true },
    upstream: 'every-response',
    needsSessionKeyCache: true,
  },
  {
    id: 'j',
    label: 'plain proxy, every core',
    measures: 'The whole-machine ceiling: the plain proxy of (a) in one worker per core (node:cluster, round-robin), CPU of all its processes.',
    target: targets.plainProxyCluster,
    traffic: 'plain',
    expect: { status: 200 },
    upstream: 'every-response',
  },
  {
    id: 'k',
    label: 'sealed + session-key cache, every core',
    measures:
      '`wxseal gateway --workers N` as a user starts it (the CLI, built package), one worker per core, session-key cache, Redis nonce store (required with N > 1): (f) on the whole machine, against (j).',
    target: targets.realGatewayCluster,
    traffic: 'sealed-reuse',
    expect: { status: 200, sealed: true },
    upstream: 'every-response',
    needsSessionKeyCache: true,
  },
  {
    id: 'g',
    label: 'signed device requests → gateway',
    measures:
      'Signed requests from many devices, one key each (一机一密), against the gateway with a `devices` section over a registry of up to 1 M devices: key lookup (Bloom → L1 → L2 → SQLite), HMAC, nonce, forwarding, signing the answer; 90 % of requests over a hot set of 10 % of the devices.',
    target: targets.realGatewayWithDevices,
    traffic: 'device-signed',
    expect: { status: 200 },
    upstream: 'every-response',
    needsDeviceRegistry: true,
  },
];
