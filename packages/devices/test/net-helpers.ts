// Network stand-ins for the store and cache tests (shared with the other packages' suites).
export { freePort, silentServer } from '../../../tests/support/net.js';
