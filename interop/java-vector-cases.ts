// How many cases the Java vector checker must report as passed, computed from the vector files: one
// unit per case. There is one checker for the files the library covers, the library's VectorTests
// (java/test), run by the Java test runner (tests/e2e/java-library.test.ts); the interop harness's
// `check` (interop/java Main, interop/interop-java.test.ts) runs it too, then the device files of
// SPEC 15, which only the harness implements, in the same tally.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The vectors are JSON of a dozen shapes (SPEC section 13, 15); typing each here would restate the
// vector formats in a test helper.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped parsed JSON, see above
type Vector = any;

function readJson(vectorsDir: string, file: string): Vector {
  return JSON.parse(readFileSync(join(vectorsDir, file), 'utf8'));
}

/** The length of a non-empty array of cases (a missing or empty one would make a count vacuous). */
function count(a: unknown, what: string): number {
  assert.ok(Array.isArray(a) && a.length > 0, `${what} must be a non-empty array`);
  return (a as unknown[]).length;
}

/** One unit for an object checked as a whole. */
function one(o: unknown, what: string): number {
  assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `${what} must be an object`);
  return 1;
}

/**
 * The units of VectorTests: every case of canonical-query, sign, rsa-oaep, seal-request, response,
 * reject, x25519 and sm (SPEC 13; devices excluded).
 */
export function libraryVectorCases(vectorsDir: string): number {
  const read = (file: string): Vector => readJson(vectorsDir, file);
  const rsa = read('rsa-oaep.json');
  const response = read('response.json');
  const x = read('x25519.json');
  const sm = read('sm.json');
  count(rsa.keys, 'rsa-oaep.json keys');
  return (
    count(read('canonical-query.json').cases, 'canonical-query.json cases') +
    count(read('sign.json').cases, 'sign.json cases') +
    (rsa.keys as Array<{ cases: unknown }>).reduce((n, k, i) => n + count(k.cases, `rsa-oaep.json keys[${i}].cases`), 0) +
    count(read('seal-request.json').cases, 'seal-request.json cases') +
    count(response.sealed, 'response.json sealed') +
    count(response.signed, 'response.json signed') +
    count(response.mustNotOpen, 'response.json mustNotOpen') +
    count(response.signedRejections, 'response.json signedRejections') +
    count(response.rejectionMustNotVerify, 'response.json rejectionMustNotVerify') +
    count(read('reject.json').cases, 'reject.json cases') +
    // SPEC 6.5
    count(x.wraps, 'x25519.json wraps') +
    count(x.sealed, 'x25519.json sealed') +
    count(x.unwrapFailures, 'x25519.json unwrapFailures') +
    // SPEC 6.6: one unit per primitive case, the server key, each wrap, the other key's wrap, each
    // sealed case, the signed rejection, each unwrap failure and each forged signature
    count(sm.primitives?.sm3, 'sm.json primitives.sm3') +
    count(sm.primitives?.hmacSm3, 'sm.json primitives.hmacSm3') +
    count(sm.primitives?.hkdfSm3, 'sm.json primitives.hkdfSm3') +
    count(sm.primitives?.sm4Gcm, 'sm.json primitives.sm4Gcm') +
    one(sm.serverKey, 'sm.json serverKey') +
    count(sm.wraps, 'sm.json wraps') +
    one(sm.otherKeyWrap, 'sm.json otherKeyWrap') +
    count(sm.sealed, 'sm.json sealed') +
    one(sm.signedRejection, 'sm.json signedRejection') +
    count(sm.unwrapFailures, 'sm.json unwrapFailures') +
    count(sm.forgedSignatures, 'sm.json forgedSignatures')
  );
}

/** The units the interop harness adds for the device files (SPEC 15). */
export function deviceVectorCases(vectorsDir: string): number {
  const activation = readJson(vectorsDir, 'device-activation.json');
  const deviceRequest = readJson(vectorsDir, 'device-request.json');
  return (
    count(activation.activation, 'device-activation.json activation') +
    count(activation.delivery, 'device-activation.json delivery') +
    count(activation.verify?.cases, 'device-activation.json verify.cases') +
    count(activation.mustNotOpen, 'device-activation.json mustNotOpen') +
    count(deviceRequest.cases, 'device-request.json cases') +
    one(deviceRequest.rotation, 'device-request.json rotation') // one exchange, checked as one case
  );
}
