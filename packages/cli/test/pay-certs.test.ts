// `wxseal pay certs download|list|check` against the offline mock and plain files: a check with
// nothing to check fails, "no platform certificates" needs WeChat Pay's verified answer (never a
// stranger's 404), files named by options fail in one line naming the option, and a folder
// without certificates is an error that says what was skipped and why.
// The command functions run in-process (captured output); a few runs go through `main` in a child
// process (from the TypeScript sources) for the exit status and the one-line stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createMockPayMerchant, startMockWechat, type MockPayMerchant, type MockWechat } from '@wxseal/mock-wechat';
import { payCertsCheck, payCertsDownload, payCertsList, type PayCertsIo } from '../src/commands/pay-certs.js';
import { CliError, type CliErrorCode } from '../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'wxseal-pay-certs-'));

interface Captured extends PayCertsIo {
  readonly out: string;
  readonly err: string;
}
function capture(): Captured {
  let out = '';
  let err = '';
  return {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

const cliError = (code: CliErrorCode, option?: string, message?: RegExp) => (e: unknown) =>
  e instanceof CliError && e.code === code && e.option === option && (message === undefined || message.test(e.message));

/** `wxseal ARGS` through main() from the sources, in a child process (bounded, killed on timeout). */
function wxseal(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = "const { main } = await import('@wxseal/cli'); process.exitCode = await main(['node', 'wxseal', ...process.argv.slice(1)]);";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', '--input-type=module', '-e', script, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? 99 : (code ?? 99), stdout, stderr });
    });
  });
}

let mock: MockWechat;
let certMerchant: MockPayMerchant;
let pkMerchant: MockPayMerchant;
let plain: Server;
let plainUrl = '';
const files = {
  certKey: join(dir, 'cert-merchant-key.pem'),
  certCert: join(dir, 'cert-merchant-cert.pem'),
  pkKey: join(dir, 'pk-merchant-key.pem'),
  pubKey: join(dir, 'pub_key.pem'),
  apiV3Key: join(dir, 'apiv3.txt'),
  pkApiV3Key: join(dir, 'pk-apiv3.txt'),
};

before(async () => {
  [certMerchant, pkMerchant] = await Promise.all([createMockPayMerchant(), createMockPayMerchant({ mode: 'public-key' })]);
  mock = await startMockWechat({ payMerchants: [certMerchant.config, pkMerchant.config] });
  writeFileSync(files.certKey, certMerchant.client.privateKeyPem, { mode: 0o600 });
  writeFileSync(files.certCert, certMerchant.client.merchantCertificatePem);
  writeFileSync(files.pkKey, pkMerchant.client.privateKeyPem, { mode: 0o600 });
  writeFileSync(files.pubKey, mock.payPublicKey().pem);
  writeFileSync(files.apiV3Key, `${certMerchant.client.apiV3Key}\n`, { mode: 0o600 });
  writeFileSync(files.pkApiV3Key, pkMerchant.client.apiV3Key, { mode: 0o600 });
  // A server that is not WeChat Pay: what a wrong --base-url or a proxy answers.
  plain = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('File not found'));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
});

