// Size-capped reads of a body. Every caller has its own too-large error (a 413 with its code, a
// typed transport error, "undefined" for an adapter), so that error is a parameter; what differs
// in the way a caller gives up on the rest of the stream is an option, not a copy.
import type { Readable } from 'node:stream';

export interface BoundedOptions {
  /** Most bytes accepted; the read fails as soon as more arrive. */
  limit: number;
  /**
   * The error the read fails with when the body goes past `limit` (or declares more). Called once,
   * at the chunk that goes past it, before the source is let go of: a caller that must release
   * the source its own way (destroy a response body without an error) may do it here.
   */
  tooLarge: () => Error;
  /**
   * The Content-Length received, checked before anything is read: a declared length over the
   * limit fails at once and leaves the stream untouched. Several values: the first counts. A value
   * that is not a decimal number is ignored (Node's HTTP parser refuses such a header before any
   * handler runs) and the bytes decide.
   */
  declaredLength?: string | readonly string[] | undefined;
}

export interface ReadBoundedOptions extends BoundedOptions {
  /**
   * What happens to the rest of the stream once the read failed for its size:
   * - 'pause' (default): reading stops there. The caller answers with `Connection: close` (or
   *   destroys the stream), so the rest is never read.
   * - 'drain': the rest is read and thrown away, so a peer still sending is not reset and can read
   *   the answer.
   */
  rest?: 'pause' | 'drain';
  /**
   * The error the read fails with when the stream fails: its 'error', or a 'close' before its
   * 'end' (then `cause` is an ERR_STREAM_PREMATURE_CLOSE error). Default: `cause` itself.
   */
  failed?: (cause: unknown) => Error;
}

const noop = (): void => undefined;

/**
 * Reads a whole Node stream into one Buffer, at most `limit` bytes. Listeners rather than an async
 * iterator: cheaper per request, and the stream is not destroyed when the read gives up, so the
 * caller decides what happens to the connection (`rest`). It fails with `tooLarge()` past the
 * limit, with `failed(cause)` when the stream fails; after it settled, a late 'error' of the stream
 * is swallowed (the caller usually destroys it) instead of becoming an uncaught exception.
 */
export function readBounded(stream: Readable, options: ReadBoundedOptions): Promise<Buffer> {
  const { limit, failed } = options;
  if (declaredLengthExceeds(options.declaredLength, limit)) return Promise.reject(options.tooLarge());
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      stream.on('error', noop);
    };
    const onData = (chunk: unknown): void => {
      let buf: Buffer;
      try {
        buf = toBuffer(chunk);
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      received += buf.length;
      if (received > limit) {
        cleanup();
        chunks.length = 0;
        if (options.rest === 'drain') stream.resume(); // no 'data' listener left: flowing discards
        else stream.pause();
        reject(options.tooLarge());
        return;
      }
      chunks.push(buf);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(failed ? failed(err) : err);
    };
    const onClose = (): void => {
      if (stream.readableEnded) return;
      // 'close' before 'end': the peer went away mid-body. The same error an async iterator gives.
      onError(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    stream.resume();
  });
}

/**
 * Collects an async iterable of byte or text chunks (a Node stream, an undici response body, a web
 * ReadableStream) into one Buffer, at most `limit` bytes. Past the limit it throws `tooLarge()`
 * from inside the iteration, so the iteration ends the way `for await` ends it: a Node stream is
 * destroyed (a server request is first detached from its socket, so an answer can still be
 * written), a web stream is cancelled. A failing source throws its own error.
 */
export async function collectBounded(source: AsyncIterable<unknown>, options: BoundedOptions): Promise<Buffer> {
  const { limit } = options;
  if (declaredLengthExceeds(options.declaredLength, limit)) throw options.tooLarge();
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of source) {
    const buf = toBuffer(chunk);
    received += buf.length;
    if (received > limit) throw options.tooLarge();
    chunks.push(buf);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
}

/**
 * True when a Content-Length (several values: the first) declares more than `limit` bytes. A value
 * that is not a decimal number declares nothing (Node's HTTP parser refuses it before any handler
 * runs). For callers that answer a declared size before doing anything else with the stream.
 */
export function declaredLengthExceeds(declared: string | readonly string[] | undefined, limit: number): boolean {
  const text = typeof declared === 'string' ? declared : declared?.[0];
  return text !== undefined && /^\s*[0-9]+\s*$/.test(text) && Number(text) > limit;
}

/** A chunk as bytes: text as UTF-8, a Buffer as it is, another byte view copied (its owner may reuse it). */
function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  throw new TypeError('a body stream yielded a chunk that is neither bytes nor text');
}
