/** The ratios the product brief sets targets for, computed from a run's results. */
import { SM_PRIMITIVES, type CryptoRate } from './crypto-limits.js';
import type { ScenarioResult } from './scenario-result.js';

export interface Ratio {
  id: 'b/a' | 'b/rsa' | 'c/a' | 'c/d' | 'c/d cpu' | 'c/d crypto' | 'f/a' | 'f-a cpu' | 'g/a' | 'h/a' | 'h-a cpu' | 'i/c cpu' | 'k/j' | 'l/a' | 'l-a cpu';
  label: string;
  /** null when a scenario it needs did not run (or failed). */
  value: number | null;
  /** The target in words. */
  target: string;
  /** value ≥ threshold is "met"; absent for informational ratios. */
  threshold?: number;
  met: boolean | null;
  /** Why the value is missing, or how to read it. */
  note: string;
}

/**
 * The raw primitives (e) a request of each scenario needs, and the scenario whose CPU per request
 * is its floor: the plain proxy for valid traffic, the plain proxy on every core for (k), the
 * plain endpoint answering the same bytes for forged traffic.
 */
const PRIMITIVES_OF: Partial<Record<string, { floor: string; primitives: readonly string[] }>> = {
  b: { floor: 'a', primitives: ['hmac', 'body-sha256', 'rsa-unwrap', 'aes-gcm', 'response-hkdf', 'response-seal'] },
  h: { floor: 'a', primitives: ['hmac', 'body-sha256', 'x25519-unwrap', 'aes-gcm', 'response-hkdf', 'response-seal'] },
  l: { floor: 'a', primitives: SM_PRIMITIVES },
  f: { floor: 'a', primitives: ['hmac', 'body-sha256', 'aes-gcm', 'response-hkdf', 'response-seal'] },
  k: { floor: 'j', primitives: ['hmac', 'body-sha256', 'aes-gcm', 'response-hkdf', 'response-seal'] },
  c: { floor: 'i', primitives: ['hmac', 'body-sha256'] },
  d: { floor: 'i', primitives: ['rsa-unwrap', 'aes-gcm', 'body-sha256', 'hmac'] },
};

export interface Overhead {
  /** The scenario whose server CPU per request is the floor. */
  floor: string;
  /** Server CPU µs per request beyond the floor's (absent when either is missing). */
  aboveFloorMicros?: number;
  /** Sum of the raw primitives measured alone in (e) (absent when (e) did not run). */
  primitivesMicros?: number;
}

/** For the results table: what each scenario costs beyond its floor, next to what its cryptography costs alone. */
export function overheadOf(id: string, scenarios: readonly ScenarioResult[], crypto: readonly CryptoRate[]): Overhead | undefined {
  const spec = PRIMITIVES_OF[id];
  if (!spec) return undefined;
  const cpu = (x: string): number | undefined => {
    const s = scenarios.find((y) => y.id === x);
    return s?.status === 'ok' && s.serverCpuMicrosPerRequest !== undefined && s.serverCpuMicrosPerRequest > 0 ? s.serverCpuMicrosPerRequest : undefined;
  };
  let primitivesMicros: number | undefined = 0;
  for (const p of spec.primitives) {
    const rate = crypto.find((c) => c.id === p)?.opsPerSec;
    primitivesMicros = rate && primitivesMicros !== undefined ? primitivesMicros + 1e6 / rate : undefined;
  }
  const mine = cpu(id);
  const floor = cpu(spec.floor);
  return {
    floor: spec.floor,
    ...(mine !== undefined && floor !== undefined ? { aboveFloorMicros: Math.round(10 * (mine - floor)) / 10 } : {}),
    ...(primitivesMicros !== undefined ? { primitivesMicros: Math.round(10 * primitivesMicros) / 10 } : {}),
  };
}

