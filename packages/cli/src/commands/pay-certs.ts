// `wxseal pay certs list|download|check`: the WeChat Pay platform certificate (平台证书) tools an
// operator needs without writing code, like the official SDKs' certificate downloaders. All the
// logic lives in @wxseal/wechatpay's lifecycle module; this file only reads files and prints.
// Failures are one line `wxseal: CODE: message (--option)`: CliError for what the command line
// gave (missing files, nothing to check), the library's code for what WeChat Pay answered.
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DownloadedCertificates, VerificationKey } from '@wxseal/wechatpay';
import { CliError, readOptionFile } from '../errors.js';

export interface PayCertsIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface PayMerchantArgs {
  mchid: string;
  serialNo: string;
  privateKey: string;
  /** Name of the environment variable holding the APIv3 key (never a command-line value: it would land in shell history). */
  apiV3KeyEnv?: string;
  apiV3KeyFile?: string;
  baseUrl?: string;
}

/** `--public-key-id` and `--public-key` (the WeChat Pay public key, public key mode). */
export interface PayPublicKeyArgs {
  publicKeyId?: string;
  publicKey?: string;
}

function readApiV3Key(a: { apiV3KeyEnv?: string; apiV3KeyFile?: string }): string {
  if (a.apiV3KeyFile !== undefined) {
    const v = readOptionFile(a.apiV3KeyFile, '--api-v3-key-file', 'utf8').trim();
    if (v === '') throw new CliError('CLI_INVALID_INPUT', `${a.apiV3KeyFile} is empty`, '--api-v3-key-file');
    return v;
  }
  const name = a.apiV3KeyEnv ?? 'WECHATPAY_APIV3_KEY';
  const v = process.env[name];
  if (v === undefined || v === '') throw new CliError('CLI_NOT_CONFIGURED', `no APIv3 key: $${name} is not set (or give --api-v3-key-file)`, '--api-v3-key-env');
  return v;
}

/** The PEM of a merchant private key file, checked to be one (a wrong file is named, not a stack trace later). */
function readPrivateKey(path: string): string {
  const pem = readOptionFile(path, '--private-key', 'utf8');
  try {
    if (createPrivateKey(pem).type !== 'private') throw new Error('not private');
  } catch {
    throw new CliError('CLI_INVALID_INPUT', `${path} is not a readable PEM private key`, '--private-key');
  }
  return pem;
}

/** Both options or neither; the id must be a PUB_KEY_ID_… . */
function readPublicKeyOptions(a: PayPublicKeyArgs): { id: string; pem: string } | undefined {
  if (a.publicKeyId === undefined && a.publicKey === undefined) return undefined;
  if (a.publicKeyId === undefined) throw new CliError('CLI_USAGE', '--public-key needs --public-key-id (the PUB_KEY_ID_… shown beside the key on the merchant platform)', '--public-key-id');
  if (a.publicKey === undefined) throw new CliError('CLI_USAGE', '--public-key-id needs --public-key (the pub_key.pem file)', '--public-key');
  if (!/^PUB_KEY_ID_[0-9A-Za-z]{1,64}$/.test(a.publicKeyId)) throw new CliError('CLI_INVALID_INPUT', 'a WeChat Pay public key id looks like PUB_KEY_ID_ followed by digits', '--public-key-id');
  return { id: a.publicKeyId, pem: readOptionFile(a.publicKey, '--public-key', 'utf8') };
}

function days(d: number): string {
  return d < 0 ? `EXPIRED ${-d} days ago` : `${d} days left`;
}

/**
 * Downloads, decrypts and verifies the platform certificates; writes wechatpay_<serial>.pem into
 * `out`. "No certificates" (a public-key-only merchant) is reported only when WeChat Pay's answer
 * verifies: with the public key (`--public-key-id`/`--public-key`) for such a merchant. Exit 1
 * when the download fails or the answer is not WeChat Pay's.
 */
