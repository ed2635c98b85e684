import { CliError } from '../errors.js';

export interface MockWechatCommandOptions {
  stateDir: string;
  host: string;
  port: number;
  publicBaseUrl?: string;
  controlToken?: string;
  tokenTtl?: number;
  /** The development app's API-security suite on the first run (later runs keep the stored one). */
  suite?: 'RSA' | 'SM';
}

export interface MockWechatCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * `wxseal mock-wechat`: runs the offline WeChat mock from a state directory (generated on the
 * first run: one dev app, its keys, the platform key, and client.json for the backend) until
 * SIGTERM/SIGINT. Resolves with the exit code.
 */
export async function mockWechat(options: MockWechatCommandOptions, io: MockWechatCommandIo): Promise<number> {
  // Loaded here: the other commands need none of the mock's dependencies.
  const { describeRunningMockWechat, runMockWechatFromState } = await import('@wxseal/mock-wechat');
  const running = await runMockWechatFromState({
    stateDir: options.stateDir,
    host: options.host,
    port: options.port,
    ...(options.publicBaseUrl !== undefined ? { publicBaseUrl: options.publicBaseUrl } : {}),
    ...(options.controlToken !== undefined ? { controlToken: options.controlToken } : {}),
    ...(options.tokenTtl !== undefined ? { tokenTtlSeconds: options.tokenTtl } : {}),
    ...(options.suite !== undefined ? { suite: options.suite } : {}),
  }).catch((err: unknown): never => {
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
    const where = `${e.address ?? options.host}:${e.port ?? options.port}`;
    if (e.code === 'EADDRINUSE') throw new CliError('CLI_PORT_IN_USE', `${where} is already in use: stop what listens there, or choose another port (0 = any free port)`, '--port');
    if (e.code === 'EACCES' && e.syscall === 'listen') throw new CliError('CLI_PORT_NOT_ALLOWED', `not allowed to listen on ${where} (ports below 1024 need privileges)`, '--port');
    if (typeof e.code === 'string' && e.path !== undefined) throw new CliError('CLI_FILE_UNWRITABLE', `cannot use ${e.path}: ${e.code}`, '--state-dir');
    throw err;
  });
  io.stdout(describeRunningMockWechat(running));
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      running.mock.close().then(
        () => resolve(0),
        (err: unknown) => {
          io.stderr(`wxseal mock-wechat: close failed: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
