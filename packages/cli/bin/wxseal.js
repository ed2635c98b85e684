#!/usr/bin/env node
// Thin launcher: the command lives in the compiled package (built by `npm ci` through `prepare`).
import { main } from '../dist/main.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 2; },
);
