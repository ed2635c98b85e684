// ControlPlaneStore on mariadb (see store-suite.ts and targets.ts).
import { defineStoreSuite } from './store-suite.js';
import { mariadbTarget } from './targets.js';

defineStoreSuite(mariadbTarget());
