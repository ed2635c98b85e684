/**
 * Scenario (i), the floor for a rejection: a plain Fastify endpoint that answers every request
 * itself, with the same small 401 the gateway sends a forgery, checking nothing and forwarding
 * nothing. What answering the same bytes costs any Node HTTP server; a forged request should cost
 * the gateway little more (issue 14: at most 1.25 times this).
 */
import Fastify from 'fastify';
import { announceReady } from '../process.js';
import { FORWARDED_METHODS, listenLocal, processCounters } from './common.js';

const app = Fastify({ logger: false });
// The body is read as raw bytes, as the gateway reads it, and not looked at.
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

const REJECTION = JSON.stringify({ error: 'WXSEAL_BAD_SIGNATURE', message: 'the request signature does not verify' });
let served = 0;
app.get('/__bench/stats', async () => processCounters(served));
app.route({
  method: [...FORWARDED_METHODS],
  url: '/*',
  handler: async (_request, reply) => {
    served++;
    reply.code(401).header('wxseal-error', 'WXSEAL_BAD_SIGNATURE').header('wxseal-server-time', String(Math.floor(Date.now() / 1000))).type('application/json');
    return REJECTION;
  },
});

const url = await listenLocal(app);
announceReady({ url });
