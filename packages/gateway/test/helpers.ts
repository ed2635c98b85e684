// Pieces of the gateway package's own tests: a dead port and a private redis-server. What tests
// elsewhere need too (keys, upstream, configs, clients) is in tests/support/gateway.ts.
import { spawn } from 'node:child_process';
import { freePort, redisServerProcess as sharedRedisServerProcess, type RedisProcess } from '../../../tests/support/net.js';

export { freePort };

/** A port on which nothing listens (for "upstream down"). */
export async function deadPort(): Promise<number> {
  return freePort();
}

// ---------------------------------------------------------------------------------------------
// A private redis-server, stopped and started by the test (never the shared one on 6379).
// ---------------------------------------------------------------------------------------------

/** A private redis-server the test stops and starts (never the shared one on 6379). */
export async function redisServerProcess(port: number): Promise<RedisProcess> {
  const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  const found = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
  if (!found) {
    throw new Error('redis-server is not installed (or not on PATH): the fail-closed test needs it. Install it (`npm run services` does) — this test fails rather than skips.');
  }
  return sharedRedisServerProcess(port);
}
