import { decodeUtf8Strict, toWellFormed } from './encoding.js';

/**
 * The one JSON reading rule of the protocol (SPEC.md 6.1, 7, 15.3, 15.6): UTF-8 without a
 * byte-order mark (RFC 8259 section 8.1), one JSON object, and no member name twice in any object
 * at any depth, names compared after unescaping. Parsers disagree on a repeated member (first,
 * last, error), and a signed or sealed text must read the same to every parser on its way.
 * Anything else goes to `fail`, which throws the caller's error.
 */
export function parseJsonObject(bytes: Uint8Array, what: string, fail: (message: string) => never): Record<string, unknown> {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return fail(`${what} starts with a byte-order mark`);
  let text: string;
  let parsed: unknown;
  try {
    text = decodeUtf8Strict(bytes);
    parsed = JSON.parse(text);
  } catch {
    return fail(`${what} is not UTF-8 JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail(`${what} must be a JSON object`);
  if (hasRepeatedMember(text)) return fail(`${what} repeats a member name`);
  return parsed as Record<string, unknown>;
}

/**
 * True when some object of `text` (valid JSON: JSON.parse accepted it) names a member twice.
 * A scan of the text, because JSON.parse has already kept the last of two: each object gets the
 * set of its names, unescaped (`"a"` and `"\u0061"` are one name) and with lone surrogates read
 * as U+FFFD, as SPEC.md section 7 reads strings.
 */
export function hasRepeatedMember(text: string): boolean {
  // One entry per open container: the names seen so far for an object, null for an array.
  const open: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      const names = open[open.length - 1];
      if (expectName && names) {
        const literal = text.slice(start + 1, i);
        // Text decoded from UTF-8 holds no lone surrogate; only an escape can make one.
        const name = literal.includes('\\') ? toWellFormed(JSON.parse(`"${literal}"`) as string) : literal;
        if (names.has(name)) return true;
        names.add(name);
        expectName = false;
      }
    } else if (c === 0x7b) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b) {
      open.push(null);
      expectName = false;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = open[open.length - 1] != null;
    }
  }
  return false;
}
