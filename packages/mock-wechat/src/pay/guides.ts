// 服务人员 (smart guide) registration and query, the mock's endpoints that carry sensitive fields
// ("敏感信息加解密") both ways:
//   POST /v3/smartguide/guides  name and mobile arrive encrypted under the WeChat Pay key named by the
//                               request's Wechatpay-Serial; the mock decrypts them with that key's
//                               private half (a serial it does not hold, or a field that does not
//                               decrypt, is 400 PARAM_ERROR) and answers { guide_id }.
//   GET  /v3/smartguide/guides  answers the store's guides with name and mobile encrypted to the
//                               merchant's own key (its API certificate), as WeChat Pay does.
// RSA merchants: RSAES-OAEP with SHA-1 / MGF1-SHA-1. 国密 merchants (SM2 keys): SM2 encryption,
// ciphertext C1C3C2_ASN1 (GM/T 0009 DER), base64 — pay.weixin.qq.com/docs/merchant/development/shangmi/guide.html § 3.
// Written here on node:crypto and @wxseal/gm, apart from @wxseal/wechatpay's own implementation.
import { constants, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { sm2CiphertextFromAsn1, sm2CiphertextToAsn1, sm2Decrypt, sm2Encrypt, sm2PrivateKeyFromDer, sm2PublicKeyFromDer } from '@wxseal/gm';
import { paramError, payFail } from './errors.js';
import { parseJsonBody } from './store.js';

/** Decrypts with RSA-OAEP (RSA key) or SM2 C1C3C2_ASN1 (SM2 key); undefined when it does not decrypt. */
export function mockDecryptSensitive(ciphertextB64: string, key: KeyObject, sm2: boolean): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertextB64) || ciphertextB64.length % 4 !== 0 || ciphertextB64.length > 8192) return undefined;
  const data = Buffer.from(ciphertextB64, 'base64');
  try {
    const plain = sm2
      ? sm2Decrypt(sm2PrivateKeyFromDer(key.export({ type: 'pkcs8', format: 'der' })), sm2CiphertextFromAsn1(data))
      : privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data);
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    return undefined;
  }
}

/** Encrypts to a merchant's public key: RSA-OAEP (SHA-1) or SM2 C1C3C2_ASN1; base64. */
export function mockEncryptSensitive(plaintext: string, publicKey: KeyObject, sm2: boolean): string {
  const data = Buffer.from(plaintext, 'utf8');
  if (sm2) {
    const spki = (publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey).export({ type: 'spki', format: 'der' });
    return sm2CiphertextToAsn1(sm2Encrypt(sm2PublicKeyFromDer(spki), data)).toString('base64');
  }
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, data).toString('base64');
}

export interface PayGuide {
  guide_id: string;
  store_id: number;
  userid: string;
  corpid: string;
  /** Plaintext, as the mock decrypted it. */
  name: string;
  mobile: string;
  work_id?: string;
}

/** The key the request's Wechatpay-Serial names (and whether it is SM2); payFail when none. */
export type SensitiveKeyLookup = (wechatpaySerial: string | undefined) => { key: KeyObject; sm2: boolean };

const MAX_GUIDES = 1000;
const DECRYPT_MESSAGE = '请确认待处理的消息是否为加密后的密文';

function field(o: Record<string, unknown>, key: string, max: number, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) paramError(`/body/${key}`, '不能为空');
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > max) paramError(`/body/${key}`, `长度应为1到${max}个字符`);
  return v;
}

export class PayGuides {
  readonly #byMchid = new Map<string, PayGuide[]>();

  /** POST /v3/smartguide/guides: decrypts name and mobile with the key Wechatpay-Serial names. */
  register(mchid: string, body: Buffer, serial: string | undefined, keyFor: SensitiveKeyLookup): { guide_id: string } {
    const o = parseJsonBody(body) as Record<string, unknown>;
    const corpid = field(o, 'corpid', 64, true) as string;
    const userid = field(o, 'userid', 64, true) as string;
    const storeId = o['store_id'];
    if (typeof storeId !== 'number' || !Number.isSafeInteger(storeId) || storeId <= 0) paramError('/body/store_id', '应为正整数');
    field(o, 'qr_code', 256, true);
    field(o, 'avatar', 256, true);
    field(o, 'group_qrcode', 256, false);
    const nameCt = field(o, 'name', 8192, true) as string;
    const mobileCt = field(o, 'mobile', 8192, true) as string;
    const { key, sm2 } = keyFor(serial);
    const name = mockDecryptSensitive(nameCt, key, sm2);
    const mobile = mockDecryptSensitive(mobileCt, key, sm2);
    if (name === undefined) payFail(400, 'PARAM_ERROR', DECRYPT_MESSAGE, { field: '/body/name', location: 'body' });
    if (mobile === undefined) payFail(400, 'PARAM_ERROR', DECRYPT_MESSAGE, { field: '/body/mobile', location: 'body' });
    if (name.length === 0 || name.length > 64) paramError('/body/name', '解密后长度应为1到64个字符');
    if (!/^1[0-9]{10}$/.test(mobile)) paramError('/body/mobile', '解密后应为11位手机号码');
    const list = this.#byMchid.get(mchid) ?? [];
    if (list.length >= MAX_GUIDES) payFail(429, 'FREQUENCY_LIMITED', `每个商户最多${MAX_GUIDES}个服务人员（mock）`);
    if (list.some((g) => g.corpid === corpid && g.userid === userid)) payFail(400, 'PARAM_ERROR', '服务人员已存在');
    const guide: PayGuide = { guide_id: `LLA${randomBytes(12).toString('hex').toUpperCase()}`, store_id: storeId, userid, corpid, name, mobile };
    list.push(guide);
    this.#byMchid.set(mchid, list);
    return { guide_id: guide.guide_id };
  }

  /** GET /v3/smartguide/guides?store_id=…: name and mobile encrypted to the merchant's key. */
  query(mchid: string, query: URLSearchParams, merchantKey: KeyObject, sm2: boolean): Record<string, unknown> {
    const storeRaw = query.get('store_id');
    if (storeRaw === null || !/^[1-9][0-9]{0,15}$/.test(storeRaw)) paramError('/query/store_id', '应为正整数');
    const limit = Number(query.get('limit') ?? '10');
    const offset = Number(query.get('offset') ?? '0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10) paramError('/query/limit', '应为1到10');
    if (!Number.isInteger(offset) || offset < 0) paramError('/query/offset', '应为非负整数');
    const userid = query.get('userid');
    const all = (this.#byMchid.get(mchid) ?? []).filter((g) => g.store_id === Number(storeRaw) && (userid === null || g.userid === userid));
    const data = all.slice(offset, offset + limit).map((g) => ({
      guide_id: g.guide_id,
      store_id: g.store_id,
      name: mockEncryptSensitive(g.name, merchantKey, sm2),
      mobile: mockEncryptSensitive(g.mobile, merchantKey, sm2),
      userid: g.userid,
      ...(g.work_id !== undefined ? { work_id: g.work_id } : {}),
    }));
    return { data, total_count: all.length, limit, offset };
  }

  /** The guides of a merchant as the mock decrypted them (tests look at what arrived). */
  list(mchid: string): PayGuide[] {
    return (this.#byMchid.get(mchid) ?? []).map((g) => ({ ...g }));
  }
}
