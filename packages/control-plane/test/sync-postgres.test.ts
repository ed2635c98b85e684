// ControlPlaneSync on postgres (see sync-suite.ts and targets.ts).
import { defineSyncSuite } from './sync-suite.js';
import { postgresTarget } from './targets.js';

defineSyncSuite(postgresTarget());
