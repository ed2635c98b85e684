/**
 * Generates docs/errors.md, the catalogue of every error code of wxseal, from the code: each family
 * declares its codes once, as a const object (code → meaning, action, HTTP status) in the package
 * that owns them, and its code union is `keyof` that object. This script imports those objects and
 * writes one table per family. tests/e2e/error-catalogue.test.ts fails when the committed file
 * differs from what this writes, and when a source file uses a code no catalogue holds.
 *
 *   npm run errors:docs              writes docs/errors.md
 *   npm run errors:docs -- --check   writes nothing; exits 1 when the file is not current
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLI_ERRORS } from '@wxseal/cli';
import { CONTROL_ERRORS } from '@wxseal/control-plane';
import { DEVICE_ERRORS } from '@wxseal/devices';
import { FLEET_SYNC_ERRORS } from '@wxseal/fleet-sync';
import { ADMIN_ERRORS, GATEWAY_ERRORS } from '@wxseal/gateway';
import { GM_ERRORS } from '@wxseal/gm';
import { MOCK_ERRORS } from '@wxseal/mock-wechat';
import { CLIENT_ERRORS, LOCAL_ERRORS, WIRE_ERRORS, type ErrorCatalogue } from '@wxseal/protocol';
import { SERVER_ERRORS } from '@wxseal/server';
import { ACCESS_TOKEN_ERRORS, WECHAT_API_ERRORS, WECHAT_TRANSPORT_ERRORS, WXMP_ERRORS } from '@wxseal/wechat';
import { WECHATPAY_DOWNLOAD_ERRORS, WECHATPAY_ERRORS, WECHATPAY_LIFECYCLE_ERRORS, WECHATPAY_NOTIFY_ERRORS, WECHATPAY_TRANSPORT_ERRORS } from '@wxseal/wechatpay';
// The console is a browser app: its catalogue (a module that imports only a type) is a source-only
// entry, for the scripts and tests that run with --conditions=wxseal-source.
import { CONSOLE_ERRORS } from '@wxseal/console/errors';

export const ERRORS_DOC = fileURLToPath(new URL('../docs/errors.md', import.meta.url));

/** One catalogue object: where it is declared, which class carries its codes, and the object. */
export interface CatalogueSource {
  /** Heading of its table. */
  readonly title: string;
  /** The exported const. */
  readonly name: string;
  /** The file that declares it, from the repository root. */
  readonly file: string;
  /** The error class(es) that carry these codes. */
  readonly carriedBy: string;
  readonly note?: string;
  readonly catalogue: ErrorCatalogue;
}

export interface Family {
  /** The code prefix, without the underscore. */
  readonly prefix: string;
  readonly packages: string;
  readonly about: string;
  readonly catalogues: readonly CatalogueSource[];
}

