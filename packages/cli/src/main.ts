import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CodedError } from '@wxseal/protocol';
import { hashPasswordCommand } from './commands/admin.js';
import { call } from './commands/call.js';
import { SERVER_KEY_TYPES, credentials, type CredentialsAction, type CredentialsOptions, type ServerKeyType } from './commands/credentials.js';
import { DEFAULT_BATCH, parseBatch, parseDuration } from './commands/device-args.js';
import type {
  ActivateCommandOptions,
  DeviceCommonOptions,
  DeviceImportOptions,
  DeviceIo,
  ListCommandOptions,
  ProductCreateOptions,
  RevokeCommandOptions,
  RewrapCommandOptions,
  RotateCommandOptions,
} from './commands/device.js';
import { gateway } from './commands/gateway.js';
import { DEFAULT_ADMIN_PORT, DEFAULT_UPSTREAM, KEYGEN_KEY_TYPES, keygen, type KeygenKeyType } from './commands/keygen.js';
import { mockWechat } from './commands/mock-wechat.js';
import { payCertsCheck, payCertsDownload, payCertsList } from './commands/pay-certs.js';
import { CliError, formatCliError } from './errors.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number (1-65535)');
  return n;
}

function duration(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function batch(value: string): number {
  try {
    return parseBatch(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

// The device registry (kysely, database drivers) is loaded only when a device command runs.
const devices = () => import('./commands/device.js');

/** Options every `wxseal device` subcommand takes. */
function withDeviceOptions(cmd: Command): Command {
  return cmd
    .option('--db <url>', 'device database: sqlite:FILE, postgres://…, mysql://… (default $WXSEAL_DEVICE_DB, else sqlite:./wxseal-devices.db)')
    .option('--master-key-file <file>', 'master key ring file (default $WXSEAL_DEVICE_MASTER_KEYS or $WXSEAL_DEVICE_MASTER_KEY_FILE)')
    .option('--actor <name>', 'who is recorded in the audit log (default the OS user)');
}

/** Entry point of the `wxseal` command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('wxseal')
    .description('Authenticated, confidential, replay-proof API calls for the WeChat ecosystem')
    .version('0.1.0')
    .option('--debug', 'print the stack of an unexpected error (also WXSEAL_DEBUG=1)')
    // Usage mistakes throw (exit 2 below) and print one line with a code, like every other
    // failure; subcommands created after this inherit both.
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(`${text.replace(/^error: /, 'wxseal: CLI_USAGE: ').trimEnd()} (add --help for usage)\n`) });

  program
    .command('keygen')
    .description('generate a server key pair (RSA or X25519), a client secret, client.json and a gateway.yaml that work together')
    .requiredOption('--out <dir>', 'directory to write into')
    .addOption(new Option('--type <type>', 'server key type: rsa (RSA-OAEP), x25519 (HPKE: no RSA on the server\'s hot path) or sm2 (the SM suite: SM2, SM4-GCM, SM3)').choices(KEYGEN_KEY_TYPES).default('rsa'))
    .option('--bits <n>', 'RSA modulus size (2048, 3072, 4096; default 2048; rsa only)', positiveInt)
    .option('--key-id <id>', 'client key id', 'bff-1')
    .option('--base-url <url>', 'gateway URL written into client.json; its port is the gateway\'s listener', 'http://127.0.0.1:8080')
    .option('--upstream <url>', 'the service gateway.yaml forwards /api to', DEFAULT_UPSTREAM)
    .option('--admin-port <n>', 'gateway admin listener port (health, metrics)', port, DEFAULT_ADMIN_PORT)
    .option('--force', 'overwrite existing files', false)
    .action((o: { out: string; type: KeygenKeyType; bits?: number; keyId: string; baseUrl: string; upstream: string; adminPort: number; force: boolean }) => {
      const r = keygen(o);
      console.log(`server key id: ${r.serverKeyId} (${r.type})`);
      for (const f of r.files) console.log(`wrote ${f}`);
      console.log('private files (server-private.pem, client-secret.txt, client.json, gateway.yaml, server.json) are mode 0600: keep them out of git');
      const dir = o.out.replace(/\/+$/, '') || '.';
      console.log('next:');
      console.log(`  npx wxseal gateway --config ${dir}/gateway.yaml                 # /api → ${o.upstream}`);
      console.log(`  npx wxseal call -c ${dir}/client.json -d '{"sku":"A-1"}' /api/orders`);
    });

  program
    .command('call')
    .description('send a sealed request (like curl) and print the decrypted response')
    .argument('<path>', 'path and query, e.g. /api/orders?id=7')
    .option('-c, --config <file>', 'client config (see `wxseal keygen`)', process.env.WXSEAL_CONFIG ?? 'wxseal/client.json')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('-d, --data <data>', 'request body, or @file; must be JSON unless --content-type is given')
    .option('-t, --content-type <type>', 'media type of --data (default application/json, checked)')
    .option('--base-url <url>', 'override the config\'s baseUrl')
    .addOption(new Option('--mode <mode>', 'sealed or signed (default from config)').choices(['sealed', 'signed']))
    .option('--timeout <ms>', 'deadline for the whole call', positiveInt)
    .option('--openid <id>', 'WeChat identity: OPENID to assert')
    .option('--appid <id>', 'WeChat identity: APPID')
    .option('--unionid <id>', 'WeChat identity: UNIONID')
    .option('--env <env>', 'WeChat identity: cloud environment')
    .option('--source <source>', 'WeChat identity: SOURCE')
    // Not --env as for `wxseal gateway`: here --env is the identity's WeChat cloud environment.
    .option('--profile <profile>', 'client config profile: dev, test or release (default $WXSEAL_ENV, else dev); named --profile because --env is the WeChat cloud environment here')
    .option('-v, --verbose', 'show the exchange on stderr', false)
    .action(async (path: string, o) => {
      exitCode = await call(path, o, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });

  program
    .command('gateway')
    .description('run the wxseal gateway, a verifying reverse proxy (SIGHUP reloads, SIGTERM/SIGINT drain and stop)')
    .requiredOption('-c, --config <file>', 'gateway config, YAML or JSON (see the @wxseal/gateway README)')
    .option('--check', 'validate the config and exit', false)
    .option('--env <profile>', 'config profile: dev, test or release (default $WXSEAL_ENV, else dev); release refuses development settings')
    .option('-w, --workers <n>', 'processes serving requests; default: one per CPU the process may use, within a container\'s CPU quota (1 with the memory nonce store); 1 = no cluster', positiveInt)
    .action(async (o: { config: string; check: boolean; env?: string; workers?: number }) => {
      exitCode = await gateway(o, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });

  program
    .command('mock-wechat')
    .description('run an offline mock of WeChat\'s servers (access_token, jscode2session, getuserphonenumber, API security) for tests and local development')
    .option('--state-dir <dir>', 'keys, dev app and client.json (generated on the first run)', '.wxseal/mock-wechat')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <n>', 'listen port (0 = any free port)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number');
      return n;
    }, 8090)
    .option('--public-base-url <url>', 'scheme+host the client computes urlpath with (default http://<Host header>)')
    .option('--control-token <token>', 'require this bearer token on the /__mock/ control API')
    .option('--token-ttl <seconds>', 'access_token lifetime', positiveInt)
    .option('--suite <suite>', "the development app made on the first run: 'rsa' (AES256_GCM + RSAwithSHA256) or 'sm' (国密: SM4_GCM + SM2withSM3)", (v: string) => {
      const s = v.toUpperCase();
      if (s !== 'RSA' && s !== 'SM') throw new InvalidArgumentError("must be 'rsa' or 'sm'");
      return s as 'RSA' | 'SM';
    })
    .action(async (o: { stateDir: string; host: string; port: number; publicBaseUrl?: string; controlToken?: string; tokenTtl?: number; suite?: 'RSA' | 'SM' }) => {
      exitCode = await mockWechat(o, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });

  program
    .command('admin')
    .description('gateway admin API helpers')
    .command('hash-password')
    .description('read a password (terminal without echo, or the first line of stdin) and print its scrypt hash for admin.auth.users[].passwordHash')
    .action(async () => {
      exitCode = await hashPasswordCommand({
        stdin: process.stdin,
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });

  const credentialsIo = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };
  const creds = program.command('credentials').description("a gateway's client secrets and server keys in its control plane (no running gateway needed; every instance applies the change)");
  const withCredentialOptions = (c: Command, change: boolean): Command => {
    c.requiredOption('--config <file>', 'the gateway config (names the control plane)')
      .option('--env <profile>', 'config profile: dev, test or release (default $WXSEAL_ENV, else dev)')
      .option('--json', 'print JSON');
    if (change) c.requiredOption('--reason <text>', 'why (written to the audit log)');
    return c;
  };
  const runCredentials = async (action: CredentialsAction, o: CredentialsOptions): Promise<void> => {
    exitCode = await credentials(action, o, credentialsIo);
  };
  withCredentialOptions(creds.command('list').description('client secrets and server keys with their status'), false).action((o: CredentialsOptions) => runCredentials({ kind: 'list' }, o));
  withCredentialOptions(creds.command('add-secret').argument('<keyId>').description('add a secret to a client credential (printed once)'), true).action((keyId: string, o: CredentialsOptions) =>
    runCredentials({ kind: 'add-secret', keyId }, o),
  );
  withCredentialOptions(creds.command('retire-secret').argument('<keyId>').argument('<secretId>').description('retire a secret (never the last active one)'), true).action(
    (keyId: string, secretId: string, o: CredentialsOptions) => runCredentials({ kind: 'retire-secret', keyId, secretId }, o),
  );
  withCredentialOptions(
    creds
      .command('rotate-server-key')
      .description('generate a server key (RSA-2048, or X25519 / SM2 with --type) and make it the active one')
      .addOption(new Option('--type <type>', 'key type: rsa (RSA-OAEP), x25519 (HPKE: no RSA on the server\'s hot path) or sm2 (the SM suite: SM2, SM4-GCM, SM3)').choices(SERVER_KEY_TYPES).default('rsa')),
    true,
  ).action((o: CredentialsOptions & { type: ServerKeyType }) => runCredentials({ kind: 'rotate-server-key', type: o.type }, o));
  withCredentialOptions(creds.command('retire-server-key').argument('<kid>').description('retire a server key that is not the active one'), true).action((kid: string, o: CredentialsOptions) =>
    runCredentials({ kind: 'retire-server-key', kid }, o),
  );

  const payIo = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };
  const certs = program
    .command('pay')
    .description('WeChat Pay API v3 tools')
    .command('certs')
    .description('platform certificates (平台证书): download with the APIv3 key, list, check');
  certs
    .command('download')
    .description('download, decrypt (APIv3 key) and verify the platform certificates; write wechatpay_<serial>.pem files')
    .requiredOption('--mchid <id>', 'merchant id')
    .requiredOption('--serial-no <serial>', 'merchant API certificate serial')
    .requiredOption('--private-key <file>', 'merchant API private key (apiclient_key.pem)')
    .option('--api-v3-key-env <name>', 'environment variable holding the APIv3 key', 'WECHATPAY_APIV3_KEY')
    .option('--api-v3-key-file <file>', 'file holding the APIv3 key')
    .option('--base-url <url>', 'WeChat Pay API (default https://api.mch.weixin.qq.com; a mock in tests)')
    .option('--public-key-id <id>', 'WeChat Pay public key id (PUB_KEY_ID_…): verifies a public-key-only merchant\'s "no certificates" answer')
    .option('--public-key <file>', 'WeChat Pay public key PEM (pub_key.pem)')
    .option('-o, --out <dir>', 'output directory', '.')
    .action(async (o: { mchid: string; serialNo: string; privateKey: string; apiV3KeyEnv?: string; apiV3KeyFile?: string; baseUrl?: string; publicKeyId?: string; publicKey?: string; out: string }) => {
      exitCode = await payCertsDownload(o, payIo);
    });
  certs
    .command('list')
    .description('list the certificates in a directory with serial and expiry (exit 1 when one has < 7 days)')
    .option('--dir <dir>', 'directory of .pem files', '.')
    .option('--warn-days <n>', 'flag certificates with fewer days left', positiveInt, 30)
    .action(async (o: { dir: string; warnDays: number }) => {
      exitCode = await payCertsList(o, payIo);
    });
  certs
    .command('check')
    .description('check the merchant key and certificate, the platform certificates and the public key (exit 1 on a problem, 2 when given nothing to check)')
    .option('--mchid <id>', 'merchant id')
    .option('--serial-no <serial>', 'expected merchant certificate serial')
    .option('--private-key <file>', 'merchant API private key')
    .option('--merchant-cert <file>', 'merchant API certificate (apiclient_cert.pem)')
    .option('--platform-cert <file>', 'platform certificate (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--public-key-id <id>', 'WeChat Pay public key id (PUB_KEY_ID_…)')
    .option('--public-key <file>', 'WeChat Pay public key PEM')
    .option('--warn-days <n>', 'warn when fewer days are left', positiveInt, 30)
    .option('--json', 'print the report as JSON', false)
    .action(async (o: { mchid?: string; serialNo?: string; privateKey?: string; merchantCert?: string; platformCert: string[]; publicKeyId?: string; publicKey?: string; warnDays: number; json: boolean }) => {
      exitCode = await payCertsCheck(o, payIo);
    });

  const deviceIo: DeviceIo = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    progressStream: process.stderr,
  };
  // exitOverride: usage mistakes in `wxseal device …` throw (and exit 2 below) instead of exiting 1,
  // which the device commands keep for refused operations. Subcommands inherit it.
  const device = program
    .command('device')
    .description('one key per device (一机一密): products, activation, rotation, revocation, bulk import, master keys')
    .exitOverride()
    // One line naming the problem, like the other device errors, instead of the whole help text.
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'wxseal device: CLI_USAGE: ')) });
  const product = device.command('product').description('products and their secrets');
  withDeviceOptions(product.command('create'))
    .description('create a product; prints its secret once')
    .argument('<productId>', 'product id (1-64 of A-Z a-z 0-9 . _ : -)')
    .option('--json', 'print JSON', false)
    .action(async (productId: string, o: ProductCreateOptions) => {
      exitCode = await (await devices()).productCreate(productId, o, deviceIo);
    });
  withDeviceOptions(product.command('list'))
    .description('list the product ids')
    .option('--json', 'print JSON', false)
    .action(async (o: DeviceCommonOptions & { json: boolean }) => {
      exitCode = await (await devices()).productList(o, deviceIo);
    });
  withDeviceOptions(device.command('activate'))
    .description('provision a device; prints its key once')
    .argument('<serial>', 'device serial (1-64 of A-Z a-z 0-9 . _ : -)')
    .requiredOption('--product <id>', 'product of the device')
    .option('--reason <text>', 'why, for the audit log')
    .option('--allow-reactivation', 'give an already provisioned device a new key instead of refusing', false)
    .option('--grace <duration>', 'with --allow-reactivation: how long the old key stays valid (e.g. 1h, 7d)', duration)
    .option('--json', 'print JSON', false)
    .action(async (serial: string, o: ActivateCommandOptions) => {
      exitCode = await (await devices()).activate(serial, o, deviceIo);
    });
  withDeviceOptions(device.command('rotate'))
    .description('give a device a new key; prints it once')
    .argument('<serial>', 'device serial')
    .option('--grace <duration>', 'how long the current key stays valid: 3600s, 90m, 12h, 7d (default 0: it stops at once)', duration)
    .option('--reason <text>', 'why, for the audit log')
    .option('--json', 'print JSON', false)
    .action(async (serial: string, o: RotateCommandOptions) => {
      exitCode = await (await devices()).rotate(serial, o, deviceIo);
    });
  withDeviceOptions(device.command('revoke'))
    .description('revoke a device: its keys stop working')
    .argument('<serial>', 'device serial')
    .requiredOption('--reason <text>', 'why (required, recorded in the audit log)')
    .option('--json', 'print JSON', false)
    .action(async (serial: string, o: RevokeCommandOptions) => {
      exitCode = await (await devices()).revoke(serial, o, deviceIo);
    });
  withDeviceOptions(device.command('show'))
    .description("a device's metadata and audit trail (never a key)")
    .argument('<serial>', 'device serial')
    .option('--json', 'print JSON', false)
    .action(async (serial: string, o: DeviceCommonOptions & { json: boolean }) => {
      exitCode = await (await devices()).show(serial, o, deviceIo);
    });
  withDeviceOptions(device.command('list'))
    .description('list devices in serial order, a page at a time')
    .option('--product <id>', 'only this product')
    .addOption(new Option('--status <status>', 'only active or revoked devices').choices(['active', 'revoked']))
    .option('--limit <n>', 'devices per page (1-1000, default 100)', positiveInt)
    .option('--cursor <cursor>', 'the cursor printed after the previous page')
    .option('--json', 'print JSON', false)
    .action(async (o: ListCommandOptions) => {
      exitCode = await (await devices()).list(o, deviceIo);
    });
  withDeviceOptions(device.command('import'))
    .description('bulk provisioning from a CSV file (columns serial, product, key); generated keys go to --out')
    .argument('<file>', 'CSV file with a header row')
    .option('--product <id>', 'product of every row (then the CSV needs no product column)')
    .option('--out <file>', 'new CSV file (mode 0600) receiving the generated keys; never overwritten')
    .option('--batch <n>', `rows per transaction (1-1000, default ${DEFAULT_BATCH})`, batch)
    .option('--reason <text>', 'why, for the audit log')
    .action(async (file: string, o: DeviceImportOptions) => {
      exitCode = await (await devices()).deviceImport(file, o, deviceIo);
    });
  const masterKey = device.command('master-key').description('master keys that encrypt device keys at rest');
  masterKey
    .command('generate')
    .description('print a new master key line (id:key) for the ring')
    .option('--id <id>', 'master key id (default mk-YYYYMMDD-xxxx)')
    .option('--json', 'print JSON', false)
    .action(async (o: { id?: string; json: boolean }) => {
      exitCode = await (await devices()).masterKeyGenerate(o, deviceIo);
    });
  withDeviceOptions(device.command('rewrap'))
    .description('re-encrypt every product secret and device key under one master key (after adding it to the ring)')
    .requiredOption('--to <masterKeyId>', 'the master key to move every row to')
    .option('--batch <n>', `rows per transaction (1-1000, default ${DEFAULT_BATCH})`, batch)
    .action(async (o: RewrapCommandOptions) => {
      exitCode = await (await devices()).rewrap(o, deviceIo);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; the usage line is already printed.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      console.error(formatCliError(err));
      return 2;
    }
    if (err instanceof CodedError) {
      // Any library's coded error (WXSEAL_, WECHATPAY_, DEVICE_, …), in its display form.
      console.error(`wxseal: ${err.toString()}`);
      return 2;
    }
    // A failure nobody anticipated: still one line with a code; the stack only when asked for.
    const debug = argv.includes('--debug') || isTruthy(process.env.WXSEAL_DEBUG);
    const message = err instanceof Error ? err.message : String(err);
    const errno = (err as { code?: unknown } | null)?.code;
    console.error(`wxseal: CLI_INTERNAL_ERROR: ${message.replace(/\s*\n\s*/g, ' ')}${typeof errno === 'string' ? ` [${errno}]` : ''}${debug ? '' : ' (--debug or WXSEAL_DEBUG=1 prints the stack)'}`);
    if (debug && err instanceof Error && err.stack) console.error(err.stack);
    return 2;
  }
  return exitCode;
}

const isTruthy = (value: string | undefined): boolean => value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
