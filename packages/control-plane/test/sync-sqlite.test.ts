// ControlPlaneSync on sqlite (see sync-suite.ts and targets.ts).
import { defineSyncSuite } from './sync-suite.js';
import { sqliteTarget } from './targets.js';

defineSyncSuite(sqliteTarget());
