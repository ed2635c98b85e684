// ControlPlaneStore on postgres (see store-suite.ts and targets.ts).
import { defineStoreSuite } from './store-suite.js';
import { postgresTarget } from './targets.js';

defineStoreSuite(postgresTarget());
