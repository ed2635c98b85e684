// `wxseal pay certs list|download|check`: the WeChat Pay platform certificate (平台证书) tools an
// operator needs without writing code, like the official SDKs' certificate downloaders. All the
// logic lives in @wxseal/wechatpay's lifecycle module; this file only reads files and prints.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

function readApiV3Key(a: { apiV3KeyEnv?: string; apiV3KeyFile?: string }): string {
  if (a.apiV3KeyFile !== undefined) return readFileSync(a.apiV3KeyFile, 'utf8').trim();
  const name = a.apiV3KeyEnv ?? 'WECHATPAY_APIV3_KEY';
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`APIv3 key: set $${name} or give --api-v3-key-file`);
  return v;
}

function days(d: number): string {
  return d < 0 ? `EXPIRED ${-d} days ago` : `${d} days left`;
}

/** Downloads, decrypts and verifies the platform certificates; writes wechatpay_<serial>.pem into `out`. */
export async function payCertsDownload(a: PayMerchantArgs & { out: string }, io: PayCertsIo): Promise<number> {
  const { downloadPlatformCertificates } = await import('@wxseal/wechatpay');
  const r = await downloadPlatformCertificates({
    mchid: a.mchid,
    serialNo: a.serialNo,
    privateKey: readFileSync(a.privateKey, 'utf8'),
    apiV3Key: readApiV3Key(a),
    ...(a.baseUrl !== undefined ? { baseUrl: a.baseUrl } : {}),
  });
  if (r.empty) {
    io.stdout('no platform certificates: this merchant uses the WeChat Pay public key (PUB_KEY_ID_…) only\n');
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
  io.stdout(`verified: decrypted with the APIv3 key; the answer was signed by ${r.signedBy ?? 'an unknown key'}\n`);
  return 0;
}

/** Lists the certificates (PEM files) in a directory with serial and expiry. */
export async function payCertsList(a: { dir: string; warnDays: number }, io: PayCertsIo): Promise<number> {
  const { parseCertificatePem, splitPemCertificates } = await import('@wxseal/wechatpay');
  let worst = 0;
  const files = readdirSync(a.dir).filter((f) => f.endsWith('.pem')).sort();
  for (const f of files) {
    const text = readFileSync(join(a.dir, f), 'utf8');
    for (const pem of splitPemCertificates(text)) {
      const problems: string[] = [];
      const c = parseCertificatePem(pem, f, problems);
      if (!c) continue;
      const left = Math.floor((c.validTo.getTime() - Date.now()) / 86_400_000);
      const flag = left < 0 ? '  ✗ expired' : left < 7 ? '  ✗ < 7 days' : left < a.warnDays ? `  ! < ${a.warnDays} days` : '';
      if (left < 7) worst = 1;
      io.stdout(`${c.serial}  ${c.validTo.toISOString()}  ${days(left)}${flag}  ${f}\n`);
    }
  }
  if (files.length === 0) io.stderr(`no .pem files in ${a.dir}\n`);
  return worst;
}

/** Checks merchant key/certificate and platform certificates; exit 1 when a problem is found. */
export async function payCertsCheck(
  a: { mchid?: string; serialNo?: string; privateKey?: string; merchantCert?: string; platformCert: string[]; publicKeyId?: string; publicKey?: string; warnDays: number; json: boolean },
  io: PayCertsIo,
): Promise<number> {
  const { checkCertificates } = await import('@wxseal/wechatpay');
  const report = checkCertificates({
    ...(a.mchid !== undefined ? { mchid: a.mchid } : {}),
    ...(a.serialNo !== undefined ? { serialNo: a.serialNo } : {}),
    ...(a.privateKey !== undefined ? { privateKeyPem: readFileSync(a.privateKey, 'utf8') } : {}),
    ...(a.merchantCert !== undefined ? { merchantCertificatePem: readFileSync(a.merchantCert, 'utf8') } : {}),
    platformCertificatePems: a.platformCert.map((f) => readFileSync(f, 'utf8')),
    ...(a.publicKeyId !== undefined && a.publicKey !== undefined ? { wechatPayPublicKey: { id: a.publicKeyId, pem: readFileSync(a.publicKey, 'utf8') } } : {}),
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
    io.stdout(report.ok ? 'OK\n' : 'NOT OK\n');
  }
  return report.ok ? 0 : 1;
}
