/** The ratios the product brief sets targets for, computed from a run's results. */
import type { CryptoRate } from './crypto-limits.js';
import type { ScenarioResult } from './scenario-result.js';

export interface Ratio {
  id: 'b/a' | 'b/rsa' | 'c/a' | 'c/d' | 'c/d cpu' | 'c/d crypto' | 'f/a' | 'g/a' | 'h/a' | 'i/c cpu';
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
  const cpu = (id: string): number | undefined => {
    const s = scenarios.find((x) => x.id === id);
    return s?.status === 'ok' && s.serverCpuMicrosPerRequest !== undefined && s.serverCpuMicrosPerRequest > 0 ? s.serverCpuMicrosPerRequest : undefined;
  };
  const micros = (id: string): number | undefined => {
    const r = crypto.find((x) => x.id === id)?.opsPerSec;
    return r ? 1e6 / r : undefined;
  };
  const hmac = micros('hmac');
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
    make('h/a', 'valid sealed (X25519) ÷ plain proxy', h, a, '≥ 0.45', 0.45, a ? why('h') : why('a'), 'valid sealed traffic with an X25519 server key: no RSA, no session-key reuse'),
    make('g/a', 'signed device requests (1 key per device) ÷ plain proxy', g, a, 'informational', undefined, a ? why('g') : why('a'), 'what signing, the device-key lookup and the nonce cost on sign-only traffic from many devices'),
  ];
}
