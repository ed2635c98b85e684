/**
 * The gateway's two HTTP servers — the public listener (wxseal and passthrough routes, device
 * endpoints; HTTPS, with mutual TLS, when listeners.public.tls is set) and the admin listener
 * (probes, admin API, console; plain HTTP, meant for a private network) — with their timeouts, and
 * the addresses they listen on.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { MAX_HEADER_COUNT, type GatewayConfig, type PublicListenerConfig } from './config.js';
import type { EdgeTls } from './tls/edge-tls.js';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Node checks headersTimeout/requestTimeout on a timer (30 s by default), so a slow client was cut
 * up to 30 s late. Checking at a quarter of the shorter timeout, at most every second, enforces
 * both within a second of their setting.
 */
export function connectionsCheckingIntervalMs(headersTimeoutMs: number, requestTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4)));
}

export class Listeners {
  readonly public: Server | HttpsServer;
  readonly admin: Server;
  // Kept from listen(): the addresses are gone once the servers close.
  url = '';
  adminUrl = '';
  /** The origins a browser uses for the admin listener, for the admin API's Origin checks. */
  adminOrigins: readonly string[] = [];

  constructor(config: PublicListenerConfig, onPublic: RequestListener, onAdmin: RequestListener, edgeTls?: EdgeTls) {
    const http = {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingIntervalMs(config.headersTimeoutMs, config.requestTimeoutMs),
    };
    if (edgeTls) {
      // The handshake is bounded like the headers: a client that stalls it holds a socket as long.
      const server = createHttpsServer({ ...http, ...edgeTls.serverOptions({ handshakeTimeoutMs: config.headersTimeoutMs }) }, onPublic);
      edgeTls.attach(server);
      this.public = server;
    } else {
      this.public = createServer(http, onPublic);
    }
    // Node drops the header fields beyond maxHeadersCount silently. One more than the largest
    // limit the config accepts, so that a request over the configured limit is seen (and refused
    // with 431) rather than cut to what fits — also after a reload raised the limit, since Node
    // reads this once per connection.
    this.public.maxHeadersCount = MAX_HEADER_COUNT + 1;
    this.admin = createServer(onAdmin);
  }

  /** Opens the public listener, and the admin one unless `admin` is false (workers 2..N of a --workers gateway). */
  async listen(listeners: GatewayConfig['listeners'], options: { admin?: boolean } = {}): Promise<void> {
    await listen(this.public, listeners.public.host, listeners.public.port);
    this.url = urlOf(this.public, listeners.public.tls ? 'https' : 'http');
    if (options.admin === false) return;
    await listen(this.admin, listeners.admin.host, listeners.admin.port);
    this.adminUrl = urlOf(this.admin);
    this.adminOrigins = ownOrigins(this.admin);
  }
}

function urlOf(server: Server | HttpsServer, scheme: 'http' | 'https' = 'http'): string {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `${scheme}://${host}:${a.port}`;
}

/** The origins a browser uses for the admin listener (its address; localhost names when it is loopback). */
function ownOrigins(server: Server): string[] {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const out = [`http://${host}:${a.port}`];
  if (a.address === '127.0.0.1' || a.address === '::1' || a.address === '0.0.0.0' || a.address === '::') {
    out.push(`http://localhost:${a.port}`, `http://127.0.0.1:${a.port}`, `http://[::1]:${a.port}`);
  }
  return out;
}

function listen(server: Server | HttpsServer, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
