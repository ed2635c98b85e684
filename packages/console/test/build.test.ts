// Checks the built console (dist/, from `npm run build -w @wxseal/console`; this test builds
// nothing) against the admin listener's strict CSP, and the i18n dictionaries for parity.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { en } from '../src/i18n/en.js';
import { zh } from '../src/i18n/zh.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const dist = join(pkg, 'dist');
const indexHtml = join(dist, 'index.html');
const HASHED = /^\/console\/assets\/[\w.-]+-[\w-]{8,}\.(js|css)$/;

function readIndex(): string {
  assert.ok(existsSync(indexHtml), `${indexHtml} is missing: build the console first (npm run build -w @wxseal/console)`);
  return readFileSync(indexHtml, 'utf8');
}

/** Every tag of the given name with its attribute text and content. */
function tags(html: string, name: string): { attrs: string; body: string }[] {
  const out: { attrs: string; body: string }[] = [];
  const re = new RegExp(`<${name}\\b([^>]*)>([\\s\\S]*?)</${name}\\s*>`, 'gi');
  for (let m = re.exec(html); m; m = re.exec(html)) out.push({ attrs: m[1] ?? '', body: m[2] ?? '' });
  return out;
}

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs);
  return m ? (m[2] ?? m[3] ?? m[4]) : undefined;
}

test('dist/index.html has no inline scripts', () => {
  const html = readIndex();
  const scripts = tags(html, 'script');
  assert.ok(scripts.length > 0, 'index.html loads no script at all');
  for (const s of scripts) {
    assert.ok(attr(s.attrs, 'src'), `inline <script> in index.html: ${s.body.slice(0, 80)}`);
    assert.ok(s.body.trim() === '', `<script src> with a body in index.html: ${s.body.slice(0, 80)}`);
  }
  assert.ok(!/\son[a-z]+\s*=/i.test(html), 'index.html has an inline event handler attribute (on…=)');
  assert.ok(!/javascript:/i.test(html), 'index.html has a javascript: URL');
});

test('dist/index.html has no inline styles', () => {
  const html = readIndex();
  assert.equal(tags(html, 'style').length, 0, 'index.html has an inline <style> element');
  assert.ok(!/\sstyle\s*=/i.test(html), 'index.html has a style="…" attribute');
});

test('dist/index.html references only hashed assets under /console/', () => {
  const html = readIndex();
  const refs: string[] = [];
  for (const m of html.matchAll(/<(script|link)\b([^>]*)>/gi)) {
    const attrs = m[2] ?? '';
    const url = attr(attrs, 'src') ?? attr(attrs, 'href');
    if (url === undefined) continue;
    // The empty data: favicon keeps browsers from asking for /favicon.ico (img-src allows data:).
    if (m[1]?.toLowerCase() === 'link' && attr(attrs, 'rel') === 'icon' && url === 'data:,') continue;
    refs.push(url);
  }
  assert.ok(refs.some((r) => r.endsWith('.js')), `no script asset referenced: ${refs.join(', ')}`);
  assert.ok(refs.some((r) => r.endsWith('.css')), `no stylesheet referenced: ${refs.join(', ')}`);
  for (const r of refs) {
    assert.ok(HASHED.test(r), `not a hashed asset under /console/assets/: ${r}`);
    assert.ok(existsSync(join(dist, r.slice('/console/'.length))), `referenced asset missing from dist: ${r}`);
  }
});

test('dist has no source maps and the scripts use no eval', () => {
  readIndex();
  const files = readdirSync(join(dist, 'assets'));
  assert.ok(!files.some((f) => f.endsWith('.map')), `source maps in dist/assets: ${files.filter((f) => f.endsWith('.map')).join(', ')}`);
  for (const f of files.filter((x) => x.endsWith('.js'))) {
    const js = readFileSync(join(dist, 'assets', f), 'utf8');
    assert.ok(!js.includes('sourceMappingURL'), `${f} points to a source map`);
    assert.ok(!/\beval\(|new Function\(/.test(js), `${f} uses eval or new Function`);
    assert.ok(!/setAttribute\(\s*["'`]style["'`]/.test(js), `${f} sets a style attribute (blocked by style-src 'self')`);
  }
});

test('the zh-CN and en dictionaries have the same keys, all non-empty', () => {
  const zk = Object.keys(zh).sort();
  const ek = Object.keys(en).sort();
  const onlyZh = zk.filter((k) => !(k in en));
  const onlyEn = ek.filter((k) => !(k in zh));
  assert.deepEqual(onlyZh, [], `keys only in zh.ts: ${onlyZh.join(', ')}`);
  assert.deepEqual(onlyEn, [], `keys only in en.ts: ${onlyEn.join(', ')}`);
  for (const [lang, dict] of [['zh-CN', zh], ['en', en]] as const) {
    for (const [k, v] of Object.entries(dict)) assert.ok(typeof v === 'string' && v.trim() !== '', `${lang} ${k} is empty`);
  }
  // Same placeholders on both sides, so interpolation never loses a value.
  const ph = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
  for (const k of zk) {
    const a = ph((zh as Record<string, string>)[k] ?? '');
    const b = ph((en as Record<string, string>)[k] ?? '');
    assert.equal(a, b, `placeholders differ for ${k}: zh {${a}} en {${b}}`);
  }
});
