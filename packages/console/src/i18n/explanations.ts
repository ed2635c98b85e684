// What an error code means and what to do about it, in the console's two languages, so a page
// never shows an English explanation beside zh-CN labels. Plain data, no JSX: node imports it in
// tests.
//  - WXSEAL_ rejection codes: English from @wxseal/protocol's catalogue (WIRE_ERRORS); zh-CN below,
//    typed over every wire code, so a new code without its translation fails the type check.
//  - ADMIN_ codes: the gateway owns their catalogue (ADMIN_ERRORS), but the console cannot import
//    @wxseal/gateway (the gateway serves the console: that would be a cycle), so both languages are
//    here; tests/e2e/error-catalogue.test.ts checks that the English is the catalogue's, word for word.
//  - CONSOLE_ codes: English from ../errors.ts; zh-CN below.
import { WIRE_ERRORS, isWireErrorCode, type WireErrorCode } from '@wxseal/protocol/errors';
import { CONSOLE_ERRORS, type ConsoleErrorCode } from '../errors.js';

export interface Explanation {
  readonly meaning: string;
  readonly action: string;
}

const RETRY_LATER_ZH = '暂时性问题：稍后重试（客户端会自动重试幂等请求）；若持续出现，检查服务端的存储及其日志。';
const CLOCK_ZH = '校准客户端时钟（NTP）；@wxseal/client 会根据 Wxseal-Server-Time 修正时钟偏差并重试一次。';

