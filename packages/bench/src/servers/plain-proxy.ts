/**
 * Scenario (a), the ceiling: a plain Fastify reverse proxy with no wxseal. It forwards the body
 * to the upstream with the same undici Pool code as the gateways and returns the upstream's answer.
 */
import Fastify from 'fastify';
import { announceReady, childConfig } from '../process.js';
import { FORWARDED_METHODS, createForwarder, listenLocal, processCounters, type ForwardingServerConfig } from './common.js';

const config = childConfig<ForwardingServerConfig>();
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

const url = await listenLocal(app);
announceReady({ url });
