/** Scenario (a), the ceiling: the plain Fastify reverse proxy (plain-proxy-app.ts), one process. */
import { announceReady, childConfig } from '../process.js';
import { listenLocal, type ForwardingServerConfig } from './common.js';
import { plainProxyApp } from './plain-proxy-app.js';

const { app } = plainProxyApp(childConfig<ForwardingServerConfig>());
const url = await listenLocal(app);
announceReady({ url });
