/**
 * `npm start`: the wxseal gateway in development mode — generated development keys, the
 * in-memory nonce store and a small demo upstream standing in for the Java/Go service.
 * PORT (default 8080) and ADMIN_PORT (default 9090) choose the listeners; 0 picks free ports.
 * A port already taken is one line, `wxseal: CLI_PORT_IN_USE: … (PORT)`, and exit status 2.
 */
import { relative } from 'node:path';
import { CliError, formatCliError } from '@wxseal/cli';
import { startGateway } from '@wxseal/gateway';
import { ensureDevKeys, pointClientAt, writeDevConfig } from './dev-setup.js';
import { startDemoUpstream } from './upstream.js';

/** Prints one line with a code (the stack only with WXSEAL_DEBUG) and exits 2. */
function fail(err: unknown): never {
  if (err instanceof CliError) console.error(formatCliError(err));
  else {
    const code = (err as { code?: unknown } | null)?.code;
    console.error(`wxseal: ${typeof code === 'string' && code.startsWith('WXSEAL_') ? code : 'CLI_INTERNAL_ERROR'}: ${err instanceof Error ? err.message.replace(/\s*\n\s*/g, ' ') : String(err)}`);
    if (process.env.WXSEAL_DEBUG && err instanceof Error) console.error(err.stack);
  }
  process.exit(2);
}

function portFrom(name: 'PORT' | 'ADMIN_PORT', fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(new CliError('CLI_INVALID_INPUT', `${JSON.stringify(text)} is not a port number (0-65535; 0 = any free port)`, name));
  return n;
}

const port = portFrom('PORT', 8080);
const adminPort = portFrom('ADMIN_PORT', 9090);

const keys = ensureDevKeys();
const upstream = await startDemoUpstream();
const setup = writeDevConfig({ dir: keys.dir, serverKeyId: keys.serverKeyId, upstreamUrl: upstream.url, port, adminPort });
const gateway = await startGateway(setup.gatewayConfigPath).catch((err: unknown): never => {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e.code === 'EADDRINUSE') {
    // Which listener: the public one unless the port taken is the admin one.
    const name = e.port === adminPort && e.port !== port ? 'ADMIN_PORT' : 'PORT';
    const other = (e.port ?? (name === 'PORT' ? port : adminPort)) + 1;
    fail(new CliError('CLI_PORT_IN_USE', `${e.address ?? '127.0.0.1'}:${e.port ?? '?'} is already in use: stop what listens there, or choose another port, e.g. ${name}=${other} npm start (0 = any free port)`, name));
  }
  fail(err);
});
pointClientAt(setup.clientConfigPath, gateway.url);

const cfg = relative(process.cwd(), setup.clientConfigPath) || setup.clientConfigPath;
console.log(`wxseal gateway (development) listening on ${gateway.url}`);
console.log(`  routes      /api/* → demo upstream ${upstream.url} (sealed or sign-only)`);
console.log(`  keys        ${keys.fresh ? 'generated in' : 'reused from'} ${keys.dir} (server key ${keys.serverKeyId}, client ${setup.keyId})`);
console.log(`  operations  ${gateway.adminUrl}/healthz  /readyz  /metrics`);
// ?login=token: this setup has only a token login, and the console cannot ask which logins exist.
console.log(`  console     ${gateway.adminUrl}/console/?login=token   (admin API ${gateway.adminUrl}/admin/api/v1)`);
console.log(`  admin login development token ${setup.adminToken}`);
console.log(`              (saved in ${relative(process.cwd(), setup.adminTokenPath) || setup.adminTokenPath}; build the console with \`npm run build -w @wxseal/console\`)`);
console.log('');
console.log('Call it from another terminal:');
console.log(`  npx wxseal call -c ${cfg} -d '{"sku":"A-1","qty":2}' --openid o-demo --source wx_client /api/orders`);
console.log(`  npx wxseal call -c ${cfg} --verbose /api/orders/1000`);
console.log('Stop with Ctrl-C.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    void gateway.close().then(() => upstream.close()).then(() => process.exit(0));
  });
}