after(async () => {
  await mock?.close();
  if (plain) await new Promise<void>((r) => plain.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const certArgs = () => ({ mchid: certMerchant.client.mchid, serialNo: certMerchant.client.merchantSerialNo, privateKey: files.certKey, apiV3KeyFile: files.apiV3Key, baseUrl: mock.url });
const pkArgs = () => ({ mchid: pkMerchant.client.mchid, serialNo: pkMerchant.client.merchantSerialNo, privateKey: files.pkKey, apiV3KeyFile: files.pkApiV3Key, baseUrl: mock.url });

describe('pay certs download: "no platform certificates" only from WeChat Pay\'s verified answer', () => {
  test('a certificate merchant: the certificates are written, verified', async () => {
    const out = join(dir, 'downloaded');
    const io = capture();
    assert.equal(await payCertsDownload({ ...certArgs(), out }, io), 0, io.err);
    const serial = mock.payPlatformSerial();
    assert.deepEqual(readdirSync(out), [`wechatpay_${serial}.pem`]);
    assert.match(io.out, new RegExp(`signed by ${serial}`));
  });

  test('a plain server\'s 404 (wrong --base-url, a proxy) is an error, never "public key only"', async () => {
    const io = capture();
    assert.equal(await payCertsDownload({ ...certArgs(), baseUrl: plainUrl, out: join(dir, 'never') }, io), 1);
    assert.doesNotMatch(io.out, /no platform certificates|public key only/);
    assert.match(io.err, /^wxseal: WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER: HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/v3\/certificates carries no WeChat Pay signature/);
    assert.equal(io.err.trimEnd().split('\n').length, 1, 'one line');
  });

  test('a public-key-only merchant: verified with --public-key-id/--public-key; without them an error naming the key', async () => {
    const { id } = mock.payPublicKey();
    const ok = capture();
    assert.equal(await payCertsDownload({ ...pkArgs(), publicKeyId: id, publicKey: files.pubKey, out: join(dir, 'pk') }, ok), 0, ok.err);
    assert.match(ok.out, new RegExp(`^no platform certificates: .*signed by ${id}, verified.*public key only`));
    const bare = capture();
    assert.equal(await payCertsDownload({ ...pkArgs(), out: join(dir, 'pk') }, bare), 1);
    assert.match(bare.err, new RegExp(`^wxseal: WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER: .*signed by ${id}, a WeChat Pay public key not given`));
    assert.equal(bare.out, '');
  });

  test('file options fail with a code and the option; the public key options come in pairs', async () => {
    const out = join(dir, 'never');
    await assert.rejects(payCertsDownload({ ...certArgs(), privateKey: '/missing.pem', out }, capture()), cliError('CLI_FILE_NOT_FOUND', '--private-key', /\/missing\.pem/));
    await assert.rejects(payCertsDownload({ ...certArgs(), privateKey: files.certCert, out }, capture()), cliError('CLI_INVALID_INPUT', '--private-key'));
    await assert.rejects(payCertsDownload({ ...certArgs(), apiV3KeyFile: '/missing-apiv3.txt', out }, capture()), cliError('CLI_FILE_NOT_FOUND', '--api-v3-key-file'));
    await assert.rejects(payCertsDownload({ ...pkArgs(), publicKeyId: mock.payPublicKey().id, publicKey: '/missing-pub.pem', out }, capture()), cliError('CLI_FILE_NOT_FOUND', '--public-key'));
    await assert.rejects(payCertsDownload({ ...pkArgs(), publicKey: files.pubKey, out }, capture()), cliError('CLI_USAGE', '--public-key-id'));
    const { apiV3KeyFile: _ignored, ...noKeyFile } = certArgs();
    await assert.rejects(payCertsDownload({ ...noKeyFile, apiV3KeyEnv: 'WXSEAL_TEST_NO_SUCH_VARIABLE', out }, capture()), cliError('CLI_NOT_CONFIGURED', '--api-v3-key-env'));
  });
});

describe('pay certs check: nothing to check is a failure; success says what was checked', () => {
  let platformFile = '';
  before(() => {
    platformFile = join(dir, 'platform.pem');
    writeFileSync(platformFile, Object.values(mock.payPlatformCertificates(certMerchant.client.mchid)).join('\n'));
  });
  const base = { platformCert: [] as string[], warnDays: 30, json: false };

  test('no options, --private-key alone, --serial-no alone: CLI_NOTHING_TO_CHECK', async () => {
    await assert.rejects(payCertsCheck(base, capture()), cliError('CLI_NOTHING_TO_CHECK', undefined, /^nothing to check: give --merchant-cert/));
    await assert.rejects(payCertsCheck({ ...base, privateKey: files.certKey }, capture()), cliError('CLI_NOTHING_TO_CHECK', '--private-key', /--private-key alone checks nothing/));
    await assert.rejects(payCertsCheck({ ...base, serialNo: 'ABC', mchid: '1' }, capture()), cliError('CLI_NOTHING_TO_CHECK', '--serial-no'));
  });

  test('success names the checks: key matches certificate, serial, platform certificates with the nearest expiry', async () => {
    const io = capture();
    const code = await payCertsCheck(
      { ...base, mchid: certMerchant.client.mchid, serialNo: certMerchant.client.merchantSerialNo, privateKey: files.certKey, merchantCert: files.certCert, platformCert: [platformFile] },
      io,
    );
    assert.equal(code, 0, io.out);
    const last = io.out.trimEnd().split('\n').at(-1) ?? '';
    const serial = certMerchant.client.merchantSerialNo;
    assert.match(last, new RegExp(`^OK: merchant certificate ${serial} valid until .*; merchant private key matches merchant certificate ${serial}; serial_no ${serial} is the merchant certificate's serial; 1 platform certificate valid, nearest expiry \\d{4}-\\d\\d-\\d\\dT`));
  });

  test('the public key alone is checked and said so; a mismatching key is NOT OK (exit 1)', async () => {
    const { id } = mock.payPublicKey();
    const io = capture();
    assert.equal(await payCertsCheck({ ...base, publicKeyId: id, publicKey: files.pubKey }, io), 0, io.out);
    assert.match(io.out, new RegExp(`OK: WeChat Pay public key ${id} is a readable RSA-2048 key\\n$`));
    const bad = capture();
    assert.equal(await payCertsCheck({ ...base, privateKey: files.pkKey, merchantCert: files.certCert }, bad), 1);
    assert.match(bad.out, /PROBLEM: merchant private key does not match[\s\S]*NOT OK: 1 problem\n$/);
  });

  test('every file option fails with a code and its option', async () => {
    await assert.rejects(payCertsCheck({ ...base, privateKey: '/missing.pem', merchantCert: files.certCert }, capture()), cliError('CLI_FILE_NOT_FOUND', '--private-key', /no such file: \/missing\.pem/));
    await assert.rejects(payCertsCheck({ ...base, merchantCert: '/missing-cert.pem' }, capture()), cliError('CLI_FILE_NOT_FOUND', '--merchant-cert'));
    await assert.rejects(payCertsCheck({ ...base, platformCert: [platformFile, '/missing-platform.pem'] }, capture()), cliError('CLI_FILE_NOT_FOUND', '--platform-cert'));
    await assert.rejects(payCertsCheck({ ...base, publicKeyId: mock.payPublicKey().id, publicKey: dir }, capture()), cliError('CLI_FILE_UNREADABLE', '--public-key', /is a directory/));
  });
});

describe('pay certs list: skipped files are named, a folder without certificates fails', () => {
  test('non-certificate PEM files only: each skipped with its reason, CLI_INVALID_INPUT', async () => {
    const d = join(dir, 'keys-only');
    mkdirSync(d);
    writeFileSync(join(d, 'apiclient_key.pem'), certMerchant.client.privateKeyPem);
    writeFileSync(join(d, 'pub_key.pem'), mock.payPublicKey().pem);
    writeFileSync(join(d, 'notes.pem'), 'not a PEM at all\n');
    writeFileSync(join(d, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    writeFileSync(join(d, 'README.txt'), 'ignored: not .pem');
    const io = capture();
    await assert.rejects(payCertsList({ dir: d, warnDays: 30 }, io), cliError('CLI_INVALID_INPUT', '--dir', /no certificate in .*\(4 \.pem files, none holds a certificate\)/));
    assert.equal(io.out, '');
    assert.deepEqual(io.err.trimEnd().split('\n'), [
      'skipped apiclient_key.pem: no certificate (holds PRIVATE KEY)',
      'skipped broken.pem: certificate is not a readable PEM X.509 certificate',
      'skipped notes.pem: no certificate (not PEM: no -----BEGIN CERTIFICATE----- block)',
      'skipped pub_key.pem: no certificate (holds PUBLIC KEY)',
    ]);
  });

  test('certificates beside other files: listed, the others named on stderr, exit 0', async () => {
    const d = join(dir, 'mixed');
    mkdirSync(d);
    const serial = mock.payPlatformSerial();
    writeFileSync(join(d, `wechatpay_${serial}.pem`), mock.payPlatformCertificates(certMerchant.client.mchid)[serial]!);
    writeFileSync(join(d, 'apiclient_key.pem'), certMerchant.client.privateKeyPem);
    const io = capture();
    assert.equal(await payCertsList({ dir: d, warnDays: 30 }, io), 0);
    assert.match(io.out, new RegExp(`^${serial}  .*days left  wechatpay_${serial}\\.pem\\n$`));
    assert.equal(io.err, 'skipped apiclient_key.pem: no certificate (holds PRIVATE KEY)\n');
  });

  test('an empty or missing folder fails with its option', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(payCertsList({ dir: empty, warnDays: 30 }, capture()), cliError('CLI_INVALID_INPUT', '--dir', /no \.pem files/));
    await assert.rejects(payCertsList({ dir: join(dir, 'no-such-dir'), warnDays: 30 }, capture()), cliError('CLI_FILE_NOT_FOUND', '--dir'));
  });
});

describe('through main (child process): exit status and one line on stderr', () => {
  test('check with no options / --private-key alone → exit 2, CLI_NOTHING_TO_CHECK, no OK', async () => {
    const none = await wxseal(['pay', 'certs', 'check']);
    assert.equal(none.code, 2, none.stderr);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^wxseal: CLI_NOTHING_TO_CHECK: nothing to check: .*\n$/);
    const alone = await wxseal(['pay', 'certs', 'check', '--private-key', files.certKey]);
    assert.equal(alone.code, 2, alone.stderr);
    assert.doesNotMatch(alone.stdout, /OK/);
    assert.match(alone.stderr, /^wxseal: CLI_NOTHING_TO_CHECK: --private-key alone checks nothing: .* \(--private-key\)\n$/);
  });

  test('check --private-key /missing.pem → one line naming the option, not a bare ENOENT', async () => {
    const r = await wxseal(['pay', 'certs', 'check', '--private-key', '/missing.pem', '--merchant-cert', files.certCert]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'wxseal: CLI_FILE_NOT_FOUND: no such file: /missing.pem (--private-key)\n');
  });

  test('download from a plain 404 server → exit 1 with the code; list over keys only → exit 2', async () => {
    const dl = await wxseal(
      ['pay', 'certs', 'download', '--mchid', certMerchant.client.mchid, '--serial-no', certMerchant.client.merchantSerialNo, '--private-key', files.certKey, '--api-v3-key-file', files.apiV3Key, '--base-url', plainUrl, '-o', join(dir, 'never')],
    );
    assert.equal(dl.code, 1, dl.stdout + dl.stderr);
    assert.equal(dl.stdout, '');
    assert.match(dl.stderr, /^wxseal: WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER: [^\n]*\n$/);
    const ls = await wxseal(['pay', 'certs', 'list', '--dir', join(dir, 'keys-only')]);
    assert.equal(ls.code, 2, ls.stderr);
    assert.match(ls.stderr, /skipped apiclient_key\.pem: no certificate \(holds PRIVATE KEY\)\n[\s\S]*wxseal: CLI_INVALID_INPUT: no certificate in .* \(--dir\)\n$/);
  });
});
