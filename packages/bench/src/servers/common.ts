/** Pieces shared by the bench servers: the upstream forwarder and listening on an ephemeral port. */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';

/**
 * Requests served and CPU time used by this process, for the harness's CPU-per-request measure:
 * robust where requests/s is not, because the load generator and the upstream share the cores.
 */
export function processCounters(requests: number): { requests: number; cpuMicros: number } {
  const cpu = process.cpuUsage();
  return { requests, cpuMicros: cpu.user + cpu.system };
}

/** What every forwarding server (plain proxy, decrypt-first) needs to know. */
export interface ForwardingServerConfig {
  /** http://127.0.0.1:port of the upstream. */
  upstreamUrl: string;
  /** Connections of the undici Pool to the upstream. */
  upstreamConnections: number;
}

export interface UpstreamAnswer {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/**
 * Forwards a request to the upstream through one keep-alive undici Pool and buffers the answer.
 * The same code serves the plain proxy and the gateways, so the only difference between scenario
 * (a) and the others is wxseal.
 */
export function createForwarder(config: ForwardingServerConfig): {
  forward(method: string, path: string, contentType: string | undefined, body: Buffer): Promise<UpstreamAnswer>;
  close(): Promise<void>;
} {
  const pool = new Pool(config.upstreamUrl, { connections: config.upstreamConnections, pipelining: 1 });
  return {
    async forward(method, path, contentType, body) {
      const res = await pool.request({
        method: method as 'POST',
        path,
        headers: contentType ? { 'content-type': contentType } : {},
        body: body.length > 0 ? body : null,
      });
      const buf = Buffer.from(await res.body.arrayBuffer());
      const type = res.headers['content-type'];
      return { status: res.statusCode, contentType: Array.isArray(type) ? type[0] : type, body: buf };
    },
    close: () => pool.close(),
  };
}

/** Methods a catch-all gateway route forwards. */
export const FORWARDED_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** Listens on 127.0.0.1, an ephemeral port; returns the base URL. */
export async function listenLocal(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}
