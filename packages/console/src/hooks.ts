import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

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
