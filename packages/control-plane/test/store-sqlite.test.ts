// ControlPlaneStore on sqlite (see store-suite.ts and targets.ts).
import { defineStoreSuite } from './store-suite.js';
import { sqliteTarget } from './targets.js';

defineStoreSuite(sqliteTarget());