export const FAMILIES: readonly Family[] = [
  {
    prefix: 'WXSEAL',
    packages: '@wxseal/protocol, @wxseal/client, @wxseal/server, @wxseal/gateway',
    about:
      'The protocol\'s codes: the rejections a server sends in `Wxseal-Error` (SPEC.md section 10), the gateway\'s answers inside authenticated bodies (SPEC.md 10.3), what a client concludes about an exchange, and the local codes of setup mistakes. Carried by `WxsealError` (with `status`), except where noted.',
    catalogues: [
      {
        title: 'Rejections (`Wxseal-Error`, SPEC.md section 10)',
        name: 'WIRE_ERRORS',
        file: 'packages/protocol/src/errors.ts',
        carriedBy: 'WxsealError',
        note: 'Unsigned JSON `{"error":{"code","message"}}` with the status below, except the signed ones of SPEC.md 10.1. A client takes a rejection only when the code and its status match this table.',
        catalogue: WIRE_ERRORS,
      },
      {
        title: 'Gateway answers inside authenticated bodies (SPEC.md 10.3)',
        name: 'GATEWAY_ERRORS',
        file: 'packages/gateway/src/errors.ts',
        carriedBy: 'UpstreamFailure (inside the gateway); the client reads them from the sealed or signed JSON body',
        note: 'Never in `Wxseal-Error`: a client does not take them for rejections.',
        catalogue: GATEWAY_ERRORS,
      },
      {
        title: 'Raised by a client, never sent',
        name: 'CLIENT_ERRORS',
        file: 'packages/protocol/src/errors.ts',
        carriedBy: 'WxsealError; WXSEAL_REMOTE_ERROR: WxsealRemoteError',
        catalogue: CLIENT_ERRORS,
      },
      {
        title: 'Local: setup mistakes of any component, never sent',
        name: 'LOCAL_ERRORS',
        file: 'packages/protocol/src/errors.ts',
        carriedBy: 'WxsealError (GatewayConfigError lists every issue)',
        catalogue: LOCAL_ERRORS,
      },
      {
        title: 'Local: a verifier\'s dependencies, reported through `onDependencyError`',
        name: 'SERVER_ERRORS',
        file: 'packages/server/src/errors.ts',
        carriedBy: 'the verifier\'s TimeoutError (a CodedError)',
        catalogue: SERVER_ERRORS,
      },
    ],
  },
  {
    prefix: 'ADMIN',
    packages: '@wxseal/gateway',
    about: 'The gateway\'s admin API (packages/gateway/ADMIN-API.md): `{ "error": { "code", "message" } }` with the status below. The console shows what to do beside each.',
    catalogues: [{ title: 'Admin API', name: 'ADMIN_ERRORS', file: 'packages/gateway/src/admin/http.ts', carriedBy: 'AdminError (with `status`)', catalogue: ADMIN_ERRORS }],
  },
  {
    prefix: 'DEVICE',
    packages: '@wxseal/devices',
    about:
      'The device registry\'s refusals (一机一密) and the device key cache. Outages of the registry are not among them: a verifier answers those `WXSEAL_KEY_STORE_UNAVAILABLE` (503). The admin API maps the refusals to ADMIN_ codes; `wxseal device` prints them as `wxseal device: CODE: message`.',
    catalogues: [
      {
        title: 'Device registry and cache',
        name: 'DEVICE_ERRORS',
        file: 'packages/devices/src/store/errors.ts',
        carriedBy: 'DeviceStoreError; DEVICE_CACHE_TIMEOUT: CacheTimeoutError',
        catalogue: DEVICE_ERRORS,
      },
    ],
  },
  {
    prefix: 'CONTROL',
    packages: '@wxseal/control-plane',
    about:
      'The control-plane store\'s refusals (client secrets, server keys, sessions in the shared SQL database). Outages are not among them: a database that is down gives `WXSEAL_KEY_STORE_UNAVAILABLE`. The admin API maps the refusals to ADMIN_ codes.',
    catalogues: [{ title: 'Control-plane store', name: 'CONTROL_ERRORS', file: 'packages/control-plane/src/errors.ts', carriedBy: 'ControlPlaneError', catalogue: CONTROL_ERRORS }],
  },
  {
    prefix: 'FLEET',
    packages: '@wxseal/fleet-sync, @wxseal/gateway',
    about:
      'The fleet sync store (Redis or etcd) that carries material, leadership and signals between the instances of a fleet, and its encrypted envelope: the gateway\'s edge certificate sync raises them. WeChat Pay\'s certificate lifecycle uses the same store with its own codes (`WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE`, `WECHATPAY_LIFECYCLE_SYNC_REJECTED`, `WECHATPAY_LIFECYCLE_CONFIG`).',
    catalogues: [{ title: 'Fleet sync', name: 'FLEET_SYNC_ERRORS', file: 'packages/fleet-sync/src/errors.ts', carriedBy: 'FleetSyncError', catalogue: FLEET_SYNC_ERRORS }],
  },
  {
    prefix: 'GM',
    packages: '@wxseal/gm',
    about:
      'The 国密 primitives (SM2, SM3, SM4-GCM) and the SM2 key and ciphertext formats: keys that are not SM2 keys or not well formed, inputs of the wrong form, and data that does not authenticate. A signature that does not verify is not an error: the verifier answers false.',
    catalogues: [{ title: '国密 primitives', name: 'GM_ERRORS', file: 'packages/gm/src/errors.ts', carriedBy: 'GmError', catalogue: GM_ERRORS }],
  },
  {
    prefix: 'WECHAT',
    packages: '@wxseal/wechat',
    about:
      'Between a backend and WeChat\'s servers. WeChat answers HTTP 200 with a numeric `errcode`: `WechatApiError` keeps it (`errcode`, `errmsg`) and names the known ones `WECHAT_<NAME>`; those names are derived from one errcode table (`WECHAT_ERRCODES`).',
    catalogues: [
      { title: 'Transport', name: 'WECHAT_TRANSPORT_ERRORS', file: 'packages/wechat/src/errors.ts', carriedBy: 'WechatTransportError (with `status`)', catalogue: WECHAT_TRANSPORT_ERRORS },
      { title: 'WeChat errcodes', name: 'WECHAT_API_ERRORS', file: 'packages/wechat/src/errors.ts', carriedBy: 'WechatApiError (with `errcode`, `errmsg`)', catalogue: WECHAT_API_ERRORS },
      { title: 'access_token manager', name: 'ACCESS_TOKEN_ERRORS', file: 'packages/wechat/src/access-token/errors.ts', carriedBy: 'AccessTokenError', catalogue: ACCESS_TOKEN_ERRORS },
    ],
  },
  {
    prefix: 'WXMP',
    packages: '@wxseal/wechat',
    about: 'The checks of Mini Program server API security (API 安全: Wechatmp-* headers, AES-256-GCM, RSA-PSS) this package performs itself. WeChat\'s own refusals of such requests are the errcodes 40230–40240 (WECHAT_API_…).',
    catalogues: [{ title: 'API security', name: 'WXMP_ERRORS', file: 'packages/wechat/src/api-security.ts', carriedBy: 'WechatApiSecurityError', catalogue: WXMP_ERRORS }],
  },
  {
    prefix: 'WECHATPAY',
    packages: '@wxseal/wechatpay',
    about:
      'WeChat Pay API v3. When WeChat Pay itself refuses a call, `WechatPayApiError` carries WeChat Pay\'s own code (`PARAM_ERROR`, `SIGN_ERROR`, `ORDER_NOT_EXIST`, …, or `HTTP_<status>`) with `status`: those are WeChat Pay\'s, spelled as WeChat Pay spells them, and in no catalogue of ours.',
    catalogues: [
      { title: 'Core (signatures, AEAD, certificates)', name: 'WECHATPAY_ERRORS', file: 'packages/wechatpay/src/errors.ts', carriedBy: 'WechatPayError; WechatPayResponseError for an answer that fails verification', catalogue: WECHATPAY_ERRORS },
      { title: 'HTTP client transport', name: 'WECHATPAY_TRANSPORT_ERRORS', file: 'packages/wechatpay/src/client/errors.ts', carriedBy: 'WechatPayTransportError', catalogue: WECHATPAY_TRANSPORT_ERRORS },
      { title: 'Certificate and key lifecycle', name: 'WECHATPAY_LIFECYCLE_ERRORS', file: 'packages/wechatpay/src/lifecycle/errors.ts', carriedBy: 'CertificateLifecycleError (with `problems`)', catalogue: WECHATPAY_LIFECYCLE_ERRORS },
      { title: 'Notifications', name: 'WECHATPAY_NOTIFY_ERRORS', file: 'packages/wechatpay/src/notify/core.ts', carriedBy: 'NoNotificationHandlerError', catalogue: WECHATPAY_NOTIFY_ERRORS },
      { title: 'Downloads (bills)', name: 'WECHATPAY_DOWNLOAD_ERRORS', file: 'packages/wechatpay/src/api/errors.ts', carriedBy: 'WechatPayDownloadError (with `path`)', catalogue: WECHATPAY_DOWNLOAD_ERRORS },
    ],
  },
  {
    prefix: 'CLI',
    packages: '@wxseal/cli',
    about: 'The `wxseal` command\'s own failures: one line on stderr, `wxseal: CODE: message (--option)`, exit status 2. The libraries\' codes are printed the same way.',
    catalogues: [{ title: 'Command line', name: 'CLI_ERRORS', file: 'packages/cli/src/errors.ts', carriedBy: 'CliError (with `option`)', catalogue: CLI_ERRORS }],
  },
  {
    prefix: 'MOCK',
    packages: '@wxseal/mock-wechat',
    about:
      'The mock\'s own failures. What it emulates keeps WeChat\'s spelling and is in no catalogue of ours: the errcodes of the WeChat endpoints, and WeChat Pay\'s codes (`PARAM_ERROR`, `RESOURCE_NOT_EXISTS`, …, carried by its `PayError`). The control API answers `{ "error": message }` with the status below.',
    catalogues: [{ title: 'Mock', name: 'MOCK_ERRORS', file: 'packages/mock-wechat/src/errors.ts', carriedBy: 'MockWechatError, ControlError, BodyTooLargeError', catalogue: MOCK_ERRORS }],
  },
  {
    prefix: 'CONSOLE',
    packages: '@wxseal/console',
    about: 'What the admin console concludes when the admin API gave no ADMIN_ code. Shown in the console in zh-CN or English.',
    catalogues: [{ title: 'Console', name: 'CONSOLE_ERRORS', file: 'packages/console/src/errors.ts', carriedBy: 'ApiError', catalogue: CONSOLE_ERRORS }],
  },
];

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(catalogue: ErrorCatalogue): string[] {
  const rows = ['| code | HTTP status | meaning | what to do |', '|---|---|---|---|'];
  for (const [code, info] of Object.entries(catalogue)) {
    rows.push(`| \`${code}\` | ${info.status ?? '—'} | ${cell(info.meaning)} | ${cell(info.action)} |`);
  }
  return rows;
}

