// The package's entry points: `@wxseal/protocol` names what clients, verifiers and devices use,
// `@wxseal/protocol/primitives` the building blocks, `@wxseal/protocol/errors` the error model alone
// (errors.ts itself, a subset of the main entry, for browsers). The first two list their names
// explicitly; this checks that every export of a module is reachable from exactly one of them
// (nothing lost in a move, nothing public twice) and that the subpaths are declared like the main
// entry.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const src = join(pkg, 'src');
const ENTRIES = ['index.ts', 'primitives.ts'];

const PRIMITIVES = [
  'b64uEncode', 'b64uDecodeStrict', 'decodeHeaderBytes', 'sha256Hex', 'decodeUtf8Strict', 'toWellFormed',
  'parseJsonObject', 'hasRepeatedMember',
  'hmacSha256', 'signCanonical', 'matchSignature',
  'hkdfExtract', 'hkdfExpand', 'hkdfSha256',
  'generateSessionKey', 'generateIv', 'generateResponseNonce', 'publicRandomBytes', 'wrapSessionKey', 'unwrapSessionKey', 'aesGcmEncrypt', 'aesGcmDecrypt', 'deriveResponseKey',
  'HPKE_IDS', 'HPKE_X25519_ENC_BYTES', 'HPKE_TAG_BYTES',
  'x25519PrivateKeyFromRaw', 'x25519PublicKeyFromRaw', 'x25519RawPublicKey', 'x25519RawPrivateKey',
  'hpkeDeriveKeyPair', 'hpkeEncap', 'hpkeDecap', 'hpkeKeySchedule', 'hpkeNonce', 'hpkeContextSeal', 'hpkeContextOpen', 'hpkeExport', 'hpkeSeal', 'hpkeOpen',
  'HpkeAead', 'HpkeAeadContext', 'HpkeKeyPair', 'HpkeContext',
  'splitTarget', 'canonicalQuery', 'trimContentType', 'requestAad', 'responseAad',
  'encodePayloadMeta', 'encodePayload', 'encodePayloadParts', 'decodePayload',
  'generateNonce',
  // The SM suite's framing (SPEC.md 6.6), over primitives the caller passes in.
  'sm2SpkiDer', 'smCanonicalRequestString', 'smCanonicalRejectionString', 'sm3Hex', 'smSignCanonical', 'smRequestAad', 'smResponseAad',
  'deriveSmResponseKey', 'sm4GcmSeal', 'sm4GcmOpen', 'wrapSmSessionKey', 'unwrapSmSessionKey', 'generateSmSessionKey',
  'formatKeyVersion', 'deviceKeySalt', 'deriveDeviceKeyWrap', 'deviceKeyAad',
];

function exportsOf(): Map<string, string[]> {
  const files = readdirSync(src).filter((f) => f.endsWith('.ts')).map((f) => join(src, f));
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2021, noEmit: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const out = new Map<string, string[]>();
  for (const file of files) {
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(file)!);
    out.set(file.slice(src.length + 1), symbol ? checker.getExportsOfModule(symbol).map((s) => s.name).sort() : []);
  }
  return out;
}

describe('entry points', () => {
  const all = exportsOf();
  const main = all.get('index.ts')!;
  const primitives = all.get('primitives.ts')!;

  test('every export of a module is in exactly one entry point', () => {
    const modules = [...all].filter(([file]) => !ENTRIES.includes(file));
    const declared = modules.flatMap(([, names]) => names).sort();
    assert.deepEqual([...main, ...primitives].sort(), declared);
    assert.deepEqual(main.filter((n) => primitives.includes(n)), []);
  });

  test('the primitives are these and no more (a new one is a deliberate choice)', () => {
    assert.deepEqual(primitives, [...PRIMITIVES].sort());
  });

  test('./primitives is exported under the same conditions as the main entry and ships in the package', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; files: string[] };
    assert.deepEqual(Object.keys(manifest.exports), ['.', './primitives', './errors']);
    assert.deepEqual(Object.keys(manifest.exports['./primitives']!), Object.keys(manifest.exports['.']!));
    assert.deepEqual(manifest.exports['./primitives'], {
      'wxseal-source': './src/primitives.ts',
      types: './dist/primitives.d.ts',
      default: './dist/primitives.js',
    });
    assert.ok(manifest.files.includes('dist') && manifest.files.includes('src'));
  });

  test('./errors is declared like the others, and its module imports nothing (a browser bundles it)', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    assert.deepEqual(manifest.exports['./errors'], {
      'wxseal-source': './src/errors.ts',
      types: './dist/errors.d.ts',
      default: './dist/errors.js',
    });
    const text = readFileSync(join(src, 'errors.ts'), 'utf8');
    assert.deepEqual(text.match(/^\s*(import|export)\b[^;]*\bfrom\s+['"][^'"]+['"]/gm) ?? [], []);
    assert.ok(!/\b(require|import)\s*\(/.test(text), 'no dynamic import');
    assert.ok(!/\bBuffer\b|\bprocess\./.test(text), 'no Node globals');
  });
});
