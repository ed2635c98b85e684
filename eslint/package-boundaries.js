// wxseal/package-boundaries: what a file may import, by where it lives. The semantics are in
// eslint/README.md; in short, a package imports what its package.json declares, no relative path
// leaves a package, layer 0 imports no workspace package, and no import closes a cycle between
// packages. The rule reads the package.json files at lint time: a dependency is declared once.
import { dirname, join, relative, sep } from 'node:path';
import {
  importsOf,
  isBuiltin,
  isExported,
  isInside,
  isRelative,
  lintedFile,
  moduleSpecifierVisitor,
  packageOf,
  reachable,
  resolveRelative,
  stripQuery,
} from './workspace.js';

const DEFAULT_SHARED_TEST_HELPERS = 'tests/support';

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: {
      description: 'A file imports only what its package declares; no relative import leaves a package; layer 0 imports no workspace package; no import closes a cycle between packages',
    },
    schema: [
      {
        type: 'object',
        properties: {
          layer0: { type: 'array', items: { type: 'string' }, description: 'packages that may import no workspace package' },
          bundled: {
            type: 'array',
            items: { type: 'string' },
            description: 'packages whose sources are bundled at build time: their src may import devDependencies too',
          },
          sharedTestHelpers: { type: 'string', description: 'the folder (from the workspace root) package tests may import by relative path' },
          settingsDigest: { type: 'string', description: 'ignored: keys the ESLint cache on the manifests (see eslint.config.js)' },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      leavesPackage: "'{{specifier}}' leaves {{pkg}}: import another package by its name, shared test helpers from {{helpers}}",
      sourceImportsTests: "'{{specifier}}': the sources of {{pkg}} do not import its tests",
      intoPackage: "'{{specifier}}' reaches into {{dir}}: import {{name}} by its name",
      undeclared: "'{{name}}' is not declared by {{pkg}} (package.json {{fields}}){{hint}}",
      undeclaredVia:
        "'{{specifier}}' imports '{{name}}' ({{via}}), which {{pkg}} does not declare (package.json {{fields}}){{hint}}",
      declaredNowhere: "'{{name}}' is declared by no package.json of the workspace",
      layer0: "{{pkg}} is layer 0 and imports no workspace package: '{{name}}'",
      layer0Via: "'{{specifier}}' imports '{{name}}' ({{via}}): {{pkg}} is layer 0 and imports no workspace package",
      cycle: "'{{name}}' closes a cycle between packages: {{chain}}",
      notExported: "'{{specifier}}' is not among the exports of {{name}}",
    },
  },
  create(context) {
    const file = context.physicalFilename;
    const linted = lintedFile(file);
    if (!linted) return {};
    const { ws, where } = linted;
    const options = context.options[0] ?? {};
    const layer0 = new Set(options.layer0 ?? []);
    const bundled = new Set(options.bundled ?? []);
    const helpersDir = join(ws.root, options.sharedTestHelpers ?? DEFAULT_SHARED_TEST_HELPERS);
    const show = (path) => relative(ws.root, path).split(sep).join('/');
    const packagesDir = join(ws.root, 'packages');

    /**
     * Why package `pkg` may not import the bare specifier `name` from a file of kind `kind`
     * (`src` or `dev`), or undefined when it may: { messageId suffix, data }.
     */
    function packageVerdict(pkg, kind, name) {
      if (name === pkg.name) return undefined;
      const target = ws.packages.get(name);
      if (target && layer0.has(pkg.name)) return { id: 'layer0', data: { pkg: pkg.name, name } };
      const mayDev = kind === 'dev' || bundled.has(pkg.name);
      const declared = pkg.runtime.has(name) || (mayDev && pkg.dev.has(name)) || (kind === 'dev' && ws.rootTools.has(name));
      const cycle = target ? reachable(ws, name).get(pkg.name) : undefined;
      if (!declared) {
        const fields = kind === 'dev'
          ? "dependencies or devDependencies, or the root's"
          : mayDev
            ? 'dependencies or devDependencies'
            : 'dependencies, peerDependencies or optionalDependencies';
        const hint = cycle
          ? `; declaring it would close a cycle (${[pkg.name, ...cycle].join(' → ')}): ${kind === 'dev' ? 'move the test to tests/e2e' : 'invert the dependency'}`
          : kind === 'src' && pkg.dev.has(name)
            ? ' (a devDependency is for tests)'
            : '';
        return { id: 'undeclared', data: { name, pkg: pkg.name, fields, hint } };
      }
      if (cycle) return { id: 'cycle', data: { name, chain: [pkg.name, ...cycle].join(' → ') } };
      return undefined;
    }

    function checkExported(node, specifier) {
      const { name, subpath } = packageOf(specifier);
      const target = ws.packages.get(name);
      if (target && !isExported(target, subpath)) context.report({ node, messageId: 'notExported', data: { specifier, name } });
    }

    /** The bare specifiers a shared test helper pulls in, with the file naming each (relative imports followed, packages/ excepted). */
    function bareImportsBehind(start) {
      const seen = new Set([start]);
      const queue = [start];
      const found = new Map();
      while (queue.length > 0) {
        const current = queue.shift();
        for (const spec of importsOf(current)) {
          if (isRelative(spec)) {
            const next = resolveRelative(current, spec);
            if (next && !seen.has(next) && !isInside(packagesDir, next)) {
              seen.add(next);
              queue.push(next);
            }
          } else if (!isBuiltin(spec)) {
            const { name } = packageOf(stripQuery(spec));
            if (!found.has(name)) found.set(name, show(current));
          }
        }
      }
      return found;
    }

    function checkInPackage(node, specifier) {
      const { pkg, kind } = where;
      if (isRelative(specifier)) {
        const target = join(dirname(file), stripQuery(specifier));
        if (isInside(pkg.dir, target)) {
          if (kind === 'src' && isInside(join(pkg.dir, 'test'), target)) {
            context.report({ node, messageId: 'sourceImportsTests', data: { specifier, pkg: pkg.name } });
          }
          return;
        }
        if (kind === 'dev' && isInside(helpersDir, target)) {
          const resolved = resolveRelative(file, specifier);
          if (!resolved) return; // TypeScript reports the missing module
          for (const [name, via] of bareImportsBehind(resolved)) {
            const verdict = packageVerdict(pkg, kind, name);
            if (!verdict) continue;
            const id = verdict.id === 'layer0' ? 'layer0Via' : verdict.id === 'undeclared' ? 'undeclaredVia' : verdict.id;
            context.report({ node, messageId: id, data: { ...verdict.data, specifier, via } });
          }
          return;
        }
        context.report({ node, messageId: 'leavesPackage', data: { specifier, pkg: pkg.name, helpers: show(helpersDir) } });
        return;
      }
      if (isBuiltin(specifier)) return;
      const { name } = packageOf(stripQuery(specifier));
      const verdict = packageVerdict(pkg, kind, name);
      if (verdict) context.report({ node, messageId: verdict.id, data: verdict.data });
      else checkExported(node, stripQuery(specifier));
    }

    function checkOutsidePackages(node, specifier) {
      if (isRelative(specifier)) {
        const target = join(dirname(file), stripQuery(specifier));
        if (!isInside(packagesDir, target)) return;
        const dir = relative(packagesDir, target).split(sep)[0];
        const pkg = ws.byDir.get(join(packagesDir, dir));
        context.report({
          node,
          messageId: 'intoPackage',
          data: { specifier, dir: `packages/${dir}`, name: pkg ? pkg.name : 'the package' },
        });
        return;
      }
      if (isBuiltin(specifier)) return;
      const { name } = packageOf(stripQuery(specifier));
      if (ws.packages.has(name)) checkExported(node, stripQuery(specifier));
      else if (!ws.declaredAnywhere.has(name)) context.report({ node, messageId: 'declaredNowhere', data: { name } });
    }

    return moduleSpecifierVisitor(where.kind === 'root' ? checkOutsidePackages : checkInPackage);
  },
};

export default rule;
