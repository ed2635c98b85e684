// Fault injection: per-path latency, dropped connections, HTTP error statuses and WeChat errcodes,
// each optionally limited to a number of occurrences. Never applied to the /__mock/ control API.

export type FaultKind = 'latency' | 'drop' | 'http-status' | 'errcode';

/** Body of an injected HTTP error without a body of its own (a Pay path answers it as a signed error instead). */
export const DEFAULT_FAULT_BODY = 'mock-wechat: injected HTTP error';

export interface FaultSpec {
  /** Exact URL path (no query) or a RegExp tested on it; every emulated path when absent. */
  path?: string | RegExp;
  kind: FaultKind;
  /** For 'latency': delay before the request is handled normally (default 1000 ms). */
  latencyMs?: number;
  /** For 'http-status': the status (default 503). */
  status?: number;
  /** For 'http-status': the body (default a short text). */
  body?: string;
  /** For 'errcode': the errcode answered with HTTP 200 (default -1). */
  errcode?: number;
  /** For 'errcode': errmsg override. */
  errmsg?: string;
  /** Applies this many times, then disappears; forever when absent. */
  times?: number;
}

export interface ActiveFault extends Readonly<Omit<FaultSpec, 'times'>> {
  readonly id: number;
  /** Occurrences left; undefined = unlimited. */
  readonly remaining: number | undefined;
}

export interface FaultControl {
  /** Adds a fault; returns its id. Faults are tried in insertion order. */
  add(spec: FaultSpec): number;
  remove(id: number): boolean;
  clear(): void;
  list(): ActiveFault[];
}

interface Entry {
  id: number;
  spec: FaultSpec;
  remaining: number | undefined;
}

const MAX_FAULTS = 256;
const MAX_LATENCY_MS = 600_000;

/** What to do with one request: delays first, then at most one terminal fault. */
export interface FaultPlan {
  delayMs: number;
  terminal?: { kind: 'drop' } | { kind: 'http-status'; status: number; body: string } | { kind: 'errcode'; errcode: number; errmsg?: string };
}

function validate(spec: FaultSpec): FaultSpec {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('fault must be an object');
  const kinds: FaultKind[] = ['latency', 'drop', 'http-status', 'errcode'];
  if (!kinds.includes(spec.kind)) throw new TypeError(`fault kind must be one of ${kinds.join(', ')}`);
  if (spec.path !== undefined && typeof spec.path !== 'string' && !(spec.path instanceof RegExp)) throw new TypeError('fault path must be a string or RegExp');
  if (typeof spec.path === 'string' && (spec.path.length > 2048 || !spec.path.startsWith('/'))) throw new TypeError('fault path must start with "/" (at most 2048 chars)');
  if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1)) throw new TypeError('fault times must be a positive integer');
  if (spec.latencyMs !== undefined && (!Number.isFinite(spec.latencyMs) || spec.latencyMs < 0 || spec.latencyMs > MAX_LATENCY_MS)) throw new TypeError(`latencyMs must be in 0..${MAX_LATENCY_MS}`);
  if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 100 || spec.status > 599)) throw new TypeError('status must be an HTTP status 100..599');
  if (spec.errcode !== undefined && !Number.isSafeInteger(spec.errcode)) throw new TypeError('errcode must be an integer');
  if (spec.errmsg !== undefined && (typeof spec.errmsg !== 'string' || spec.errmsg.length > 1024)) throw new TypeError('errmsg must be a string of at most 1024 chars');
  if (spec.body !== undefined && (typeof spec.body !== 'string' || spec.body.length > 65536)) throw new TypeError('body must be a string of at most 65536 chars');
  return { ...spec };
}

export class FaultRegistry implements FaultControl {
  #entries: Entry[] = [];
  #nextId = 1;

  add(spec: FaultSpec): number {
    const s = validate(spec);
    if (this.#entries.length >= MAX_FAULTS) throw new RangeError(`at most ${MAX_FAULTS} active faults`);
    const id = this.#nextId++;
    this.#entries.push({ id, spec: s, remaining: s.times });
    return id;
  }

  remove(id: number): boolean {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => e.id !== id);
    return this.#entries.length !== before;
  }

  clear(): void {
    this.#entries = [];
  }

  list(): ActiveFault[] {
    return this.#entries.map((e) => {
      const { times: _times, ...rest } = e.spec;
      return { ...rest, id: e.id, remaining: e.remaining };
    });
  }

  /** Picks the faults for a request to `path`, consuming their occurrences. */
  plan(path: string): FaultPlan {
    const plan: FaultPlan = { delayMs: 0 };
    for (const e of [...this.#entries]) {
      const p = e.spec.path;
      const matches = p === undefined || (typeof p === 'string' ? p === path : (p.lastIndex = 0, p.test(path)));
      if (!matches) continue;
      if (e.spec.kind === 'latency') {
        plan.delayMs += e.spec.latencyMs ?? 1000;
      } else if (plan.terminal === undefined) {
        if (e.spec.kind === 'drop') plan.terminal = { kind: 'drop' };
        else if (e.spec.kind === 'http-status') plan.terminal = { kind: 'http-status', status: e.spec.status ?? 503, body: e.spec.body ?? DEFAULT_FAULT_BODY };
        else plan.terminal = { kind: 'errcode', errcode: e.spec.errcode ?? -1, ...(e.spec.errmsg !== undefined ? { errmsg: e.spec.errmsg } : {}) };
      } else {
        continue;
      }
      if (e.remaining !== undefined) {
        e.remaining -= 1;
        if (e.remaining <= 0) this.remove(e.id);
      }
    }
    plan.delayMs = Math.min(plan.delayMs, MAX_LATENCY_MS);
    return plan;
  }
}