export async function payCertsDownload(a: PayMerchantArgs & PayPublicKeyArgs & { out: string }, io: PayCertsIo): Promise<number> {
  const { downloadPlatformCertificates, isCertificateLifecycleError, wechatPayPublicKey } = await import('@wxseal/wechatpay');
  const privateKey = readPrivateKey(a.privateKey);
  const apiV3Key = readApiV3Key(a);
  const pub = readPublicKeyOptions(a);
  let trustedKeys: VerificationKey[];
  try {
    trustedKeys = pub === undefined ? [] : [wechatPayPublicKey(pub.id, pub.pem)];
  } catch {
    throw new CliError('CLI_INVALID_INPUT', `${a.publicKey} is not a readable RSA public key`, '--public-key');
  }
  let r: DownloadedCertificates;
  try {
    r = await downloadPlatformCertificates({
      mchid: a.mchid,
      serialNo: a.serialNo,
      privateKey,
      apiV3Key,
      trustedKeys,
      ...(a.baseUrl !== undefined ? { baseUrl: a.baseUrl } : {}),
    });
  } catch (e) {
    // The library's error in its display form (`CODE: message`): one line, and nothing secret in it.
    if (isCertificateLifecycleError(e)) {
      io.stderr(`wxseal: ${e.toString().replace(/\s*\n\s*/g, ' ')}\n`);
      return 1;
    }
    throw e;
  }
  if (r.empty) {
    io.stdout(`no platform certificates: WeChat Pay says this merchant has none (answer signed by ${r.signedBy}, verified); it uses the WeChat Pay public key only\n`);
    return 0;
  }
  mkdirSync(a.out, { recursive: true });
  const now = Date.now();
  for (const c of r.certificates) {
    const file = join(a.out, `wechatpay_${c.serial}.pem`);
    writeFileSync(file, c.pem.endsWith('\n') ? c.pem : `${c.pem}\n`);
    const left = Math.floor((c.validTo.getTime() - now) / 86_400_000);
    io.stdout(`${c.serial}  valid ${c.validFrom.toISOString()} → ${c.validTo.toISOString()} (${days(left)})  ${file}\n`);
  }
  io.stdout(`verified: decrypted with the APIv3 key; the answer was signed by ${r.signedBy}\n`);
  return 0;
}

/** Why a .pem file holds no certificate: the PEM labels it does hold (never their contents). */
function notACertificate(text: string): string {
  const labels = [...new Set([...text.matchAll(/-----BEGIN ([A-Z0-9 ]{1,40})-----/g)].map((m) => m[1]))];
  return labels.length > 0 ? `no certificate (holds ${labels.join(', ')})` : 'no certificate (not PEM: no -----BEGIN CERTIFICATE----- block)';
}

function readDirectory(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError('CLI_FILE_NOT_FOUND', `no such directory: ${dir}`, '--dir');
    if (code === 'ENOTDIR') throw new CliError('CLI_FILE_UNREADABLE', `${dir} is not a directory`, '--dir');
    throw new CliError('CLI_FILE_UNREADABLE', `cannot read ${dir}: ${code ?? (err as Error).message}`, '--dir');
  }
}

/**
 * Lists the certificates (PEM files) in a directory with serial and expiry; files and blocks
 * that hold no usable certificate are named on stderr with the reason. Exit 1 when one has under
 * 7 days; CLI_INVALID_INPUT (exit 2) when the directory holds no certificate at all.
 */
