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

// A percent-encoded unreserved character (RFC 3986 2.3) means the same as the character itself,
// so no well-behaved client needs one; an upstream that decodes it could see another path than
// the one the gateway routed (`/%61pi` → `/api`).
const ENCODED_UNRESERVED = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2d|2e|5f|7e)/i;
// Encoded separators and NUL: `/a%2f..` or `\` turn into path structure in some servers.
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;

/**
 * Why a request path is refused before routing, or undefined when it is fine. The gateway routes
 * on the raw path and the upstream (often Java or Go) normalises it again; any path the two could
 * read differently — dot-segments (also `..;` as Tomcat reads it, and `%2e%2e`), encoded separators
 * or unreserved characters, backslashes — could reach a protected path through a passthrough
 * route, so it is refused.
 */
export function unsafePathReason(path: string): string | undefined {
  if (!path.startsWith('/')) return 'the request target must be a path starting with /';
  // Every check below needs a backslash, a '%' or a '.': most paths have none of them.
  if (!path.includes('\\') && !path.includes('%') && !path.includes('.')) return undefined;
  if (path.includes('\\')) return 'the path holds a backslash';
  if (ENCODED_SEPARATOR.test(path)) return 'the path holds an encoded separator';
  if (ENCODED_UNRESERVED.test(path)) return 'the path holds a percent-encoded unreserved character';
  for (const segment of path.split('/')) {
    const bare = segment.split(';')[0]!;
    if (bare === '.' || bare === '..') return 'the path holds a dot-segment';
  }
  return undefined;
}
