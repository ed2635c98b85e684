// ESLint (flat config): typescript-eslint's recommended rules (syntax only, no type information,
// so a full run stays quick), and the repo's own rules in eslint/ — package boundaries and import
// cycles, documented in eslint/README.md. `npm run lint`; `npm test` runs it first.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import wxseal from './eslint/plugin.js';
import { lintInputsDigest } from './eslint/workspace.js';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig(
  {
    // Generated or built files, dependencies, and the Java interop client.
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'packages/console/src/generated/**',
      'interop/java/**',
      'test-results/**',
      // What the quick start and the tests leave in the work tree (.gitignore).
      'wxseal/**',
      '.wxseal/**',
      'tmp/**',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
  },
  {
    rules: {
      // A field destructured only to leave it out of the rest (`{ secret: _s, ...shown }`) is used.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // `let x; x = make(() => x…)`: a callback that may run before the assignment reads the
      // variable; `const` would throw there instead of seeing undefined.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // The console runs in the browser; its hooks are Preact's, which follow React's rules.
    files: ['packages/console/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  {
    plugins: { wxseal },
    rules: {
      'wxseal/import-cycles': 'error',
      'wxseal/package-boundaries': [
        'error',
        {
          layer0: ['@wxseal/protocol', '@wxseal/support'],
          // Vite bundles the console's sources into dist/ (what the gateway serves): preact and
          // uplot are build inputs, devDependencies, so that installing the gateway installs neither.
          bundled: ['@wxseal/console'],
          sharedTestHelpers: 'tests/support',
          // Changes with any package.json and with the shared helpers' imports: ESLint's cache keys
          // each file's result on the config, so declaring or removing a dependency re-lints every
          // file instead of replaying stale results.
          settingsDigest: lintInputsDigest(root, 'tests/support'),
        },
      ],
    },
  },
);
