// The repo's own lint rules (eslint/): wxseal/package-boundaries and wxseal/import-cycles, each
// constraint with a case that passes and one that fails, on a small workspace written to a
// temporary folder (the rules read its package.json files and, for the other end of a cycle or a
// shared test helper, its source files). The real repo's verdicts are `npm run lint`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import plugin from '../../eslint/plugin.js';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const root = mkdtempSync(join(tmpdir(), 'wxseal-lint-'));
after(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): string {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}
const manifest = (m: Record<string, unknown>): string => `${JSON.stringify(m, null, 2)}\n`;

// The workspace: base is layer 0; util depends on base; app on util (and tool for its tests); tool
// depends on app (so app's tests importing tool closes a cycle); web is bundled (preact a devDependency).
write('package.json', manifest({
  private: true,
  workspaces: ['packages/base', 'packages/util', 'packages/app', 'packages/tool', 'packages/web'],
  devDependencies: { 'fast-check': '*' },
}));
write('packages/base/package.json', manifest({ name: '@fx/base', exports: { '.': './src/index.ts' } }));
write('packages/util/package.json', manifest({
  name: '@fx/util',
  dependencies: { '@fx/base': '*', lodash: '*' },
  peerDependencies: { express: '*' },
  optionalDependencies: { pg: '*' },
}));
write('packages/app/package.json', manifest({
  name: '@fx/app',
  exports: { '.': './src/index.ts', './sub': './src/sub.ts', './assets/*': './dist/*' },
  dependencies: { '@fx/util': '*' },
  devDependencies: { '@fx/tool': '*', 'left-pad': '*' },
}));
write('packages/tool/package.json', manifest({ name: '@fx/tool', dependencies: { '@fx/app': '*' } }));
write('packages/web/package.json', manifest({ name: '@fx/web', devDependencies: { preact: '*' } }));
write('tests/support/plain.ts', "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n");
write('tests/support/via.ts', "export { read } from './plain.js';\nexport type { Web } from '@fx/web';\n");

const appSrc = join(root, 'packages/app/src/index.ts');
const appTest = join(root, 'packages/app/test/app.test.ts');
const utilSrc = join(root, 'packages/util/src/index.ts');
const utilTest = join(root, 'packages/util/test/util.test.ts');
const baseSrc = join(root, 'packages/base/src/index.ts');
const baseTest = join(root, 'packages/base/test/base.test.ts');
const webSrc = join(root, 'packages/web/src/main.tsx');
const e2e = join(root, 'tests/e2e/flow.test.ts');
const script = join(root, 'scripts/gen.ts');

const options = [{ layer0: ['@fx/base'], bundled: ['@fx/web'], sharedTestHelpers: 'tests/support' }];
const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' } });