/** zh-CN explanations of the rejection codes of SPEC.md section 10. */
export const ZH_WIRE_EXPLANATIONS: { readonly [C in WireErrorCode]: Explanation } = {
  WXSEAL_BODY_TOO_LARGE: {
    meaning: '请求体超过服务端的大小上限（密封模式下按密文计算）。',
    action: '发送更小的请求体；如果大小合理，调高服务端（或路由）的请求体上限。',
  },
  WXSEAL_UNSUPPORTED_VERSION: {
    meaning: 'Wxseal-Version 不是 1：客户端使用的协议版本服务端不支持。',
    action: '使用支持 wxseal 协议第 1 版的客户端。',
  },
  WXSEAL_MISSING_HEADER: {
    meaning: '缺少必需的 wxseal 请求头（可能被代理删除）。',
    action: '通过 @wxseal/client 发送请求（或遵循 SPEC.md 第 4 节）；确认代理会透传 Wxseal-* 请求头。',
  },
  WXSEAL_MALFORMED_HEADER: {
    meaning: '某个请求头或请求目标不符合语法、重复出现，或在该模式下不允许出现。',
    action: '检查客户端版本和请求路径（不能含点段、%2F 或反斜杠）；确认没有代理改写请求头或路径。',
  },
  WXSEAL_MODE_NOT_ALLOWED: {
    meaning: '该路由（或该凭据）不接受此模式（密封或仅签名），或以密封模式发送了 HEAD 请求。',
    action: '以路由接受的模式调用（见服务端或网关配置中该路由的 mode）。',
  },
  WXSEAL_TIMESTAMP_EXPIRED: {
    meaning: '请求的时间戳早于服务端允许的时间窗口。',
    action: CLOCK_ZH,
  },
  WXSEAL_TIMESTAMP_FUTURE: {
    meaning: '请求的时间戳超前于服务端允许的时间窗口。',
    action: CLOCK_ZH,
  },
  WXSEAL_UNKNOWN_KEY_ID: {
    meaning: '没有凭据使用此 key id（设备：序列号未开通，或属于其他产品）。',
    action: '核对客户端的 key id 与服务端的凭据（或设备注册表）；缺失则补充开通。',
  },
  WXSEAL_KEY_REVOKED: {
    meaning: '凭据存在，但已被吊销，或当前没有有效的密钥。',
    action: '为客户端签发有效的密钥（轮换或重新激活凭据）；已吊销的设备需要重新激活。',
  },
  WXSEAL_UNKNOWN_SERVER_KEY: {
    meaning: '服务端没有与客户端所用 Wxseal-Server-Key-Id 对应的密钥。',
    action: '向客户端下发服务端当前的公钥及其 key id（轮换后保留旧密钥，直到客户端完成切换）。',
  },
  WXSEAL_BAD_SIGNATURE: {
    meaning: 'HMAC 签名与该凭据的任何有效密钥都不匹配。',
    action: '确认客户端与服务端持有该 key id 的同一密钥，且途中没有改动方法、路径、查询参数、请求头或请求体。',
  },
  WXSEAL_REPLAYED_NONCE: {
    meaning: '该 nonce 已被此 key id 使用过：可能是重放，或客户端重复使用了 nonce。',
    action: '不要原样重发请求，应重新构造（@wxseal/client 会这样做）。频繁出现时需要排查。',
  },
  WXSEAL_UNWRAP_FAILED: {
    meaning: '用指定的服务端密钥无法解开封装的会话密钥。',
    action: '确认客户端使用的服务端公钥与该 key id 的服务端私钥相匹配。',
  },
  WXSEAL_DECRYPT_FAILED: {
    meaning: '请求体无法解密（AES-GCM 认证标签不匹配）：已被改动，或是为其他请求加密的。',
    action: '确认途中没有改动请求体（代理重新编码、截断）；作为新请求重新发送。',
  },
  WXSEAL_MALFORMED_PAYLOAD: {
    meaning: '解密后的明文不符合 SPEC.md 6.1 规定的格式（元数据、内容类型、JSON 规则）。',
    action: '使用符合规范的客户端（@wxseal/client）；若已在使用，请报告客户端版本。',
  },
  WXSEAL_NONCE_STORE_FULL: {
    meaning: 'nonce 存储已满，在旧 nonce 过期之前拒绝新的 nonce。',
    action: '暂时性问题：稍后重试。按请求速率乘以时间窗口规划 nonce 存储容量，或改用 Redis。',
  },
  WXSEAL_NONCE_STORE_UNAVAILABLE: {
    meaning: '无法连接 nonce 存储（Redis）；请求被拒绝，绝不会未经检查就放行。',
    action: RETRY_LATER_ZH,
  },
  WXSEAL_NONCE_STORE_RESET: {
    meaning: 'nonce 存储丢失了记录（无持久化的重启、切换到缺少写入的副本、被清空）；丢失后的一个时间窗口内，签名时间早于丢失时刻的请求一律拒绝，确保丢失前见过的请求不会再次被接受。',
    action: '重新构造并发送请求（@wxseal/client 会用新的时间戳和 nonce 重试）；为 nonce 存储配置持久化和不丢写入的故障切换（见集群部署指南）。',
  },
  WXSEAL_KEY_STORE_UNAVAILABLE: {
    meaning: '无法连接凭据存储（或设备注册表）。',
    action: RETRY_LATER_ZH,
  },
  WXSEAL_CREDENTIALS_STALE: {
    meaning: '本网关实例在配置的时限内（controlPlane.maxStalenessMs）未能与共享控制面确认凭据视图，因此拒绝所有无法确认的凭据（失败即关闭）。',
    action: '暂时性问题：稍后重试（其他实例可能可以处理）。检查控制面数据库以及该实例 /readyz 的详情。',
  },
  WXSEAL_ROUTE_NOT_FOUND: {
    meaning: '网关没有与请求路径匹配的路由。',
    action: '检查路径，或在网关配置中为它添加路由。',
  },
  WXSEAL_TOO_MANY_HEADERS: {
    meaning: '请求头字段的数量超过网关的上限。',
    action: '减少请求头字段；检查是否有代理添加了大量请求头。',
  },
  WXSEAL_CLIENT_CERT_REQUIRED: {
    meaning: '该路由要求双向 TLS（mTLS），但连接没有出示客户端证书。',
    action: '为客户端配置客户端证书和私钥（客户端 SDK 的 `tls.cert` 和 `tls.key`）。',
  },
  WXSEAL_CLIENT_CERT_INVALID: {
    meaning: '连接出示的客户端证书未能通过监听器客户端 CA 的校验：签发者未知、已过期或尚未生效，或已被 CRL 吊销；消息中说明了原因。',
    action: '使用网关信任的 CA 签发且在有效期内的客户端证书；过期证书请续期。',
  },
  WXSEAL_CLIENT_CERT_MISMATCH: {
    meaning: '请求使用的密钥 ID 绑定了某张客户端证书，而连接出示的是另一张证书。',
    action: '使用与该密钥 ID 绑定的客户端证书（网关配置中的 clients[].clientCertificate），或更新绑定。',
  },
};

/** zh-CN explanations of the console's own codes. */
export const ZH_CONSOLE_EXPLANATIONS: { readonly [C in ConsoleErrorCode]: Explanation } = {
  CONSOLE_NETWORK: {
    meaning: '控制台无法连接网关的管理接口（网络故障，或网关已停止）。',
    action: '确认网关正在运行且管理监听地址可以访问，然后刷新页面。',
  },
  CONSOLE_BAD_RESPONSE: {
    meaning: '管理接口返回了非 JSON 内容（代理的页面，或控制台与网关版本不一致）。',
    action: '刷新页面；检查管理监听地址前面的代理。',
  },
  CONSOLE_HTTP_ERROR: {
    meaning: '管理接口返回了不带错误码的 HTTP 错误（例如代理的错误页），已显示其状态码。',
    action: '检查管理监听地址前面的代理，以及网关日志。',
  },
};

/** The admin API's codes (the gateway's ADMIN_ERRORS; see the note at the top). */
export type AdminErrorCode =
  | 'ADMIN_UNAUTHENTICATED'
  | 'ADMIN_BAD_CREDENTIALS'
  | 'ADMIN_LOGIN_RATE_LIMITED'
  | 'ADMIN_CSRF'
  | 'ADMIN_BAD_REQUEST'
  | 'ADMIN_NOT_FOUND'
  | 'ADMIN_CONFLICT'
  | 'ADMIN_UNAVAILABLE'
  | 'ADMIN_NOT_CONFIGURED';

