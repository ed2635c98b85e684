import { Command, InvalidArgumentError } from 'commander';
import { WxsealError } from '@wxseal/protocol';
import { call } from './commands/call.js';
import { gateway } from './commands/gateway.js';
import { keygen } from './commands/keygen.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Entry point of the `wxseal` command; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('wxseal')
    .description('Authenticated, confidential, replay-proof API calls for the WeChat ecosystem')
    .version('0.1.0')
    .showHelpAfterError();

  program
    .command('keygen')
    .description('generate a server RSA key pair, a client secret and sample configs')
    .requiredOption('--out <dir>', 'directory to write into')
    .option('--bits <n>', 'RSA modulus size (2048, 3072, 4096)', positiveInt, 2048)
    .option('--key-id <id>', 'client key id', 'bff-1')
    .option('--base-url <url>', 'server URL written into client.json', 'http://127.0.0.1:8080')
    .option('--force', 'overwrite existing files', false)
    .action((o: { out: string; bits: number; keyId: string; baseUrl: string; force: boolean }) => {
      const r = keygen(o);
      console.log(`server key id: ${r.serverKeyId}`);
      for (const f of r.files) console.log(`wrote ${f}`);
      console.log('private files (server-private.pem, client-secret.txt, client.json, server.json) are mode 0600: keep them out of git');
    });

  program
    .command('call')
    .description('send a sealed request (like curl) and print the decrypted response')
    .argument('<path>', 'path and query, e.g. /api/orders?id=7')
    .option('-c, --config <file>', 'client config (see `wxseal keygen`)', process.env.WXSEAL_CONFIG ?? 'wxseal/client.json')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('-d, --data <data>', 'request body, or @file')
    .option('-t, --content-type <type>', 'media type of --data (default application/json)')
    .option('--base-url <url>', 'override the config\'s baseUrl')
    .option('--mode <mode>', 'sealed or signed (default from config)')
    .option('--timeout <ms>', 'deadline for the whole call', positiveInt)
    .option('--openid <id>', 'WeChat identity: OPENID to assert')
    .option('--appid <id>', 'WeChat identity: APPID')
    .option('--unionid <id>', 'WeChat identity: UNIONID')
    .option('--env <env>', 'WeChat identity: cloud environment')
    .option('--source <source>', 'WeChat identity: SOURCE')
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
    .action(async (o: { config: string; check: boolean }) => {
      exitCode = await gateway(o, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof WxsealError) {
      console.error(`wxseal: ${err.code}: ${err.message}`);
      return 2;
    }
    throw err;
  }
  return exitCode;
}