const codeCount = (f: Family): number => f.catalogues.reduce((n, c) => n + Object.keys(c.catalogue).length, 0);
const anchor = (prefix: string): string => `${prefix.toLowerCase()}_`;

export function renderErrorDocs(): string {
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- Generated by scripts/generate-error-docs.ts (npm run errors:docs) from the catalogues in the',
    '     code. Do not edit: tests/e2e/error-catalogue.test.ts fails when this file is stale. -->',
    '',
    'Every error wxseal raises has a stable code. This page lists them all, family by family, with',
    'what each means and what to do about it; it is generated from the catalogues in the code, so a',
    'code that is not here cannot be raised (the typecheck and tests/e2e/error-catalogue.test.ts',
    'refuse it).',
    '',
    '## The model',
    '',
    'Every error class of every package extends `CodedError` of `@wxseal/protocol` (also importable',
    'alone, in a browser, as `@wxseal/protocol/errors`):',
    '',
    '- `code`: stable, prefixed by its family (`WXSEAL_`, `ADMIN_`, `DEVICE_`, …). Branch on it, or on',
    '  the class (`isWxsealError(err, code)`, `isDeviceStoreError(err, code)`, …); never on the message.',
    '- `message`: text for humans. It never repeats the code and never carries secrets.',
    '- `cause`: the underlying error when there is one (the standard `Error` `cause`).',
    '- fields of the class where it has them: `status` (HTTP), `errcode`, `retryable`, `option`, …',
    '',
    'The display form is `CODE: message` (`String(err)`, `err.toString()`): what the CLI prints',
    '(`wxseal: CODE: message`) and what logs show; `errorText(err)` gives it for anything thrown.',
    '',
    'Each family declares its codes once, in the package that owns them, as a const object (code →',
    'meaning, what to do, HTTP status where the code has one); the code type of its error class is the',
    'keys of that object. Codes that emulate or relay WeChat\'s own (errcode numbers, WeChat Pay\'s',
    '`PARAM_ERROR`-style codes) keep WeChat\'s spelling and are not ours to list.',
    '',
    '| family | package | codes |',
    '|---|---|---|',
    ...FAMILIES.map((f) => `| [\`${f.prefix}_\`](#${anchor(f.prefix)}) | ${f.packages} | ${codeCount(f)} |`),
  ];
  for (const f of FAMILIES) {
    out.push('', `## ${f.prefix}_`, '', f.about);
    for (const c of f.catalogues) {
      out.push('', `### ${c.title}`, '', `\`${c.name}\` in \`${c.file}\`; carried by ${c.carriedBy}.${c.note ? ` ${c.note}` : ''}`, '', ...table(c.catalogue));
    }
  }
  return `${out.join('\n')}\n`;
}

function main(): void {
  const text = renderErrorDocs();
  let current: string | undefined;
  try {
    current = readFileSync(ERRORS_DOC, 'utf8');
  } catch {
    current = undefined;
  }
  if (process.argv.includes('--check')) {
    if (current !== text) {
      console.error(`${ERRORS_DOC} is not what the catalogues give: run npm run errors:docs`);
      process.exit(1);
    }
    console.log('docs/errors.md is current');
    return;
  }
  if (current === text) {
    console.log('docs/errors.md is unchanged');
    return;
  }
  writeFileSync(ERRORS_DOC, text);
  console.log(`wrote ${ERRORS_DOC}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
