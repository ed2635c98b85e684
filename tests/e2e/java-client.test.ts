// The Java interop harness (interop/java, running on the Java library's protocol core in java/src)
// acting as the client of the Node server: interoperability on the wire, in the direction the
// vectors cannot show.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeKeys, startBackend } from './helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const keys = makeKeys('bff-java');
const classes = mkdtempSync(join(tmpdir(), 'wxseal-java-client-'));
let backend: Awaited<ReturnType<typeof startBackend>>;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? sources(join(dir, n)) : n.endsWith('.java') ? [join(dir, n)] : []));
}

// The harness compiles together with the library's sources (its servlet filter aside, which needs the
// Servlet API) and the library's vector checker (java/test VectorTests), which its `check` runs;
// Bouncy Castle is on the class path for the library's SM suite (SPEC 6.6).
const bcprovJar = process.env.BCPROV_JAR ?? '/usr/share/java/bcprov.jar';
const classpath = `${classes}:${bcprovJar}`;

before(async () => {
  try {
    const library = sources(join(root, 'java/src')).filter((f) => !f.includes('/servlet/'));
    const vectorTests = join(root, 'java/test/dev/wxseal/test/VectorTests.java');
    execFileSync('javac', ['--release', '17', '-encoding', 'UTF-8', '-cp', bcprovJar, '-d', classes, ...library, vectorTests, ...sources(join(root, 'interop/java/src'))], { stdio: 'pipe' });
  } catch (err) {
    const e = err as { message: string; stderr?: Buffer };
    throw new Error(`javac and ${bcprovJar} are required for the interop tests (npm run services installs them): ${e.message}\n${e.stderr ?? ''}`);
  }
  backend = await startBackend(keys);
});
after(() => backend?.app.close());

function javaCall(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const pem = join(classes, 'server-public.pem');
  writeFileSync(pem, keys.publicKeyPem);
  return new Promise((resolve) => {
    execFile('java', ['-cp', classpath, 'dev.wxseal.interop.Main', 'call', backend.url, ...args.slice(0, 2), keys.keyId, keys.secret.toString('base64url'), keys.serverKeyId, pem, ...args.slice(2)], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('the Java client seals a request the Node server accepts, and opens the Node server\'s sealed answer', async () => {
  const r = await javaCall(['POST', '/api/echo', '{"from":"java","n":7}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { method: 'POST', identity: {}, mode: 'sealed', body: { from: 'java', n: 7 } });
});

test('a sealed GET with a query from Java is verified by Node (canonical query, path as sent)', async () => {
  const r = await javaCall(['GET', '/api/echo?b=2&a=1', '{}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).method, 'GET');
});
