// The console's types of the admin API (packages/console/src/generated/admin-api.ts) are generated
// from the gateway's route table by scripts/generate-admin-types.ts and committed: the console
// cannot import the gateway, which depends on it. This fails when the committed file is not what
// the route table gives now (fix: npm run console:types).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ADMIN_ROUTES } from '@wxseal/gateway';
import { ADMIN_TYPES_FILE, adminSchemas, renderAdminTypes } from '../../scripts/generate-admin-types.js';

test('the committed admin API types are what the route table gives (npm run console:types)', async () => {
  const committed = readFileSync(ADMIN_TYPES_FILE, 'utf8');
  const generated = await renderAdminTypes();
  if (committed !== generated) {
    const a = committed.split('\n');
    const b = generated.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(
      `${ADMIN_TYPES_FILE} is stale: run npm run console:types and commit the result.\n` +
        `first difference at line ${line + 1}:\n  committed: ${a[line] ?? '(end of file)'}\n  generated: ${b[line] ?? '(end of file)'}`,
    );
  }
});

test('every route with params, a query, a body or an answer has its named schema', () => {
  const schemas = adminSchemas();
  const pascal = (id: string): string => id.charAt(0).toUpperCase() + id.slice(1);
  for (const route of ADMIN_ROUTES) {
    const name = pascal(route.id);
    if ('params' in route) assert.ok(schemas[`${name}Params`], `${name}Params`);
    if ('query' in route) assert.ok(schemas[`${name}Query`], `${name}Query`);
    if ('body' in route) assert.ok(schemas[`${name}Body`], `${name}Body`);
    if ('response' in route) assert.ok(schemas[`${name}Response`], `${name}Response`);
  }
  assert.ok(schemas.Error, 'the refusal shape');
});
