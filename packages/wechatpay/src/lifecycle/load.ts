// Reading a merchant's material from its sources (files, environment, secret store) and validating
// it into a candidate; the fingerprint tells a reload that changed nothing from one that did.
import { createHash } from 'node:crypto';
import type { MerchantConfig } from './config.js';
import { describeError } from './errors.js';
import { describeSource, readSource, type SecretSource, type SecretStore } from './sources.js';
import { splitPemCertificates, validateMerchantCandidate, type MerchantCandidate } from './validate.js';

/** Reads every source of the merchant and validates the result; every problem is collected. */
export async function readMerchantCandidate(c: MerchantConfig, store: SecretStore | undefined, nowMs: number): Promise<{ candidate?: MerchantCandidate; problems: string[] }> {
  const problems: string[] = [];
  const read = async (src: SecretSource | undefined, what: string): Promise<string | undefined> => {
    if (src === undefined) return undefined;
    try {
      return await readSource(src, store, what);
    } catch (e) {
      problems.push(describeError(e));
      return undefined;
    }
  };
  const [privateKeyPem, certificatePem, apiV3Key, serialText, publicKeyPem, ...pinnedTexts] = await Promise.all([
    read(c.privateKey, 'merchant private key'),
    read(c.certificate, 'merchant certificate'),
    read(c.apiV3Key, 'APIv3 key'),
    typeof c.serialNo === 'string' || c.serialNo === undefined ? Promise.resolve(c.serialNo) : read(c.serialNo, 'serial_no'),
    read(c.wechatPayPublicKey?.key, 'WeChat Pay public key'),
    ...(c.platformCertificates ?? []).map((src, i) => read(src, `pinned platform certificates #${i + 1} (${describeSource(src)})`)),
  ]);
  if (problems.length > 0 || privateKeyPem === undefined || apiV3Key === undefined) return { problems };
  const pinnedPems: string[] = [];
  for (const [i, t] of pinnedTexts.entries()) {
    const pems = splitPemCertificates(t ?? '');
    if (pems.length === 0) problems.push(`pinned platform certificates #${i + 1} hold no PEM certificate`);
    pinnedPems.push(...pems);
  }
  if (problems.length > 0) return { problems };
  return validateMerchantCandidate({
    mchid: c.mchid,
    privateKeyPem,
    apiV3Key: apiV3Key.trim(),
    ...(serialText === undefined ? {} : { serialNo: serialText }),
    ...(certificatePem === undefined ? {} : { certificatePem }),
    ...(publicKeyPem === undefined || c.wechatPayPublicKey === undefined ? {} : { wechatPayPublicKey: { id: c.wechatPayPublicKey.id.trim(), pem: publicKeyPem } }),
    platformCertificatePems: pinnedPems,
    nowMs,
  });
}

/** A digest of everything a candidate holds (keys included): equal digests, nothing to swap. */
export function candidateFingerprint(c: MerchantCandidate): string {
  const h = createHash('sha256');
  h.update(c.merchantSerialNo).update('\0');
  h.update(c.privateKey.export({ type: 'pkcs8', format: 'der' })).update('\0');
  h.update(c.merchantCertificate?.pem ?? '').update('\0');
  h.update(c.apiV3Key ?? '').update('\0');
  h.update(c.publicKey ? `${c.publicKey.id}:${c.publicKey.publicKey.export({ type: 'spki', format: 'pem' }).toString()}` : '').update('\0');
  for (const p of c.pinned) h.update(p.serial).update(',');
  return h.digest('hex');
}
