// Every code the console explains has an explanation in both of its languages: the rejection codes
// of @wxseal/protocol (English from its catalogue, zh-CN from i18n/explanations.ts), the console's
// own codes, and the admin API's. A page in zh-CN never shows an English explanation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WIRE_ERRORS, type WireErrorCode } from '@wxseal/protocol/errors';
import { CONSOLE_ERRORS } from '../src/errors.js';
import { ADMIN_EXPLANATIONS, ZH_CONSOLE_EXPLANATIONS, ZH_WIRE_EXPLANATIONS, explainCode } from '../src/i18n/explanations.js';

const CJK = /[\u4e00-\u9fff]/;

test('every wire code has a zh-CN explanation, and English is the catalogue\'s', () => {
  const codes = Object.keys(WIRE_ERRORS) as WireErrorCode[];
  assert.ok(codes.length >= 20);
  assert.deepEqual(Object.keys(ZH_WIRE_EXPLANATIONS).sort(), [...codes].sort());
  for (const code of codes) {
    const zh = explainCode('zh-CN', code);
    assert.ok(zh && CJK.test(zh.meaning) && CJK.test(zh.action), `${code}: zh-CN explanation`);
    assert.deepEqual(explainCode('en', code), WIRE_ERRORS[code], code);
  }
});

test('the console\'s own codes and the admin codes are explained in both languages', () => {
  assert.deepEqual(Object.keys(ZH_CONSOLE_EXPLANATIONS).sort(), Object.keys(CONSOLE_ERRORS).sort());
  for (const code of Object.keys(CONSOLE_ERRORS)) {
    assert.ok(CJK.test(explainCode('zh-CN', code)!.meaning), code);
    assert.equal(explainCode('en', code)!.meaning, CONSOLE_ERRORS[code as keyof typeof CONSOLE_ERRORS].meaning);
  }
  assert.deepEqual(Object.keys(ADMIN_EXPLANATIONS['zh-CN']).sort(), Object.keys(ADMIN_EXPLANATIONS.en).sort());
  for (const code of Object.keys(ADMIN_EXPLANATIONS.en)) {
    const zh = explainCode('zh-CN', code)!;
    assert.ok(CJK.test(zh.meaning) && CJK.test(zh.action), code);
    assert.ok(!CJK.test(explainCode('en', code)!.meaning), code);
  }
});

test('an unknown code has no explanation (the page shows the code alone)', () => {
  assert.equal(explainCode('zh-CN', 'UNKNOWN'), undefined);
  assert.equal(explainCode('en', 'WXSEAL_SOMETHING_NEW'), undefined);
  assert.equal(explainCode('en', 'toString'), undefined);
});
