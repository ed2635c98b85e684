// Hash routing (/console/#/devices): the gateway only serves static files, so there is no need
// for a history-API fallback on the server.
import { useEffect, useState } from 'preact/hooks';

export const ROUTES = ['overview', 'devices', 'credentials', 'certificates', 'audit'] as const;
export type Route = (typeof ROUTES)[number];

export function parseHash(hash: string): Route {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'overview';
}

export const href = (route: Route): string => `#/${route}`;

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
