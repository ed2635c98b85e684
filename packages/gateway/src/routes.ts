import type { Mode } from '@wxseal/protocol';
import type { RouteConfig } from './config.js';

/** A configured route, ready for matching. */
export interface Route extends RouteConfig {
  /** The verifier's modes for this route; undefined for passthrough. */
  readonly modes: readonly Mode[] | undefined;
  /** Upstream origin (`http://host:port`), the pool key. */
  readonly origin: string;
  /** Path of the upstream URL without a trailing slash (`''` for none). */
  readonly basePath: string;
}

export function compileRoute(config: RouteConfig): Route {
  const url = new URL(config.upstream);
  const modes: readonly Mode[] | undefined =
    config.mode === 'passthrough' ? undefined : config.mode === 'sealed-or-signed' ? ['sealed', 'signed'] : [config.mode];
  return { ...config, modes, origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

/** Longest matching prefix first, on whole path segments. */
export class RouteTable {
  readonly routes: readonly Route[];

  constructor(configs: readonly RouteConfig[]) {
    this.routes = configs.map(compileRoute).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  match(path: string): Route | undefined {
    for (const r of this.routes) {
      if (r.prefix === '/' || path === r.prefix || path.startsWith(`${r.prefix}/`)) return r;
    }
    return undefined;
  }
}

/** The upstream target: base path, the path as received (minus the prefix when stripped), the query. */
export function upstreamTarget(route: Route, path: string, rawQuery: string): string {
  let rest = path;
  if (route.stripPrefix && route.prefix !== '/') rest = path.slice(route.prefix.length) || '/';
  if (!rest.startsWith('/')) rest = `/${rest}`;
  const joined = route.basePath + rest;
  return rawQuery === '' ? joined : `${joined}?${rawQuery}`;
}

// The path rule lives in the protocol (SPEC.md section 9 step 2.6), so the gateway routes exactly
// the paths every verifier accepts: dot-segments, encoded separators, NUL or unreserved characters,
// backslashes and bytes outside visible ASCII are refused before routing.
export { unsafePathReason } from '@wxseal/protocol';
