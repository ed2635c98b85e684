// Types for plugin.js, for the TypeScript that imports it (tests/lint/rules.test.ts).
import type { ESLint, Rule } from 'eslint';

declare const plugin: ESLint.Plugin & {
  rules: { 'import-cycles': Rule.RuleModule; 'package-boundaries': Rule.RuleModule };
};
export default plugin;
