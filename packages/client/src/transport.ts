import { Agent as HttpAgent, request as httpRequest, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { WxsealError } from '@wxseal/protocol';
import { DEFAULTS, isAgent, type ClientAgentOptions } from './options.js';
import { tlsAgentOptions, type ResolvedTls } from './tls.js';

/**
 * The one transport, node:http(s), for Node 16.13 to 24: global fetch is missing before Node 18
 * and refuses a body on GET, while sealed GETs carry one.
 */

export interface TransportRequest {
  origin: URL;
  isHttps: boolean;
  method: string;
  /** Path and query exactly as signed. */
  target: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  agent: Agent;
  maxResponseBytes: number;
}

export interface TransportResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The connection failed. `sent` is false only when no byte of the request can have been written. */
export class NetworkFailure extends Error {
  readonly errno: string | undefined;
  constructor(
    readonly sent: boolean,
    /** The underlying socket or HTTP error. */
    readonly error: Error,
  ) {
    super(error.message);
    const code = (error as { code?: unknown }).code;
    this.errno = typeof code === 'string' ? code : undefined;
  }
}

/** The request was cancelled through the scope's signal; the scope knows why. */
export class TransportAborted extends Error {
  constructor() {
    super('transport aborted');
  }
}

const idleSince = new WeakMap<object, number>();

/** A keep-alive agent that remembers when each pooled socket became idle. */
export interface ManagedAgent {
  agent: Agent;
  /** Closes pooled sockets idle for longer than the limit, just before a request picks one. */
  pruneIdle(): void;
  /** Closes the pool, when the client created it. */
  destroy(): void;
}

export function createManagedAgent(isHttps: boolean, options: ClientAgentOptions | Agent, tls?: ResolvedTls): ManagedAgent {
  if (isAgent(options)) {
    const agent = options;
    return { agent, pruneIdle: () => undefined, destroy: () => undefined };
  }
  const maxIdleMs = options.freeSocketTimeoutMs ?? DEFAULTS.freeSocketTimeoutMs;
  const agentOptions = {
    keepAlive: options.keepAlive ?? true,
    keepAliveMsecs: options.keepAliveMsecs ?? DEFAULTS.keepAliveMsecs,
    maxSockets: options.maxSockets ?? DEFAULTS.maxSockets,
    // Socket idle timeout: the agent destroys a pooled socket that stays idle this long.
    timeout: maxIdleMs,
    scheduling: 'lifo' as const,
  };
  // TLS options on the agent apply to every connection it opens; its TLS session cache is this
  // client's alone, so a resumed session (which Node does not check again) was pinned when made.
  const agent: Agent = isHttps ? new HttpsAgent({ ...agentOptions, ...(tls ? tlsAgentOptions(tls) : {}) }) : new HttpAgent(agentOptions);
  // Listeners run after the agent's own 'free' handler, which has already pooled the socket.
  agent.on('free', (socket: object) => idleSince.set(socket, Date.now()));
  const pruneIdle = (): void => {
    // The idle timer cannot fire while a cloud-function instance is frozen, so a thawed instance
    // would pick a socket the server closed long ago. Pooled sockets are kept in the order they
    // became idle, so the stale ones form a prefix that the agent skips once destroyed.
    const now = Date.now();
    for (const list of Object.values(agent.freeSockets)) {
      for (const socket of list ?? []) {
        const since = idleSince.get(socket);
        if (since !== undefined && now - since >= maxIdleMs) socket.destroy();
      }
    }
  };
  return { agent, pruneIdle, destroy: () => agent.destroy() };
}

/** Sends one request and reads the whole response, within `maxResponseBytes`. */
export function send(req: TransportRequest, signal: AbortSignal): Promise<TransportResponse> {
  return new Promise<TransportResponse>((resolve, reject) => {
    if (signal.aborted) {
      reject(new TransportAborted());
      return;
    }
    let settled = false;
    // Whether a byte of the request may have left this process (decides what is safe to retry).
    let sent = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      action();
    };
    const headers: OutgoingHttpHeaders = { ...req.headers, 'content-length': String(req.body.length) };
    const request = (req.isHttps ? httpsRequest : httpRequest)({
      protocol: req.origin.protocol,
      hostname: req.origin.hostname.replace(/^\[|\]$/g, ''),
      port: req.origin.port || undefined,
      method: req.method,
      path: req.target,
      headers,
      agent: req.agent,
    });
    const onAbort = (): void => {
      settle(() => reject(new TransportAborted()));
      request.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    request.on('socket', (socket: Socket) => {
      // A pooled socket is connected already, so the request is written at once.
      if (request.reusedSocket || !socket.connecting) {
        sent = true;
        request.end(req.body);
        return;
      }
      if (!req.isHttps) {
        // Nothing is written before TCP is established.
        socket.once('connect', () => {
          sent = true;
        });
        request.end(req.body);
        return;
      }
      // A new TLS socket: the request is handed over only once the handshake, the server's
      // certificate and the pins have been accepted ('secureConnect'), so no byte of it can ever
      // reach a server that fails them.
      socket.once('secureConnect', () => {
        sent = true;
        request.end(req.body);
      });
    });
    request.on('error', (err: Error) => settle(() => reject(new NetworkFailure(sent, err))));
    request.on('response', (res) => {
      sent = true;
      const tooLarge = (): void => {
        settle(() =>
          reject(
            new WxsealError('WXSEAL_RESPONSE_INVALID', `response body exceeds maxResponseBytes (${req.maxResponseBytes})`, {
              status: res.statusCode,
            }),
          ),
        );
        request.destroy();
      };
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > req.maxResponseBytes) {
        tooLarge();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > req.maxResponseBytes) {
          tooLarge();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) })),
      );
      res.on('error', (err: Error) => settle(() => reject(new NetworkFailure(true, err))));
      res.on('aborted', () => settle(() => reject(new NetworkFailure(true, new Error('the connection closed before the response was complete')))));
      res.on('close', () => {
        if (!res.complete) settle(() => reject(new NetworkFailure(true, new Error('the connection closed before the response was complete'))));
      });
    });
  });
}
