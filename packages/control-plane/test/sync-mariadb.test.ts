// ControlPlaneSync on mariadb (see sync-suite.ts and targets.ts).
import { defineSyncSuite } from './sync-suite.js';
import { mariadbTarget } from './targets.js';

defineSyncSuite(mariadbTarget());
