// Pieces of the admin API tests of this package: concrete paths for every route of the table and
// bodies that pass each route's schema. The HTTP client and the Redis check are in
// tests/support/gateway-admin.ts.
import { ADMIN_API_PREFIX, type AdminRouteSpec } from '@wxseal/gateway';

/** A concrete path for a route of the table (parameters filled with harmless values). */
export function concretePath(route: AdminRouteSpec, values: Record<string, string> = {}): string {
  return `${ADMIN_API_PREFIX}${route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => encodeURIComponent(values[name] ?? `x-${name}`))}`;
}

/** A body that passes the route's schema when possible (so a refusal is about auth, not input). */
export function sampleBody(route: AdminRouteSpec): unknown {
  if (route.method === 'GET') return undefined;
  switch (route.id) {
    case 'provisionDevice':
      return { serial: 'SN-AUTHZ-1', productId: 'prod-x', reason: 'authz matrix' };
    case 'importDevices':
      return { productId: 'prod-x', rows: [{ serial: 'SN-AUTHZ-2' }], reason: 'authz matrix' };
    case 'logout':
      return undefined;
    default:
      return { reason: 'authz matrix' };
  }
}
