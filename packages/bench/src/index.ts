/**
 * @wxseal/bench — the benchmark harness behind `npm run bench` (see README.md). Exported for
 * programmatic runs; the CLI is src/run.ts.
 */
export { runBench, type BenchOptions, type BenchReport, type ProgressSink, type ScenarioResult } from './harness.js';
export { computeRatios, type Ratio } from './ratios.js';
export { renderMarkdown, renderSvg, renderTerminal } from './report.js';
export { SCENARIOS, type Scenario, type ScenarioId } from './scenarios.js';
export { targets, TargetUnavailable, type Target, type TargetContext, type TargetFactory } from './targets.js';
export { measureCryptoLimits, type CryptoRate } from './crypto-limits.js';
