/**
 * The upstream service behind every proxy and gateway: a bare node:http server answering each
 * request with a small JSON document. It counts what it receives, so the harness can check that
 * forged requests never reach it (they must be stopped by the gateway).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady } from '../process.js';
import { upstreamAnswer as answer } from './upstream-answer.js';

let received = 0;

const server = createServer((req, res) => {
  if (req.url === '/__bench/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ received }));
    return;
  }
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    received++;
    const body = answer(bytes);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announceReady({ url: `http://127.0.0.1:${port}` });
});
