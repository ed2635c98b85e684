// Shared fixtures and helpers of the wechatpay tests.
import { readFileSync } from 'node:fs';
import type { WechatPayErrorCode } from '@wxseal/wechatpay';

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

/** assert.throws matcher on a WechatPayError code. */
export const code = (c: WechatPayErrorCode) => (e: unknown) => {
  if ((e as { code?: string }).code !== c) throw new Error(`expected ${c}, got ${String((e as Error)?.message ?? e)}`);
  return true;
};

export interface GoSigner {
  mchid: string;
  serialNo: string;
  privateKeyPem: string;
  message: string;
  signature: string;
}

export interface GoNotify {
  nowSeconds: number;
  apiV3Key: string;
  certificatePem: string;
  certificateSerial: string;
  headers: Record<string, string>;
  body: string;
  plaintext: string;
  expected: { id: string; create_time: string; resource_type: string; event_type: string; summary: string; associated_data: string; original_type: string };
}

export interface JavaAead {
  apiV3Key: string;
  plaintext: string;
  associated_data: string;
  nonce: string;
  ciphertext: string;
}

export interface JavaCertificates {
  apiV3Key: string;
  responseBody: string;
  serial: string;
  validFrom: string;
  validTo: string;
}

export interface JavaKeys {
  merchant: { mchid: string; serial: string; privateKeyPem: string; certificatePem: string };
  wechatpay: { certificateSerial: string; privateKeyPem: string; certificatePem: string; publicKeyPem: string };
  signature: { message: string; signature: string };
  oaep: { plaintext: string; ciphertext: string };
}

export const goSigner = fixture<GoSigner>('wechatpay-go-signer.json');
export const goNotify = fixture<GoNotify>('wechatpay-go-notify.json');
export const javaAead = fixture<JavaAead>('wechatpay-java-aead.json');
export const javaCerts = fixture<JavaCertificates>('wechatpay-java-certificates.json');
export const javaKeys = fixture<JavaKeys>('wechatpay-java-keys.json');

/** A made-up WeChat Pay public key id for tests. */
export const TEST_PUB_KEY_ID = 'PUB_KEY_ID_0114232134912410000000000000000001';
