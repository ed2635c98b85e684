import { statSync } from 'node:fs';
import { ProfileError, selectProfile } from '@wxseal/gateway/profiles';
import { CliError } from '../errors.js';

export interface GatewayCommandOptions {
  /** Path of the gateway config (YAML or JSON). */
  config: string;
  /** Validate the config and exit without starting. */
  check?: boolean;
  /** The config profile (dev, test, release); default WXSEAL_ENV, else dev. */
  env?: string;
  /**
   * Processes serving requests (node:cluster workers). Default: every core
   * (os.availableParallelism()), or 1 with the memory nonce store; 1 = this process alone.
   */
  workers?: number;
}

export interface GatewayCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * `wxseal gateway --config FILE [--env PROFILE] [--workers N]`: runs the gateway until SIGTERM or SIGINT, which
 * drain in-flight requests and stop (a second one exits at once); SIGHUP reloads the config file
 * (credentials, server keys, routes, limits), keeping the running config if the new one is invalid.
 * With N > 1 this process is the cluster primary and the workers run this same command
 * (@wxseal/gateway workers.ts). Resolves with the exit code. Config mistakes throw
 * WXSEAL_CONFIG_INVALID (exit 2, every issue listed).
 */
export async function gateway(options: GatewayCommandOptions, io: GatewayCommandIo): Promise<number> {
  // Loaded here, not at the top: `wxseal keygen` and `wxseal call` need none of the proxy's dependencies.
  const { ClusterMember, GatewayConfigError, defaultWorkerCount, loadGatewayConfig, runGatewayPrimary, workerIssues } = await import('@wxseal/gateway');
  const member = ClusterMember.current();
  try {
    if (!statSync(options.config).isFile()) throw new CliError('CLI_FILE_UNREADABLE', `${options.config} is not a file`, '--config');
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? 'CLI_FILE_NOT_FOUND' : 'CLI_FILE_UNREADABLE', code === 'ENOENT' ? `no such file: ${options.config}` : `cannot read ${options.config}: ${code ?? 'error'}`, '--config');
  }
  let config: ReturnType<typeof loadGatewayConfig>;
  try {
    config = loadGatewayConfig(options.config, { profileFrom: '--env', ...(options.env !== undefined ? { profile: options.env } : {}) });
  } catch (err) {
    if (!(err instanceof GatewayConfigError)) throw err;
    // One line per problem is clearer than one long line; the first names the code and the option.
    const issues = err.issues.map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}`);
    // The release profile's refusals are only problems in that profile: say which one was in force.
    const where = profileNote(options.env);
    if (issues.length === 1) io.stderr(`wxseal: ${err.code}: ${options.config}${where}: ${issues[0]} (--config)\n`);
    else io.stderr(`wxseal: ${err.code}: ${options.config}${where} has ${issues.length} problems (--config):\n${issues.map((i) => `  - ${i}\n`).join('')}`);
    return 2;
  }
  // Without --workers, the memory nonce store (per process) runs in this process alone.
  const workers = options.workers ?? (config.nonceStore.type === 'memory' ? 1 : defaultWorkerCount());
  const refused = workerIssues(config, workers)[0];
  if (refused) {
    io.stderr(`wxseal: ${new GatewayConfigError([refused]).code}: ${options.config}: ${refused.path}: ${refused.message} (--workers)\n`);
    return 2;
  }
  if (options.check) {
    io.stdout(`config OK: ${config.routes.length} route(s), ${config.clients.length} client(s), ${config.serverKeys.length} server key(s), profile ${config.profile}\n`);
    return 0;
  }
  if (workers > 1 && !member) {
    return runGatewayPrimary({
      workers,
      configPath: options.config,
      config,
      onForcedExit: (signal) => io.stderr(`wxseal gateway: ${signal} again, exiting without waiting for the drain\n`),
    });
  }
  try {
    return await runOne(options, io, config, member);
  } finally {
    if (member) {
      // A signal sent to the whole process group may reach a worker after its drain ended (the
      // primary's IPC drain came first): it must not kill the worker, which exits on its own.
      for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, () => undefined);
      // Leaves the cluster (else its IPC channel keeps it alive), whatever happened.
      member.leave();
    }
  }
}

/** ` (profile release)` for a config checked as release; nothing for the others (or an unknown one, the error itself then). */
function profileNote(explicit: string | undefined): string {
  try {
    return selectProfile(explicit) === 'release' ? ' (profile release)' : '';
  } catch (err) {
    if (err instanceof ProfileError) return '';
    throw err;
  }
}

/** One gateway in this process: the whole gateway, or one worker of a --workers gateway. */
async function runOne(
  options: GatewayCommandOptions,
  io: GatewayCommandIo,
  config: import('@wxseal/gateway').GatewayConfig,
  member: import('@wxseal/gateway').ClusterMember | undefined,
): Promise<number> {
  const { startGateway } = await import('@wxseal/gateway');

  // Handlers go in before the gateway starts (which may wait for Redis): SIGHUP's default action
  // would kill the process, and a SIGTERM during startup must still end in a clean stop.
  type Running = Awaited<ReturnType<typeof startGateway>>;
  let running: Running | undefined;
  let stopRequested = false;
  let stopping = false;
  let settle: ((code: number) => void) | undefined;
  const done = new Promise<number>((resolve) => (settle = resolve));

  const stop = (): void => {
    if (!running || stopping) return;
    stopping = true;
    running.close().then(
      () => settle!(0),
      (err: unknown) => {
        io.stderr(`wxseal gateway: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
        settle!(1);
      },
    );
  };
  const onHup = (): void => {
    // The gateway logs the outcome; a failed reload keeps the running config. Before the
    // gateway runs there is nothing to reload: it is reading the file right now.
    running?.reload().catch(() => undefined);
  };
  const onStop = (signal: NodeJS.Signals): void => {
    if (stopRequested) {
      io.stderr(`wxseal gateway: ${signal} again, exiting without waiting for the drain\n`);
      process.exit(1);
    }
    stopRequested = true;
    stop();
  };
  // The primary's drain (over IPC) stops like SIGTERM but is not a signal: after a Ctrl-C to the
  // process group it may arrive before the worker's own SIGINT, which must not count as a second one.
  member?.onDrain(() => stop());
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  try {
    try {
      running = await startGateway(config, member ? { cluster: member } : {});
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
      if (e.code !== 'EADDRINUSE' && e.code !== 'EACCES') throw err;
      // The listener that did open (if any) was closed by startGateway: nothing keeps the process alive.
      const listener = e.port === config.listeners.admin.port ? 'listeners.admin' : 'listeners.public';
      const where = e.address !== undefined && e.port !== undefined ? `${e.address}:${e.port}` : `port ${e.port ?? '?'}`;
      throw new CliError(
        e.code === 'EADDRINUSE' ? 'CLI_PORT_IN_USE' : 'CLI_PORT_NOT_ALLOWED',
        e.code === 'EADDRINUSE'
          ? `${where} is already in use: stop what listens there, or choose another port in ${listener}.port of ${options.config}`
          : `not allowed to listen on ${where} (ports below 1024 need privileges): choose another port in ${listener}.port of ${options.config}`,
        '--config',
      );
    }
    if (stopRequested) stop();
    member?.ready();
    return await done;
  } finally {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
  }
}
