import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { SEALED_CONTENT_TYPE, WxsealError, type Mode, type WireResponse } from '@wxseal/protocol';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  PLAINTEXT_DERIVED_HEADERS,
  closesConnection,
  contentTypeOf,
  headersFromRaw,
  isServerConfigError,
  collectReplyStream,
  readRequestBody,
  responseTooLargeBody,
} from '../node-http.js';
import type { VerifiedRequest, Verifier } from '../verifier.js';

/** Per-route settings, under `config.wxseal` of a route. */
export interface WxsealRouteConfig {
  /** The modes this route accepts (overrides the plugin's `allowedModes`). */
  modes?: readonly Mode[];
}

export interface WxsealFastifyOptions {
  verifier: Verifier;
  /** Modes accepted by routes that do not say (default: the verifier's). */
  allowedModes?: readonly Mode[];
  /** Largest handler response buffered for sealing (default 8 MiB); a larger one becomes a sealed 500. */
  maxResponseBytes?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified wxseal request; null on routes the plugin does not cover (`config: { wxseal: false }`). */
    wxseal: VerifiedRequest | null;
  }
  interface FastifyContextConfig {
    /** `false` leaves the route unprotected; `{ modes }` restricts its modes. */
    wxseal?: false | WxsealRouteConfig;
  }
}

/** Thrown by `requireWxseal` on a route the plugin does not cover. */
function notVerified(): never {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', 'this route is not verified by wxseal');
}

/** request.wxseal, or a configuration error when the route is not covered by the plugin. */
export function requireWxseal(request: FastifyRequest): VerifiedRequest {
  return request.wxseal ?? notVerified();
}

function isJsonType(type: string | undefined): boolean {
  if (!type) return false;
  const essence = type.split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || essence.endsWith('+json');
}

function sendRejection(reply: FastifyReply, wire: WireResponse, close: boolean): FastifyReply {
  reply.code(wire.status);
  for (const [name, value] of Object.entries(wire.headers)) reply.header(name, value);
  if (close) reply.header('connection', 'close');
  return reply.send(wire.body);
}

interface FetchResponseLike {
  status: number;
  headers: Iterable<[string, string]>;
  body: unknown;
}

/** Collects a reply payload (string, bytes, Node or web stream, null) into one Buffer, bounded. */
async function collectPayload(payload: unknown, limit: number): Promise<Buffer | undefined> {
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return bytes.length > limit ? undefined : bytes;
  }
  if (payload instanceof Readable || typeof (payload as Readable).pipe === 'function') {
    const stream = payload as Readable;
    return collectReplyStream(stream, limit, () => stream.destroy());
  }
  if (typeof (payload as ReadableStream).getReader === 'function') {
    return collectReplyStream(readerChunks((payload as ReadableStream<Uint8Array>).getReader()), limit);
  }
  throw new TypeError('wxseal cannot seal this reply payload type');
}

/** A web stream's chunks through its reader; ending the iteration early cancels the stream. */
async function* readerChunks(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<Uint8Array> {
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => undefined);
  }
}

// Payloads this module produced: a second registration of the plugin (nested scopes) must not
// seal them again. An error payload produced after sealing is a new object and is sealed normally.
const sealedPayloads = new WeakSet<Buffer>();

