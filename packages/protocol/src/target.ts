import { LIMITS } from './constants.js';

// A percent-encoded unreserved character (RFC 3986 2.3) means the same as the character itself,
// so no well-behaved client needs one; an upstream that decodes it could see another path than
// the one a proxy routed (`/%61pi` → `/api`, `/%2e%2e/` → `/../`).
const ENCODED_UNRESERVED = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2d|2e|5f|7e)/i;
// Encoded separators and NUL: `/a%2f..`, `%5c` or `%00` turn into path structure in some servers.
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;

/**
 * Why a request path (the target up to its first `?`) is refused, or undefined when it is fine
 * (SPEC.md 5.1 and section 9 step 2.6). A proxy routes on the raw path and the upstream (often
 * Java or Go) decodes and normalises it again; any path the two could read differently — a
 * dot-segment (also `..;` as Tomcat reads it), an encoded separator, NUL or unreserved character
 * (`%2e%2e`, `%2f`, `%61`), a backslash, a byte outside visible ASCII — could reach a path the
 * route was not meant to expose, so it is refused. The path is never rewritten: what is signed is
 * what was sent.
 */
export function unsafePathReason(path: string): string | undefined {
  if (!path.startsWith('/')) return 'the request target must be a path starting with /';
  if (!VISIBLE_ASCII.test(path)) return 'the path holds a character outside visible ASCII (percent-encode it)';
  // Every check below needs a backslash, a '%' or a '.': most paths have none of them.
  if (!path.includes('\\') && !path.includes('%') && !path.includes('.')) return undefined;
  if (path.includes('\\')) return 'the path holds a backslash';
  if (ENCODED_SEPARATOR.test(path)) return 'the path holds an encoded separator or NUL';
  if (ENCODED_UNRESERVED.test(path)) return 'the path holds a percent-encoded unreserved character';
  for (const segment of path.split('/')) {
    const bare = segment.split(';')[0]!;
    if (bare === '.' || bare === '..') return 'the path holds a dot-segment';
  }
  return undefined;
}

/**
 * Why a request target (path and query as on the request line) breaks SPEC.md section 9 step 2.6,
 * or undefined: 1-8192 bytes of visible ASCII (0x21-0x7E; anything else is percent-encoded by the
 * client, so the query's names sort the same as bytes everywhere), starting with `/`, without `#`
 * (a fragment is never sent; accepting one would let `/a#x` pass for `/a`), and a path that
 * `unsafePathReason` accepts.
 */
export function requestTargetReason(target: string): string | undefined {
  if (target.length > LIMITS.maxTargetBytes) return `the request target exceeds ${LIMITS.maxTargetBytes} bytes`;
  if (!VISIBLE_ASCII.test(target)) return 'the request target holds a character outside visible ASCII (percent-encode it)';
  if (!target.startsWith('/')) return 'the request target must be a path starting with /';
  if (target.includes('#')) return 'the request target holds a fragment';
  const q = target.indexOf('?');
  return unsafePathReason(q === -1 ? target : target.slice(0, q));
}