export function computeRatios(scenarios: readonly ScenarioResult[], crypto: readonly CryptoRate[]): Ratio[] {
  const rate = (id: string): number | undefined => {
    const s = scenarios.find((x) => x.id === id);
    return s?.status === 'ok' && s.reqPerSec !== undefined && s.reqPerSec > 0 ? s.reqPerSec : undefined;
  };
  const why = (id: string): string => {
    const s = scenarios.find((x) => x.id === id);
    if (!s) return `(${id}) did not run`;
    if (s.status === 'skipped') return `(${id}) skipped: ${s.reason ?? ''}`;
    return `(${id}) failed`;
  };
  const rsa = crypto.find((c) => c.id === 'rsa-unwrap')?.opsPerSec;
  const make = (id: Ratio['id'], label: string, num: number | undefined, den: number | undefined, target: string, threshold: number | undefined, missing: string, note: string): Ratio => {
    const value = num !== undefined && den !== undefined ? num / den : null;
    return {
      id,
      label,
      value,
      target,
      ...(threshold !== undefined ? { threshold } : {}),
      met: value === null || threshold === undefined ? null : value >= threshold,
      note: value === null ? missing : note,
    };
  };
  const a = rate('a');
  const b = rate('b');
  const c = rate('c');
  const d = rate('d');
  const f = rate('f');
  const g = rate('g');
  const h = rate('h');
  const l = rate('l');
  const j = rate('j');
  const k = rate('k');
  const cpu = (id: string): number | undefined => {
    const s = scenarios.find((x) => x.id === id);
    return s?.status === 'ok' && s.serverCpuMicrosPerRequest !== undefined && s.serverCpuMicrosPerRequest > 0 ? s.serverCpuMicrosPerRequest : undefined;
  };
  const micros = (id: string): number | undefined => {
    const r = crypto.find((x) => x.id === id)?.opsPerSec;
    return r ? 1e6 / r : undefined;
  };
  const hmac = micros('hmac');
  // The primitives of a valid request on the session-key path (f): HMAC, body hash, AES-GCM open,
  // response HKDF, AES-GCM seal; the X25519 path (h) adds the HPKE unwrap.
  const sumOf = (ids: readonly string[]): number | undefined => {
    let total = 0;
    for (const id of ids) {
      const us = micros(id);
      if (us === undefined) return undefined;
      total += us;
    }
    return total;
  };
  const primitivesF = sumOf(PRIMITIVES_OF['f']!.primitives);
  const primitivesH = sumOf(PRIMITIVES_OF['h']!.primitives);
  const primitivesL = sumOf(PRIMITIVES_OF['l']!.primitives);
  const overCpu = (id: string): number | undefined => {
    const x = cpu(id);
    const base = cpu('a');
    return x !== undefined && base !== undefined && x > base ? x - base : undefined;
  };
  const unwrapAndDecrypt = micros('rsa-unwrap') !== undefined && micros('aes-gcm') !== undefined ? micros('rsa-unwrap')! + micros('aes-gcm')! : undefined;
  return [
    make('b/a', 'valid sealed ÷ plain proxy', b, a, 'informational', undefined, a ? why('b') : why('a'), 'what wxseal costs on valid traffic, RSA included'),
    make('b/rsa', 'valid sealed ÷ RSA-unwrap limit (e)', b, rsa, 'approach 1 (read as met at ≥ 0.8)', 0.8, rsa ? why('b') : '(e) did not run', 'how close the gateway gets to one core of RSA-OAEP unwraps'),
    make('c/a', 'forged → gateway ÷ plain proxy', c, a, '≥ 0.9', 0.9, a ? why('c') : why('a'), 'a forged flood costs the gateway about what plain traffic costs a proxy'),
    make('i/c cpu', 'server CPU per forged request: plain endpoint ÷ gateway', cpu('i'), cpu('c'), '≥ 0.8 (the gateway at most 1.25× the endpoint)', 0.8, why('c') + ' / ' + why('i'), 'what rejecting a forgery costs the gateway beyond answering the same bytes at all'),
    make('c/d', 'forged → gateway ÷ forged → decrypt-first', c, d, '≥ 50', 50, c ? why('d') : why('c'), 'what verifying the HMAC first saves under a forged flood'),
    make('c/d cpu', 'server CPU per forged request: decrypt-first ÷ gateway', cpu('d'), cpu('c'), '≥ 50 (same target, on CPU)', 50, why('c') + ' / ' + why('d'), 'the CPU a forged request costs the server, HTTP handling included, in each order'),
    make('c/d crypto', 'crypto per forged request: (RSA unwrap + AES) ÷ HMAC', unwrapAndDecrypt, hmac, '≥ 50 (same target, crypto only)', 50, '(e) did not run', 'what the order of the checks saves in cryptography alone, from (e)'),
    make('f/a', 'sealed + session-key cache ÷ plain proxy', f, a, '≥ 0.5', 0.5, a ? why('f') : why('a'), 'valid sealed traffic once RSA is paid per key, not per request'),
    make(
      'f-a cpu',
      'primitives of a valid request ÷ its CPU beyond the plain proxy (f − a)',
      primitivesF,
      overCpu('f'),
      '≥ 0.8 (the overhead at most 1.25× the primitives)',
      0.8,
      primitivesF === undefined ? '(e) did not run' : why('f') + ' / ' + why('a'),
      'server CPU per request of (f) minus (a), against HMAC + SHA-256 + AES-GCM open + HKDF + AES-GCM seal from (e)',
    ),
    make('h/a', 'valid sealed (X25519) ÷ plain proxy', h, a, '≥ 0.45', 0.45, a ? why('h') : why('a'), 'valid sealed traffic with an X25519 server key: no RSA, no session-key reuse'),
    make(
      'h-a cpu',
      'primitives of a valid X25519 request ÷ its CPU beyond the plain proxy (h − a)',
      primitivesH,
      overCpu('h'),
      '≥ 0.8 (the overhead at most 1.25× the primitives)',
      0.8,
      primitivesH === undefined ? '(e) did not run' : why('h') + ' / ' + why('a'),
      'as f − a, with the HPKE unwrap added to the primitives',
    ),
    make(
      'l/a',
      'valid sealed (SM suite) ÷ plain proxy',
      l,
      a,
      'informational',
      undefined,
      a ? why('l') : why('a'),
      'valid sealed traffic with an SM2 server key (SPEC 6.6): every primitive in @wxseal/gm (SM2 decryption on OpenSSL\'s curve arithmetic); no session-key reuse',
    ),
    make(
      'l-a cpu',
      'primitives of a valid SM request ÷ its CPU beyond the plain proxy (l − a)',
      primitivesL,
      overCpu('l'),
      'informational',
      undefined,
      primitivesL === undefined ? '(e) did not run' : why('l') + ' / ' + why('a'),
      'as h − a, with the SM suite\'s primitives from (e): HMAC-SM3, SM3, SM2 decrypt, SM4-GCM open, HKDF-SM3, SM4-GCM seal',
    ),
    make(
      'k/j',
      'sealed + session-key cache ÷ plain proxy, every core',
      k,
      j,
      '≥ 0.8',
      0.8,
      j ? why('k') : why('j'),
      'whole-machine throughput of `wxseal gateway --workers N` against the plain proxy with N workers',
    ),
    make('g/a', 'signed device requests (1 key per device) ÷ plain proxy', g, a, 'informational', undefined, a ? why('g') : why('a'), 'what signing, the device-key lookup and the nonce cost on sign-only traffic from many devices'),
  ];
}
