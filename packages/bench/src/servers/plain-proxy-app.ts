/**
 * The plain Fastify reverse proxy of scenarios (a) and (j): no wxseal. It forwards the body to the
 * upstream with the same undici Pool code as the gateways and returns the upstream's answer.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { FORWARDED_METHODS, createForwarder, processCounters, type ForwardingServerConfig } from './common.js';

export function plainProxyApp(config: ForwardingServerConfig): { app: FastifyInstance; served: () => number } {
  const upstream = createForwarder(config);
  const app = Fastify({ logger: false });
  // A proxy does not parse bodies: every media type arrives as the raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  let served = 0;
  app.get('/__bench/stats', async () => processCounters(served));
  app.route({
    method: [...FORWARDED_METHODS],
    url: '/*',
    handler: async (request, reply) => {
      served++;
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await upstream.forward(request.method, request.url, request.headers['content-type'], body);
      reply.code(answer.status);
      if (answer.contentType) reply.type(answer.contentType);
      return answer.body;
    },
  });
  return { app, served: () => served };
}
