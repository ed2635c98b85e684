// getuserphonenumber with API security (API 安全), as in the README. Against the offline mock:
//   npx wxseal mock-wechat --state-dir .wxseal/mock-wechat --port 8090
//   WXSEAL_MOCK_CLIENT=.wxseal/mock-wechat/client.json npx tsx examples/wechat/phone-number.ts any-code
// Against WeChat, give the same fields in a JSON file of your own (keys from the MP console;
// privateKeyPem and the certificates may be file paths; baseUrl https://api.weixin.qq.com).
import { readFileSync } from 'node:fs';
import { AccessTokenManager, createMpClient } from '@wxseal/wechat';

interface Config {
  appid: string; secret: string; baseUrl?: string;
  symKey: string; symSn: string; privateKeyPem: string; privateKeySn: string;
  platformCertificates: Record<string, string>;
}
const cfg = JSON.parse(readFileSync(process.env.WXSEAL_MOCK_CLIENT ?? 'wechat-client.json', 'utf8')) as Config;
const code = process.argv[2] ?? 'code-from-the-getPhoneNumber-button';

// --- the README's lines ------------------------------------------------------------------------
const http = { baseUrl: cfg.baseUrl ?? 'https://api.weixin.qq.com' };
const client = createMpClient({
  appid: cfg.appid,
  http,
  accessToken: new AccessTokenManager({ appid: cfg.appid, secret: cfg.secret, http }), // stable_token
  apiSecurity: {
    symKey: cfg.symKey, symSn: cfg.symSn, // API 对称密钥 (base64) and its SN
    privateKey: cfg.privateKeyPem, privateKeySn: cfg.privateKeySn, // 应用私钥 (PEM or file path)
    platformCertificates: cfg.platformCertificates, // 平台证书 by console number
  },
});
const phone = await client.getPhoneNumber(code); // encrypted, signed, verified, decrypted
console.log(JSON.stringify({ purePhoneNumber: phone.purePhoneNumber, countryCode: phone.countryCode }));
// -----------------------------------------------------------------------------------------------
await client.close();
process.exit(0); // the token manager keeps a pooled connection open for a while otherwise
