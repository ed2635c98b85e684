// Request counters a test can assert on.

export interface MockStats {
  /** Requests received per URL path (control API excluded). */
  requests: Record<string, number>;
  /** Answers with a non-zero errcode, per errcode (as a string key), injected ones included. */
  rejections: Record<string, number>;
  /** All requests received (control API excluded). */
  totalRequests: number;
  /** Requests that went through the API security checks (signed and encrypted). */
  securedRequests: number;
  /** Requests a fault was applied to (latency included). */
  faultsApplied: number;
}

const MAX_PATHS = 1000;

export class StatsCounter {
  #requests = new Map<string, number>();
  #rejections = new Map<number, number>();
  #total = 0;
  #secured = 0;
  #faults = 0;

  request(path: string): void {
    this.#total += 1;
    const key = this.#requests.has(path) || this.#requests.size < MAX_PATHS ? path : '(other)';
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  rejection(errcode: number): void {
    this.#rejections.set(errcode, (this.#rejections.get(errcode) ?? 0) + 1);
  }

  secured(): void {
    this.#secured += 1;
  }

  fault(): void {
    this.#faults += 1;
  }

  snapshot(): MockStats {
    return {
      requests: Object.fromEntries(this.#requests),
      rejections: Object.fromEntries([...this.#rejections].map(([k, v]) => [String(k), v])),
      totalRequests: this.#total,
      securedRequests: this.#secured,
      faultsApplied: this.#faults,
    };
  }

  reset(): void {
    this.#requests.clear();
    this.#rejections.clear();
    this.#total = 0;
    this.#secured = 0;
    this.#faults = 0;
  }
}