export async function payCertsList(a: { dir: string; warnDays: number }, io: PayCertsIo): Promise<number> {
  const { parseCertificatePem, splitPemCertificates } = await import('@wxseal/wechatpay');
  const files = readDirectory(a.dir).filter((f) => f.endsWith('.pem')).sort();
  let worst = 0;
  let found = 0;
  const skipped: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readOptionFile(join(a.dir, f), '--dir', 'utf8');
    } catch (err) {
      skipped.push(`${f}: ${err instanceof CliError ? err.message : 'unreadable'}`);
      continue;
    }
    const pems = splitPemCertificates(text);
    if (pems.length === 0) {
      skipped.push(`${f}: ${notACertificate(text)}`);
      continue;
    }
    for (const [i, pem] of pems.entries()) {
      const problems: string[] = [];
      const c = parseCertificatePem(pem, 'certificate', problems);
      if (!c) {
        skipped.push(`${f}${pems.length > 1 ? ` (block ${i + 1})` : ''}: ${problems[0] ?? 'unreadable certificate'}`);
        continue;
      }
      found++;
      const left = Math.floor((c.validTo.getTime() - Date.now()) / 86_400_000);
      const flag = left < 0 ? '  ✗ expired' : left < 7 ? '  ✗ < 7 days' : left < a.warnDays ? `  ! < ${a.warnDays} days` : '';
      if (left < 7) worst = 1;
      io.stdout(`${c.serial}  ${c.validTo.toISOString()}  ${days(left)}${flag}  ${f}\n`);
    }
  }
  for (const s of skipped) io.stderr(`skipped ${s}\n`);
  if (found === 0) {
    const what = files.length === 0 ? 'no .pem files' : `${files.length} .pem file${files.length === 1 ? '' : 's'}, none holds a certificate`;
    throw new CliError('CLI_INVALID_INPUT', `no certificate in ${a.dir} (${what})`, '--dir');
  }
  return worst;
}

export interface PayCertsCheckArgs extends PayPublicKeyArgs {
  mchid?: string;
  serialNo?: string;
  privateKey?: string;
  merchantCert?: string;
  platformCert: string[];
  warnDays: number;
  json: boolean;
}

/**
 * Checks merchant key/certificate, platform certificates and the WeChat Pay public key. Exit 1
 * when a problem is found; CLI_NOTHING_TO_CHECK (exit 2) when the options give nothing to check
 * (a cron job or CI step must not pass by checking nothing). On success it says what it checked.
 */
export async function payCertsCheck(a: PayCertsCheckArgs, io: PayCertsIo): Promise<number> {
  const pub = readPublicKeyOptions(a);
  if (a.merchantCert === undefined && a.platformCert.length === 0 && pub === undefined) {
    const alone = a.privateKey !== undefined ? '--private-key' : a.serialNo !== undefined ? '--serial-no' : undefined;
    throw new CliError(
      'CLI_NOTHING_TO_CHECK',
      `${alone === undefined ? 'nothing to check' : `${alone} alone checks nothing`}: give --merchant-cert (with --private-key and --serial-no to match it), --platform-cert FILE (repeatable) or --public-key-id with --public-key`,
      alone,
    );
  }
  const { checkCertificates } = await import('@wxseal/wechatpay');
  const report = checkCertificates({
    ...(a.mchid !== undefined ? { mchid: a.mchid } : {}),
    ...(a.serialNo !== undefined ? { serialNo: a.serialNo } : {}),
    ...(a.privateKey !== undefined ? { privateKeyPem: readOptionFile(a.privateKey, '--private-key', 'utf8') } : {}),
    ...(a.merchantCert !== undefined ? { merchantCertificatePem: readOptionFile(a.merchantCert, '--merchant-cert', 'utf8') } : {}),
    platformCertificatePems: a.platformCert.map((f) => readOptionFile(f, '--platform-cert', 'utf8')),
    ...(pub !== undefined ? { wechatPayPublicKey: pub } : {}),
    warnDays: a.warnDays,
  });
  if (a.json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    if (report.merchant) {
      const m = report.merchant;
      io.stdout(`merchant    ${m.serial}  ${days(m.daysLeft)}  key matches: ${m.keyMatchesCertificate ?? 'not checked'}  serial as configured: ${m.serialMatchesConfig ?? 'not checked'}\n`);
    }
    for (const p of report.platform) io.stdout(`platform    ${p.serial}  ${days(p.daysLeft)}\n`);
    if (report.wechatPayPublicKeyId) io.stdout(`public key  ${report.wechatPayPublicKeyId}\n`);
    for (const w of report.warnings) io.stdout(`warning: ${w}\n`);
    for (const p of report.problems) io.stdout(`PROBLEM: ${p}\n`);
    io.stdout(report.ok ? `OK: ${report.checked.join('; ')}\n` : `NOT OK: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}\n`);
  }
  return report.ok ? 0 : 1;
}
