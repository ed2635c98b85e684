#!/usr/bin/env node
// Copies the built admin console (packages/console/dist, a private package's Vite output) into
// this package's dist/console/, which the published @wxseal/gateway carries (`files`: dist) and
// serves when @wxseal/console is not installed (src/admin/console-files.ts). Run by the root
// build and by `npm pack` (prepack). Fails when the console has not been built, so that no
// gateway tarball goes out without its console.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const from = fileURLToPath(new URL('../../console/dist/', import.meta.url));
const to = fileURLToPath(new URL('../dist/console/', import.meta.url));
if (!existsSync(`${from}index.html`)) {
  console.error(`bundle-console: ${from}index.html is missing: build the console first (npm run build -w @wxseal/console)`);
  process.exit(1);
}
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
console.log(`bundle-console: copied the console into ${to}`);