export const ADMIN_EXPLANATIONS: { readonly en: { readonly [C in AdminErrorCode]: Explanation }; readonly 'zh-CN': { readonly [C in AdminErrorCode]: Explanation } } = {
  en: {
    ADMIN_UNAUTHENTICATED: { meaning: 'No session, or the session expired.', action: 'Log in again (POST /admin/api/v1/session).' },
    ADMIN_BAD_CREDENTIALS: {
      meaning: 'The login was refused: wrong user, password or admin token.',
      action: 'Check the user and password, or the admin token (admin.auth in the gateway config).',
    },
    ADMIN_LOGIN_RATE_LIMITED: { meaning: 'Too many login attempts from this address.', action: 'Wait for the time the retry-after header gives, then log in again.' },
    ADMIN_CSRF: {
      meaning: 'A state-changing call came without the session\'s x-csrf-token header, or from a foreign Origin.',
      action: 'Reload the console and try again; API clients send the csrfToken of the login answer as x-csrf-token.',
    },
    ADMIN_BAD_REQUEST: {
      meaning: 'The body or query fails its schema (the message names the field), or the body is too large.',
      action: 'Fix the field the message names (see ADMIN-API.md for the shapes).',
    },
    ADMIN_NOT_FOUND: { meaning: 'No such device, credential, key or route.', action: 'Check the identifier; the object may have been removed meanwhile.' },
    ADMIN_CONFLICT: {
      meaning: 'The change conflicts with the current state (device already revoked, last active secret, changed by someone else).',
      action: 'Reload to see the current state, then decide again.',
    },
    ADMIN_UNAVAILABLE: {
      meaning: 'A backing store (device database, Redis, the admin state directory) is unreachable; the change was refused.',
      action: 'Check the gateway\'s log and the store it names; retry when it is back.',
    },
    ADMIN_NOT_CONFIGURED: {
      meaning: 'The feature is not configured on this gateway (no devices or admin section, console disabled).',
      action: 'Add the section to the gateway config if the feature is wanted (see the gateway README).',
    },
  },
  'zh-CN': {
    ADMIN_UNAUTHENTICATED: { meaning: '没有会话，或会话已过期。', action: '重新登录。' },
    ADMIN_BAD_CREDENTIALS: { meaning: '登录被拒绝：用户名、密码或管理令牌不正确。', action: '检查用户名和密码，或管理令牌（网关配置中的 admin.auth）。' },
    ADMIN_LOGIN_RATE_LIMITED: { meaning: '该地址的登录尝试次数过多。', action: '等待 retry-after 给出的时间后再登录。' },
    ADMIN_CSRF: {
      meaning: '状态变更请求缺少会话的 x-csrf-token 请求头，或来自外部 Origin。',
      action: '刷新控制台后重试；API 客户端需把登录应答中的 csrfToken 作为 x-csrf-token 发送。',
    },
    ADMIN_BAD_REQUEST: { meaning: '请求体或查询参数不符合格式（消息中指明了字段），或请求体过大。', action: '修正消息中指明的字段（格式见 ADMIN-API.md）。' },
    ADMIN_NOT_FOUND: { meaning: '设备、凭据、密钥或路由不存在。', action: '检查标识符；该对象可能已被删除。' },
    ADMIN_CONFLICT: { meaning: '变更与当前状态冲突（设备已吊销、最后一个有效密钥、已被他人修改）。', action: '刷新查看当前状态，再重新决定。' },
    ADMIN_UNAVAILABLE: { meaning: '后端存储（设备数据库、Redis、管理状态目录）不可用；变更已被拒绝。', action: '查看网关日志及其中指出的存储；恢复后重试。' },
    ADMIN_NOT_CONFIGURED: {
      meaning: '此网关没有配置该功能（没有 devices 或 admin 配置段，或控制台已禁用）。',
      action: '如需该功能，在网关配置中添加相应的配置段（见网关 README）。',
    },
  },
};

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * The explanation of a code in the given language (`en`, else zh-CN), or undefined for a code the
 * console does not know (a newer gateway's, or a fallback such as UNKNOWN).
 */
export function explainCode(lang: string, code: string): Explanation | undefined {
  const english = lang === 'en';
  if (isWireErrorCode(code)) return english ? WIRE_ERRORS[code] : ZH_WIRE_EXPLANATIONS[code];
  if (has(CONSOLE_ERRORS, code)) return (english ? CONSOLE_ERRORS : ZH_CONSOLE_EXPLANATIONS)[code as ConsoleErrorCode];
  const admin = ADMIN_EXPLANATIONS[english ? 'en' : 'zh-CN'];
  if (has(admin, code)) return admin[code as AdminErrorCode];
  return undefined;
}
