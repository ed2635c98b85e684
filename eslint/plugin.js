// The repo's own lint rules, as the ESLint plugin `wxseal` (eslint.config.js). See eslint/README.md.
import importCycles from './import-cycles.js';
import packageBoundaries from './package-boundaries.js';

export default {
  meta: { name: 'wxseal' },
  rules: {
    'import-cycles': importCycles,
    'package-boundaries': packageBoundaries,
  },
};
