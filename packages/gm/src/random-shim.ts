// sm-crypto-v2 draws its randomness from globalThis.crypto.getRandomValues. Node 16.13 (the oldest
// cloud function runtime) has Web Crypto only as require('node:crypto').webcrypto, not as a global,
// and where `node -e` or the REPL runs, its `crypto` global is the node:crypto module, which has no
// getRandomValues before Node 17.4: without this the library's first SM2 operation throws. Installed
// only where the global lacks getRandomValues, and it is the same CSPRNG Node uses for randomBytes.
import { webcrypto } from 'node:crypto';

const g = globalThis as { crypto?: { getRandomValues?: unknown } };
if (typeof g.crypto?.getRandomValues !== 'function') {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, enumerable: false, writable: true });
}
