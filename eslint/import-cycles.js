// wxseal/import-cycles: no relative import closes a cycle between the modules of one package (or of
// the folders outside packages/), type-only imports, re-exports and dynamic imports included.
// eslint-plugin-import-x's no-cycle skips every `import type` (it only cares about evaluation
// order), but a type-only cycle is still two modules that cannot be understood, moved or split
// apart, which is what this rule guards. See eslint/README.md.
import { join, relative, sep } from 'node:path';
import { isInside, isRelative, lintedFile, moduleSpecifierVisitor, relativeTargetsOf, resolveRelative } from './workspace.js';

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'No cycle of relative imports (type-only imports included) inside a package' },
    schema: [],
    messages: {
      cycle: "'{{specifier}}' closes an import cycle: {{route}}",
    },
  },
  create(context) {
    const file = context.physicalFilename;
    const linted = lintedFile(file);
    if (!linted) return {};
    const { ws, where } = linted;
    const packagesDir = join(ws.root, 'packages');
    // The modules that can take part: the file's own package, or everything outside packages/.
    const inUnit = where.kind === 'root' ? (f) => isInside(ws.root, f) && !isInside(packagesDir, f) : (f) => isInside(where.pkg.dir, f);
    const show = (f) => relative(ws.root, f).split(sep).join('/');

    /** The shortest chain of relative imports from `start` back to the linted file, or undefined. */
    function pathBack(start) {
      const previous = new Map([[start, undefined]]);
      const queue = [start];
      while (queue.length > 0) {
        const current = queue.shift();
        for (const next of relativeTargetsOf(current)) {
          if (!inUnit(next) || previous.has(next)) continue;
          previous.set(next, current);
          if (next === file) {
            const route = [];
            for (let at = next; at !== undefined; at = previous.get(at)) route.unshift(at);
            return route;
          }
          queue.push(next);
        }
      }
      return undefined;
    }

    const checked = new Set();
    return moduleSpecifierVisitor((node, specifier) => {
      if (!isRelative(specifier)) return;
      const target = resolveRelative(file, specifier);
      if (!target || target === file || !inUnit(target) || checked.has(target)) return;
      checked.add(target);
      const route = pathBack(target);
      if (route) context.report({ node, messageId: 'cycle', data: { specifier, route: [file, ...route].map(show).join(' → ') } });
    });
  },
};

export default rule;