tester.run('wxseal/package-boundaries', plugin.rules['package-boundaries'], {
  valid: [
    // built-ins, with and without the node: prefix
    { code: "import { readFileSync } from 'node:fs'; import path from 'path';", filename: appSrc, options },
    // src: dependencies, peer and optional dependencies, its own package by name (exported subpath)
    { code: "import { u } from '@fx/util';", filename: appSrc, options },
    { code: "import express from 'express'; import pg from 'pg'; import _ from 'lodash/fp';", filename: utilSrc, options },
    { code: "import { s } from '@fx/app/sub';", filename: appSrc, options },
    // relative inside the package, tests into src
    { code: "import { s } from './sub.js';", filename: appSrc, options },
    { code: "import { s } from '../src/sub.js';", filename: appTest, options },
    // tests: devDependencies and the root's (the shared toolchain)
    { code: "import pad from 'left-pad'; import fc from 'fast-check';", filename: appTest, options },
    // a package test may import tests/support, whose imports the package declares (built-ins here)
    { code: "import { read } from '../../../tests/support/plain.js';", filename: appTest, options },
    // a bundled package's sources may import its devDependencies
    { code: "import { h } from 'preact';", filename: webSrc, options },
    // layer 0 imports itself, by name too
    { code: "import { b } from '@fx/base';", filename: baseSrc, options },
    // outside packages/: any workspace package (exported subpaths), relative imports between folders
    // outside packages/, third-party modules some package.json declares
    {
      code: "import { t } from '@fx/tool'; import { s } from '@fx/app/sub'; import '@fx/app/assets/x.css'; import { read } from '../support/plain.js'; import pad from 'left-pad';",
      filename: e2e,
      options,
    },
    { code: "import { flow } from '../tests/e2e/flow.test.js'; import fc from 'fast-check';", filename: script, options },
  ],
  invalid: [
    // src: an undeclared module, a devDependency, a type-only import, a require
    { code: "import chalk from 'chalk';", filename: appSrc, options, errors: [{ messageId: 'undeclared' }] },
    { code: "import pad from 'left-pad';", filename: appSrc, options, errors: [{ messageId: 'undeclared' }] },
    { code: "import fc from 'fast-check';", filename: appSrc, options, errors: [{ messageId: 'undeclared' }] },
    { code: "import type { Web } from '@fx/web';", filename: appSrc, options, errors: [{ messageId: 'undeclared' }] },
    { code: "const x = await import('chalk'); export type T = import('chalk').T;", filename: appSrc, options, errors: [{ messageId: 'undeclared' }, { messageId: 'undeclared' }] },
    // tests: a workspace package declared nowhere in the package
    { code: "import { w } from '@fx/web';", filename: appTest, options, errors: [{ messageId: 'undeclared' }] },
    // a devDependency that closes a cycle between packages (tool depends on app)
    { code: "import { t } from '@fx/tool';", filename: appTest, options, errors: [{ messageId: 'cycle' }] },
    // undeclared, and declaring it would close a cycle (app depends on util): the hint says so
    {
      code: "import { a } from '@fx/app';",
      filename: utilTest,
      options,
      errors: [{ message: "'@fx/app' is not declared by @fx/util (package.json dependencies or devDependencies, or the root's); declaring it would close a cycle (@fx/util → @fx/app → @fx/util): move the test to tests/e2e" }],
    },
    // relative imports leaving the package: into another package, into tests/ beyond tests/support
    { code: "import { u } from '../../util/src/index.js';", filename: appSrc, options, errors: [{ messageId: 'leavesPackage' }] },
    { code: "import { u } from '../../util/test/util.test.js';", filename: appTest, options, errors: [{ messageId: 'leavesPackage' }] },
    { code: "import { flow } from '../../../tests/e2e/flow.test.js';", filename: appTest, options, errors: [{ messageId: 'leavesPackage' }] },
    // sources do not import tests/support (nor anything outside the package) ...
    { code: "import { read } from '../../../tests/support/plain.js';", filename: appSrc, options, errors: [{ messageId: 'leavesPackage' }] },
    // ... nor their own tests
    { code: "import { t } from '../test/app.test.js';", filename: appSrc, options, errors: [{ messageId: 'sourceImportsTests' }] },
    // a shared test helper that pulls in what the package does not declare (a type-only re-export)
    { code: "import { read } from '../../../tests/support/via.js';", filename: appTest, options, errors: [{ messageId: 'undeclaredVia' }] },
    // layer 0: no workspace package, in its sources or its tests, declared or not
    { code: "import { u } from '@fx/util';", filename: baseSrc, options, errors: [{ messageId: 'layer0' }] },
    { code: "import type { A } from '@fx/app';", filename: baseTest, options, errors: [{ messageId: 'layer0' }] },
    { code: "import { read } from '../../../tests/support/via.js';", filename: baseTest, options, errors: [{ messageId: 'layer0Via' }] },
    // without the bundled option a package's sources may not import its devDependencies
    { code: "import { h } from 'preact';", filename: webSrc, options: [{ layer0: ['@fx/base'] }], errors: [{ messageId: 'undeclared' }] },
    // a subpath the package does not export, from a package or from outside packages/
    { code: "import { i } from '@fx/base/src/internal.js';", filename: utilSrc, options, errors: [{ messageId: 'notExported' }] },
    { code: "import { i } from '@fx/app/internal';", filename: e2e, options, errors: [{ messageId: 'notExported' }] },
    // outside packages/: no relative path into a package; no module that no package.json declares
    { code: "import { a } from '../../packages/app/src/index.js';", filename: e2e, options, errors: [{ messageId: 'intoPackage' }] },
    { code: "import chalk from 'chalk';", filename: script, options, errors: [{ messageId: 'declaredNowhere' }] },
  ],
});

// Modules on disk for the cycle rule: it reads the other ends of a cycle from the files.
const cycleFiles: Record<string, string> = {
  'packages/app/src/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
  'packages/app/src/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
  'packages/app/src/c.ts': "import { d } from './d.js';\nexport const c = d;\n",
  'packages/app/src/d.ts': 'export const d = 1;\n',
  'packages/app/src/e.ts': "export * from './f.js';\n",
  'packages/app/src/f.ts': "import { g } from './g.js';\nexport const f = g;\n",
  'packages/app/src/g.ts': "export const g = async () => (await import('./e.js')).f;\n",
  'packages/app/src/h.tsx': "import { d } from './d';\nexport const h = d;\n",
  // app's index re-exports util by a relative path (a boundary finding, not a cycle: other
  // packages' files are not followed)
  'packages/app/src/to-util.ts': "export * from '../../util/src/back.js';\n",
  'packages/util/src/back.ts': "export * from '../../app/src/to-util.js';\n",
  'scripts/one.ts': "import { two } from './two.js';\nexport const one = two;\n",
  'scripts/two.ts': "import { one } from '../tests/e2e/three.js';\nexport const two = one;\n",
  'tests/e2e/three.ts': "import { one } from '../../scripts/one.js';\nexport const three = one;\n",
};
for (const [path, text] of Object.entries(cycleFiles)) write(path, text);
const at = (path: string) => ({ code: cycleFiles[path]!, filename: join(root, path) });

tester.run('wxseal/import-cycles', plugin.rules['import-cycles'], {
  valid: [
    at('packages/app/src/c.ts'),
    at('packages/app/src/d.ts'),
    // an extensionless import (the console's bundler resolution) that closes no cycle
    at('packages/app/src/h.tsx'),
    // the two halves of a loop through another package: not an import cycle of one package
    at('packages/app/src/to-util.ts'),
  ],
  invalid: [
    // type-only imports close a cycle too
    {
      ...at('packages/app/src/a.ts'),
      errors: [{ message: "'./b.js' closes an import cycle: packages/app/src/a.ts → packages/app/src/b.ts → packages/app/src/a.ts" }],
    },
    // through a re-export and a dynamic import
    { ...at('packages/app/src/e.ts'), errors: [{ messageId: 'cycle' }] },
    { ...at('packages/app/src/g.ts'), errors: [{ messageId: 'cycle' }] },
    // outside packages/, across folders
    { ...at('scripts/one.ts'), errors: [{ message: "'./two.js' closes an import cycle: scripts/one.ts → scripts/two.ts → tests/e2e/three.ts → scripts/one.ts" }] },
  ],
});
