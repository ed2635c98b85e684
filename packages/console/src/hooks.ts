import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { isAbort } from './api.js';

export function useDebounced<T>(value: T, ms = 300): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

/**
 * Keyset paging: the cursors of the pages after the first, as a stack. `cursor` is the current
 * page's cursor (undefined on the first page); next pushes the server's nextCursor, previous pops.
 * The stack belongs to one filter `key`: when the filters change, paging restarts at page 1 in
 * the same render (no request with a stale cursor).
 */
export function useCursorStack(key: string) {
  const [state, setState] = useState<{ key: string; stack: string[] }>({ key, stack: [] });
  const stack = state.key === key ? state.stack : [];
  const next = useCallback((c: string) => setState((s) => ({ key, stack: [...(s.key === key ? s.stack : []), c] })), [key]);
  const prev = useCallback(() => setState((s) => ({ key, stack: (s.key === key ? s.stack : []).slice(0, -1) })), [key]);
  return { cursor: stack[stack.length - 1], page: stack.length + 1, hasPrev: stack.length > 0, next, prev };
}

export function useInterval(fn: () => void, ms: number | null): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (ms === null) return;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

/** Current time, ticking every `ms`. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}

/**
 * Loads data whenever `deps` change (or `reload()` is called), aborting the previous request. A
 * `load` of null clears the data without a request (e.g. while a filter is invalid). Old data stays
 * visible while the next page loads; `loading` tells which.
 */
export function useQuery<T>(load: ((signal: AbortSignal) => Promise<T>) | null, deps: readonly unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (load === null) {
      setData(null);
      setLoading(false);
      return;
    }
    const c = new AbortController();
    setLoading(true);
    load(c.signal)
      .then((d) => {
        setData(d);
        setError(null);
        setLoading(false);
      })
      .catch((err: unknown) => {
        if (c.signal.aborted || isAbort(err)) return;
        setError(err);
        setLoading(false);
      });
    return () => c.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what `load` depends on
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  /** `version` counts reload() calls, for views that must refresh along with this one. */
  return { data, error, loading, reload, version: tick };
}