const plugin: FastifyPluginCallback<WxsealFastifyOptions> = (instance: FastifyInstance, options, done) => {
  const { verifier } = options;
  if (!verifier || typeof verifier.verify !== 'function') {
    done(new WxsealError('WXSEAL_CONFIG_INVALID', 'wxseal plugin needs { verifier }'));
    return;
  }
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const defaultModes = options.allowedModes;
  const jsonParser = instance.getDefaultJsonParser(instance.initialConfig.onProtoPoisoning ?? 'error', instance.initialConfig.onConstructorPoisoning ?? 'error');

  if (!instance.hasRequestDecorator('wxseal')) instance.decorateRequest('wxseal', null);

  // By the time a parser runs, preParsing has verified the request and replaced the payload with
  // the decrypted body, so this parser sees plaintext and parses it by its inner content type.
  if (!instance.hasContentTypeParser(SEALED_CONTENT_TYPE)) {
    instance.addContentTypeParser(SEALED_CONTENT_TYPE, { parseAs: 'buffer', bodyLimit: Math.max(1, verifier.maxBodyBytes) }, (request, body, doneParsing) => {
      const verified = request.wxseal;
      const bytes = body as Buffer;
      if (!verified || verified.mode !== 'sealed') return doneParsing(null, bytes); // unprotected route: raw bytes
      if (bytes.length === 0) return doneParsing(null, undefined);
      if (isJsonType(verified.contentType)) return jsonParser(request, bytes.toString('utf8'), doneParsing);
      if (verified.contentType?.toLowerCase().startsWith('text/')) return doneParsing(null, bytes.toString('utf8'));
      return doneParsing(null, bytes);
    });
  }

  // A sign-only body may have any media type, or none (SPEC.md section 4): once verified, a body
  // no other parser claims reaches the handler as a Buffer. Unverified requests keep Fastify's 415.
  if (!instance.hasContentTypeParser('*')) {
    instance.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: Math.max(1, verifier.maxBodyBytes) }, (request, body, doneParsing) => {
      if (request.wxseal) return doneParsing(null, body);
      const err = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' });
      return doneParsing(err, undefined);
    });
  }

  // Verification runs in preParsing: it is the only hook that sees the raw body stream, and it runs
  // for every method, GET included (Fastify 5 never parses a GET body, but a sealed GET carries one).
  instance.addHook('preParsing', async (request, reply, payload) => {
    const routeConfig = request.routeOptions.config?.wxseal;
    if (routeConfig === false || request.wxseal) return payload;
    const allowedModes = (routeConfig && routeConfig.modes) ?? defaultModes;
    let raw: Buffer;
    let verified: VerifiedRequest;
    try {
      raw = await readRequestBody(payload, { limit: verifier.maxBodyBytes, contentLength: request.headers['content-length'] });
      verified = await verifier.verify({
        method: request.raw.method ?? '',
        target: request.raw.url ?? '',
        headers: headersFromRaw(request.raw.rawHeaders),
        rawHeaders: request.raw.rawHeaders,
        body: raw,
        ...(allowedModes ? { allowedModes } : {}),
      });
    } catch (err) {
      if (isServerConfigError(err)) throw err;
      return sendRejection(reply, verifier.rejection(err), closesConnection(err));
    }
    request.wxseal = verified;
    // Hand Fastify's parsers the body they should parse: the plaintext in sealed mode, the verified
    // bytes in sign-only mode. receivedEncodedLength keeps Fastify's Content-Length check true.
    const replacement = Readable.from([verified.mode === 'sealed' ? verified.body : raw]) as Readable & { receivedEncodedLength?: number };
    replacement.receivedEncodedLength = raw.length;
    return replacement;
  });

  instance.addHook('onSend', async (request, reply, payload) => {
    const verified = request.wxseal;
    if (!verified || (Buffer.isBuffer(payload) && sealedPayloads.has(payload))) return payload;
    let body = payload;
    if (body !== null && typeof body === 'object' && Object.prototype.toString.call(body) === '[object Response]') {
      // A fetch Response returned by a handler: its status and headers apply, its body is sealed.
      const res = body as FetchResponseLike;
      reply.code(res.status);
      for (const [name, value] of res.headers) reply.header(name, value);
      body = res.body;
    }
    let response: { status: number; contentType: string | undefined; body: Buffer };
    const collected = await collectPayload(body, maxResponseBytes);
    if (collected === undefined) {
      request.log.error('wxseal: the response exceeds maxResponseBytes; sending an authenticated 500 instead');
      response = responseTooLargeBody();
    } else {
      response = { status: reply.statusCode, contentType: contentTypeOf(reply.getHeader('content-type')), body: collected };
    }
    const wire = verifier.sealResponse(verified, response);
    reply.code(wire.status);
    reply.removeHeader('content-length');
    reply.removeHeader('content-type');
    if (verified.mode === 'sealed') for (const name of PLAINTEXT_DERIVED_HEADERS) reply.removeHeader(name);
    for (const [name, value] of Object.entries(wire.headers)) reply.header(name, value);
    sealedPayloads.add(wire.body);
    return wire.body;
  });

  done();
};

// Like fastify-plugin: the hooks and the parser apply to the scope that registers the plugin,
// not to a private child scope.
(plugin as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = '@wxseal/server';

/**
 * Fastify plugin. Every route of the scope that registers it (and its children) must be a wxseal
 * request, except routes with `config: { wxseal: false }`. Handlers read `request.wxseal`; their
 * responses are sealed or signed in onSend.
 */
export const wxsealFastify = plugin;
export default wxsealFastify;
