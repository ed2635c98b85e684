// The part of node:test the client's tests use (describe, it/test, before/after, beforeEach/
// afterEach, a per-test `timeout` option), for Node 16.13, which has no node:test (it came in 18.0
// and 16.17). Plain JavaScript: it runs as is, with nothing newer than 16.13 in it.
//
// node16-runtime.test.ts transpiles the client's tests, points `node:test` at this file, and
// runs each test file with main.mjs, which reports one JSON line per test.

function suite(name, parent) {
  return { name, parent, entries: [], before: [], after: [], beforeEach: [], afterEach: [] };
}

export const rootSuite = suite('', undefined);
let current = rootSuite;

function split(options, fn) {
  return typeof options === 'function' ? [{}, options] : [options || {}, fn];
}

// Like node:test (Node 20), the file's top-level before() hooks start as soon as its first suite
// or test is declared, synchronously: a describe() body may read what such a hook set up.
const rootBeforeStarted = [];
function startRootBefore() {
  if (current !== rootSuite) return;
  while (rootSuite.before.length > 0) {
    const hook = rootSuite.before.shift();
    try {
      const result = hook({});
      rootBeforeStarted.push(Promise.resolve(result));
    } catch (err) {
      rootBeforeStarted.push(Promise.reject(err));
    }
  }
}

export function describe(name, options, fn) {
  startRootBefore();
  const [opts, body] = split(options, fn);
  const s = suite(name, current);
  s.skip = Boolean(opts.skip);
  current.entries.push({ kind: 'suite', suite: s });
  const previous = current;
  current = s;
  try {
    const result = body();
    if (result && typeof result.then === 'function') throw new Error(`describe('${name}'): an async body is not supported here`);
  } finally {
    current = previous;
  }
}

export function it(name, options, fn) {
  startRootBefore();
  const [opts, body] = split(options, fn);
  current.entries.push({ kind: 'test', name, fn: body, timeout: opts.timeout, skip: Boolean(opts.skip) });
}
export const test = it;
it.skip = (name, options, fn) => it(name, { ...split(options, fn)[0], skip: true }, split(options, fn)[1]);
describe.skip = (name, options, fn) => describe(name, { ...split(options, fn)[0], skip: true }, split(options, fn)[1]);

export function before(fn) {
  current.before.push(fn);
}
export function after(fn) {
  current.after.push(fn);
}
export function beforeEach(fn) {
  current.beforeEach.push(fn);
}
export function afterEach(fn) {
  current.afterEach.push(fn);
}

export default test;

/** The default per-test bound (node --test has none; run-tests.mjs sets 240 s). */
const DEFAULT_TIMEOUT_MS = 120000;

function withTimeout(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function call(fn, context) {
  // A callback-style function (done) is not used by the client's tests: refuse it clearly.
  if (fn.length >= 2) throw new Error('callback-style tests are not supported here');
  return Promise.resolve().then(() => fn(context));
}

function errorText(err) {
  if (err instanceof Error) return err.stack || `${err.name}: ${err.message}`;
  return String(err);
}

function chain(s) {
  const out = [];
  for (let x = s; x; x = x.parent) out.unshift(x);
  return out;
}

/**
 * Runs the registered tests in order. `report(result)` receives
 * `{ name, ok, skipped, ms, error }` for each test, and for each failing hook.
 */
export async function run(report) {
  async function runSuite(s, path) {
    if (s.skip) {
      for (const e of s.entries) if (e.kind === 'test') report({ name: [...path, e.name].join(' > '), ok: true, skipped: true, ms: 0 });
      return;
    }
    const label = path.join(' > ') || '(file)';
    const hooks = s.before.map((hook) => () => call(hook, {}));
    if (s === rootSuite) hooks.unshift(...rootBeforeStarted.map((started) => () => started));
    for (const hook of hooks) {
      try {
        await withTimeout(hook(), DEFAULT_TIMEOUT_MS, `before() of ${label}`);
      } catch (err) {
        // Like node:test: a failing before() fails every test of its suite.
        report({ name: `${label} > before()`, ok: false, ms: 0, error: errorText(err) });
        await runAfter(s, label);
        return;
      }
    }
    for (const e of s.entries) {
      if (e.kind === 'suite') {
        await runSuite(e.suite, [...path, e.suite.name]);
        continue;
      }
      const name = [...path, e.name].join(' > ');
      if (e.skip) {
        report({ name, ok: true, skipped: true, ms: 0 });
        continue;
      }
      const start = Date.now();
      try {
        const suites = chain(s);
        for (const x of suites) for (const hook of x.beforeEach) await call(hook, { name: e.name });
        try {
          await withTimeout(call(e.fn, { name: e.name }), e.timeout || DEFAULT_TIMEOUT_MS, `'${name}'`);
        } finally {
          for (const x of suites.reverse()) for (const hook of x.afterEach) await call(hook, { name: e.name });
        }
        report({ name, ok: true, ms: Date.now() - start });
      } catch (err) {
        report({ name, ok: false, ms: Date.now() - start, error: errorText(err) });
      }
    }
    await runAfter(s, label);
  }
  async function runAfter(s, label) {
    for (const hook of s.after) {
      try {
        await withTimeout(call(hook, {}), DEFAULT_TIMEOUT_MS, `after() of ${label}`);
      } catch (err) {
        report({ name: `${label} > after()`, ok: false, ms: 0, error: errorText(err) });
      }
    }
  }
  await runSuite(rootSuite, []);
}
