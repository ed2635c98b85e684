/**
 * `wxseal credentials …`: lists and changes a gateway's client secrets and server keys in its
 * control plane, without a running gateway — the same checks, change rows, announcements and audit
 * entries as the admin API, so every running instance applies the change within its poll interval.
 * The gateway config (`--config`) names the control plane.
 */
import { CliError } from '../errors.js';

export interface CredentialsOptions {
  config: string;
  /** The config profile (dev, test, release); default WXSEAL_ENV, else dev. */
  env?: string;
  reason?: string;
  json?: boolean;
}

export interface CredentialsIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type CredentialsAction =
  | { kind: 'list' }
  | { kind: 'add-secret'; keyId: string }
  | { kind: 'retire-secret'; keyId: string; secretId: string }
  | { kind: 'rotate-server-key'; type?: ServerKeyType }
  | { kind: 'retire-server-key'; kid: string };

/**
 * The type of a generated server key: rsa (RSA-2048, the default), x25519 (HPKE: no RSA on the
 * server's hot path) or sm2 (the SM suite, SPEC.md 6.6: SM2, SM4-GCM, SM3).
 */
export type ServerKeyType = 'rsa' | 'x25519' | 'sm2';
export const SERVER_KEY_TYPES: readonly ServerKeyType[] = ['rsa', 'x25519', 'sm2'];

const printJson = (io: CredentialsIo, value: unknown): void => io.stdout(`${JSON.stringify(value, null, 2)}\n`);

export async function credentials(action: CredentialsAction, options: CredentialsOptions, io: CredentialsIo): Promise<number> {
  const { AdminError, GatewayConfigError, loadGatewayConfig, openCredentialsTool } = await import('@wxseal/gateway');
  let config: ReturnType<typeof loadGatewayConfig>;
  try {
    config = loadGatewayConfig(options.config, { profileFrom: '--env', ...(options.env !== undefined ? { profile: options.env } : {}) });
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      io.stderr(`wxseal: ${err.code}: ${options.config}:\n${err.issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}\n`).join('')}`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError('CLI_FILE_NOT_FOUND', `no such file: ${options.config}`, '--config');
    throw err;
  }
  if (action.kind !== 'list' && (options.reason === undefined || options.reason.trim() === '')) {
    throw new CliError('CLI_USAGE', 'a change needs --reason (it goes into the audit log)', '--reason');
  }
  const reason = options.reason ?? '';
  let tool: Awaited<ReturnType<typeof openCredentialsTool>>;
  try {
    tool = await openCredentialsTool(config, { actor: `cli:${process.env.USER ?? 'unknown'}` });
  } catch (err) {
    if (err instanceof AdminError) {
      io.stderr(`wxseal: ${err.code}: ${err.message}\n`);
      return err.code === 'ADMIN_NOT_CONFIGURED' ? 2 : 1;
    }
    throw err;
  }
  try {
    switch (action.kind) {
      case 'list': {
        const out = { credentials: tool.credentials(), serverKeys: tool.serverKeys().map(({ publicKeyPem: _pem, ...k }) => k) };
        if (options.json) printJson(io, out);
        else {
          for (const c of out.credentials) for (const s of c.secrets) io.stdout(`client ${c.keyId}  secret ${s.secretId}  ${s.status}  (${s.source})\n`);
          for (const k of out.serverKeys) io.stdout(`server key ${k.kid}  ${k.type}  ${k.status}  (${k.source})\n`);
        }
        return 0;
      }
      case 'add-secret': {
        const out = await tool.addSecret(action.keyId, reason);
        if (options.json) printJson(io, { keyId: action.keyId, ...out });
        else io.stdout(`secret ${out.secretId} added to ${action.keyId}\nsecret: ${out.secret}\n`);
        io.stderr('wxseal credentials: warning: store the secret now: it is shown only once\n');
        return 0;
      }
      case 'retire-secret':
        await tool.retireSecret(action.keyId, action.secretId, reason);
        io.stdout(`secret ${action.secretId} of ${action.keyId} retired\n`);
        return 0;
      case 'rotate-server-key': {
        const out = await tool.rotateServerKey(reason, action.type ?? 'rsa');
        if (options.json) printJson(io, out);
        else io.stdout(`server key ${out.kid} (${out.type}) is now the active key\n${out.publicKeyPem}`);
        return 0;
      }
      case 'retire-server-key':
        await tool.retireServerKey(action.kid, reason);
        io.stdout(`server key ${action.kid} retired\n`);
        return 0;
    }
  } catch (err) {
    if (err instanceof AdminError) {
      io.stderr(`wxseal: ${err.code}: ${err.message}\n`);
      return err.status >= 500 ? 1 : 2;
    }
    throw err;
  } finally {
    await tool.close();
  }
}
