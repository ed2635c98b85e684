// sm-crypto-v2 draws its randomness from globalThis.crypto. Node 16.13 (the oldest cloud function
// runtime) has Web Crypto only as require('node:crypto').webcrypto, not as a global: without this
// the library's first SM2 operation throws. Installed only where the global is missing, and it is
// the same CSPRNG Node uses for randomBytes.
import { webcrypto } from 'node:crypto';

const g = globalThis as { crypto?: unknown };
if (g.crypto === undefined) {
  Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true, enumerable: false, writable: true });
}
