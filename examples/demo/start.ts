/**
 * `npm start`: the wxseal gateway in development mode — generated development keys, the
 * in-memory nonce store and a small demo upstream standing in for the Java/Go service.
 * PORT (default 8080) and ADMIN_PORT (default 9090) choose the listeners; 0 picks free ports.
 */
import { relative } from 'node:path';
import { startGateway } from '@wxseal/gateway';
import { ensureDevKeys, pointClientAt, writeDevConfig } from './dev-setup.js';
import { startDemoUpstream } from './upstream.js';

const port = Number(process.env.PORT ?? 8080);
const adminPort = Number(process.env.ADMIN_PORT ?? 9090);

const keys = ensureDevKeys();
const upstream = await startDemoUpstream();
const setup = writeDevConfig({ dir: keys.dir, serverKeyId: keys.serverKeyId, upstreamUrl: upstream.url, port, adminPort });
const gateway = await startGateway(setup.gatewayConfigPath);
pointClientAt(setup.clientConfigPath, gateway.url);

const cfg = relative(process.cwd(), setup.clientConfigPath) || setup.clientConfigPath;
console.log(`wxseal gateway (development) listening on ${gateway.url}`);
console.log(`  routes      /api/* → demo upstream ${upstream.url} (sealed or sign-only)`);
console.log(`  keys        ${keys.fresh ? 'generated in' : 'reused from'} ${keys.dir} (server key ${keys.serverKeyId}, client ${setup.keyId})`);
console.log(`  operations  ${gateway.adminUrl}/healthz  /readyz  /metrics`);
console.log(`  console     ${gateway.adminUrl}/console/   (admin API ${gateway.adminUrl}/admin/api/v1)`);
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
