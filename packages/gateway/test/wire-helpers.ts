// wxseal requests built with the protocol's own builder and sent byte for byte, so a test can send
// the very same request twice (a replay), add header fields no client would, and check what came
// back: an authentic answer, an authentic (signed) rejection, or something unsigned.
import { createPublicKey } from 'node:crypto';
import { request } from 'node:http';
import {
  buildRequest,
  isAuthenticRejection,
  openResponse,
  parseRejection,
  type BuiltRequest,
  type HeaderGetter,
  type Mode,
  type WechatIdentity,
} from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import type { TestKeys } from '../../../tests/support/gateway.js';

export interface WireSpec {
  mode: Mode;
  method: string;
  /** Path and query as sent on the request line (printable ASCII). */
  target: string;
  body?: Buffer;
  contentType?: string;
  identity?: WechatIdentity;
}

/** A signed (or sealed) request for `keys`, as the protocol builds it. */
export function buildWire(keys: TestKeys, spec: WireSpec): BuiltRequest {
  return buildRequest({
    ...spec,
    keyId: keys.keyId,
    secret: b64uDecodeStrict(keys.secret)!,
    ...(spec.mode === 'sealed' ? { serverKey: { id: keys.serverKeyId, publicKey: createPublicKey(keys.publicKeyPem) } } : {}),
  });
}

export interface WireAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Sends `built` to `base` (target and method as given), with `extra` header fields after the
 * wxseal ones, in this order, and one connection of its own.
 */
export function sendWire(base: string, built: BuiltRequest, method: string, target: string, extra: readonly [string, string][] = []): Promise<WireAnswer> {
  const { hostname, port } = new URL(base);
  const list: string[] = ['host', `${hostname}:${port}`];
  for (const [n, v] of Object.entries(built.headers)) list.push(n, v);
  for (const [n, v] of extra) list.push(n, v);
  list.push('content-length', String(built.body.length));
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path: target, headers: list, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(built.body);
  });
}

export type Verdict =
  /** Sealed or signed for this request, and it opens: `status` is the inner status. */
  | { kind: 'authentic'; status: number; contentType: string | undefined; body: Buffer }
  /** A section-10 rejection signed for this request (10.1). */
  | { kind: 'signed-rejection'; code: string; status: number }
  /** A section-10 rejection without a signature (raised before the signature verified). */
  | { kind: 'unsigned-rejection'; code: string; status: number; signature: string | undefined }
  /** Anything else: neither authenticated nor a rejection. */
  | { kind: 'unauthenticated'; status: number; reason: string };

/** What a client of `built` can make of `res`. */
export function verdictOf(built: BuiltRequest, res: WireAnswer): Verdict {
  const header: HeaderGetter = (name) => res.headers[name];
  const rejection = parseRejection(res.status, header, res.body);
  if (rejection) {
    if (isAuthenticRejection(rejection, built.context)) return { kind: 'signed-rejection', code: rejection.code, status: rejection.status };
    return { kind: 'unsigned-rejection', code: rejection.code, status: rejection.status, signature: rejection.signature };
  }
  try {
    const opened = openResponse(built.context, { status: res.status, header, body: res.body });
    return { kind: 'authentic', status: opened.status, contentType: opened.contentType, body: opened.body };
  } catch (err) {
    return { kind: 'unauthenticated', status: res.status, reason: err instanceof Error ? err.message : String(err) };
  }
}
