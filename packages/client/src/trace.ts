import { randomBytes } from 'node:crypto';

/** W3C Trace Context: version-traceid-parentid-flags; later versions may append fields. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);

/** True when `value` is a W3C traceparent this client may send (and sign). */
export function isValidTraceparent(value: string): boolean {
  if (value.length > 512) return false;
  const m = TRACEPARENT.exec(value);
  if (!m) return false;
  const [, version, traceId, parentId, , extra] = m;
  if (version === 'ff' || traceId === ZERO_TRACE_ID || parentId === ZERO_PARENT_ID) return false;
  // Version 00 has exactly four fields.
  return !(version === '00' && extra !== undefined);
}

/** A new sampled traceparent: 00-<32 hex>-<16 hex>-01. */
export function generateTraceparent(): string {
  for (;;) {
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    if (traceId !== ZERO_TRACE_ID && parentId !== ZERO_PARENT_ID) return `00-${traceId}-${parentId}-01`;
  }
}
