// SPEC.md and the code name the same codes with the same statuses: the section 10 table is
// WIRE_ERROR_STATUS exactly (every code a server may put in Wxseal-Error, the gateway's two
// included), 10.1 lists the signed codes, and the 10.3 table (codes inside authenticated bodies,
// never in Wxseal-Error) is the gateway's GATEWAY_ERROR_STATUS, none of them a wire code.
// Here, not in the protocol's tests: it reads the gateway's table, and @wxseal/protocol (layer 0)
// imports no workspace package, not even in its tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLIENT_ERROR_CODES, SIGNED_REJECTION_CODES, WIRE_ERROR_STATUS, isWireErrorCode } from '@wxseal/protocol';

const spec = readFileSync(new URL('../../SPEC.md', import.meta.url), 'utf8');

/** The text from a heading line to the next heading (of any level). */
function section(heading: string): string {
  const start = spec.indexOf(`\n${heading}\n`);
  assert.ok(start !== -1, `SPEC.md has "${heading}"`);
  const rest = spec.slice(start + heading.length + 2);
  const next = rest.search(/\n#{1,6} /);
  return next === -1 ? rest : rest.slice(0, next);
}

/** `| \`CODE\` | status | … |` rows of a markdown table. */
function codeTable(text: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const m of text.matchAll(/^\| `(WXSEAL_[A-Z_]+)` \| (\d{3}) \|/gm)) {
    assert.ok(!rows.has(m[1]!), `${m[1]} listed once`);
    rows.set(m[1]!, Number(m[2]));
  }
  return rows;
}

test('the section 10 table is WIRE_ERROR_STATUS, the gateway rejections included', () => {
  const table = codeTable(section('## 10. Errors'));
  assert.deepEqual(Object.fromEntries(table), { ...WIRE_ERROR_STATUS });
  assert.equal(table.get('WXSEAL_ROUTE_NOT_FOUND'), 404);
  assert.equal(table.get('WXSEAL_TOO_MANY_HEADERS'), 431);
  for (const code of CLIENT_ERROR_CODES) assert.ok(!table.has(code), `${code} is client-only`);
});

test('10.1 names every code the reference signs, and MALFORMED_HEADER raised at step 8', () => {
  const text = section('### 10.1 Signed rejections');
  for (const code of [...SIGNED_REJECTION_CODES, 'WXSEAL_MALFORMED_HEADER']) assert.ok(text.includes(`\`${code}\``), code);
});

test('10.3 lists the gateway codes of authenticated bodies with their statuses; none is a wire code', async () => {
  const table = codeTable(section('### 10.3 Gateway errors inside authenticated answers'));
  const { GATEWAY_ERROR_STATUS } = await import('@wxseal/gateway');
  assert.deepEqual(Object.fromEntries(table), { ...GATEWAY_ERROR_STATUS });
  for (const code of table.keys()) assert.equal(isWireErrorCode(code), false, `${code} never travels in Wxseal-Error`);
});
