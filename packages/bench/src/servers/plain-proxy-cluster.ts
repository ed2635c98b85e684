/**
 * Scenario (j): the plain proxy of (a) on every core — node:cluster, one worker per core,
 * round-robin in the primary like `wxseal gateway --workers N`. The whole-machine ceiling the
 * gateway's workers (k) are compared with. CPU is the process tree's (primary and workers).
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady, childConfig } from '../process.js';
import { listenLocal, type ForwardingServerConfig } from './common.js';
import { plainProxyApp } from './plain-proxy-app.js';
import { processTreeCpuMicros } from './process-tree.js';

interface ClusterConfig extends ForwardingServerConfig {
  workers: number;
}

const config = childConfig<ClusterConfig>();

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const workers: Worker[] = [];
  const ports = await Promise.all(
    Array.from({ length: config.workers }, () => {
      const worker = cluster.fork();
      workers.push(worker);
      return new Promise<number>((resolve, reject) => {
        worker.once('message', (m: { type?: string; port?: number }) => (m?.type === 'listening' ? resolve(Number(m.port)) : reject(new Error('unexpected message'))));
        worker.once('exit', (code) => reject(new Error(`a plain proxy worker exited (${code}) before listening`)));
      });
    }),
  );
  if (new Set(ports).size !== 1) throw new Error(`the workers listen on different ports: ${ports.join(', ')}`);
  // Requests served: each worker's count, asked over IPC.
  let asked = 0;
  const servedByWorkers = (): Promise<number> => {
    const id = ++asked;
    return Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve) => {
            const onMessage = (m: { type?: string; id?: number; served?: number }): void => {
              if (m?.type !== 'served' || m.id !== id) return;
              w.off('message', onMessage);
              resolve(Number(m.served));
            };
            w.on('message', onMessage);
            w.send({ type: 'served?', id });
          }),
      ),
    ).then((counts) => counts.reduce((a, b) => a + b, 0));
  };
  const stats = createServer((_req, res) => {
    servedByWorkers().then((requests) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requests, cpuMicros: processTreeCpuMicros(process.pid), workers: workers.length }));
    }, () => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
  announceReady({ url: `http://127.0.0.1:${ports[0]}`, statsUrl: `http://127.0.0.1:${(stats.address() as AddressInfo).port}` }, async () => {
    for (const w of workers) w.kill('SIGTERM');
    stats.close();
  });
} else {
  const { app, served } = plainProxyApp(config);
  // Port 0 in every worker: the primary picks one port and shares it.
  const url = await listenLocal(app);
  process.on('message', (m: { type?: string; id?: number }) => {
    if (m?.type === 'served?') process.send?.({ type: 'served', id: m.id, served: served() });
  });
  process.send?.({ type: 'listening', port: Number(new URL(url).port) });
}
