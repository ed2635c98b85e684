// The deployment artefacts of deploy/ (Dockerfile, compose.yaml, k8s/) cannot run here (no
// Docker, no cluster): these tests read them and assert what a fleet needs of them, against the
// gateway config they all ship (deploy/gateway.fleet.yaml), which is loaded by the real
// loadGatewayConfig so that none of them can drift from the config's format.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadGatewayConfig, type GatewayConfig } from '@wxseal/gateway';
import {
  dockerignoreMatcher,
  execForm,
  loadCompose,
  loadK8s,
  parseDockerfile,
  read,
  root,
  secretPathsIn,
  stagesOf,
  type ComposeService,
  type K8sObject,
} from './artefacts.js';
import { runProcess } from '../support/processes.js';
import { WXSEAL_CLI } from '../support/gateway-process.js';

const CONFIG_PATH_IN_IMAGE = '/etc/wxseal/gateway.yaml';
const fleetYaml = read('deploy/gateway.fleet.yaml');
const fleetRaw = parseYaml(fleetYaml) as {
  listeners: { public: { port: number }; admin: { port: number } };
  shutdown: { drainTimeoutMs: number };
  admin: { stateDir: string };
};

let temp: string;
let secretsDir: string;
let config: GatewayConfig;
/** What the image's entrypoint exports for a gateway of compose.yaml (its *__FILE variables resolved). */
let entrypointEnv: Record<string, string>;

const composeGateways = (): [string, ComposeService][] =>
  Object.entries(loadCompose().services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');

function envOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return { ...env };
  return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** Runs deploy/docker-entrypoint.sh with `env` and `env -0` as the command: the environment it hands over. */
function runEntrypoint(env: Record<string, string>): Record<string, string> {
  const out = execFileSync('sh', [join(root, 'deploy/docker-entrypoint.sh'), 'env', '-0'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
  return Object.fromEntries(
    out
      .split('\0')
      .filter((l) => l !== '')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

before(() => {
  temp = mkdtempSync(join(tmpdir(), 'wxseal-deploy-'));
  secretsDir = join(temp, 'secrets');
  // The secrets as deploy/README.md makes them, for the PostgreSQL and Redis hosts of compose.yaml.
  execFileSync('sh', [join(root, 'deploy/generate-secrets.sh'), secretsDir], { stdio: 'ignore' });
  const [, gateway] = composeGateways()[0]!;
  const env = Object.fromEntries(Object.entries(envOf(gateway)).map(([k, v]) => [k, v.replaceAll('/run/secrets/', `${secretsDir}/`)]));
  entrypointEnv = runEntrypoint(env);
  // The config exactly as shipped, with /run/secrets moved to the temporary directory.
  const path = join(temp, 'gateway.yaml');
  execFileSync('sh', ['-c', 'sed "s#/run/secrets/#$1/#g" "$2" > "$3"', 'sh', secretsDir, join(root, 'deploy/gateway.fleet.yaml'), path]);
  config = loadGatewayConfig(path, { env: entrypointEnv });
});

after(() => rmSync(temp, { recursive: true, force: true }));

describe('deploy/gateway.fleet.yaml', () => {
  test('loads with the real loadGatewayConfig as a fleet: shared nonce store, control plane and devices on PostgreSQL, admin', () => {
    assert.equal(config.fleet, true);
    assert.equal(config.nonceStore.type, 'redis');
    assert.equal(config.nonceStore.type === 'redis' && config.nonceStore.topology.kind, 'sentinel', 'the nonce store follows failovers through Sentinel');
    assert.ok(config.controlPlane, 'controlPlane section');
    assert.match(config.controlPlane.database.displayUrl, /^postgres:\/\//);
    assert.ok(config.controlPlane.masterKeys, 'the control plane has its master key ring');
    assert.ok(config.devices, 'devices section');
    assert.match(config.devices.database.displayUrl, /^postgres:\/\//);
    assert.ok(config.admin, 'admin section');
    assert.ok(config.admin.token !== undefined && config.admin.token.length >= 32, 'admin token read from its secret file');
    assert.equal(config.serverKeys.length, 1);
    assert.equal(config.clients[0]?.secrets.length, 1);
    assert.equal(config.listeners.admin.host, '0.0.0.0', 'the orchestrator probes the admin listener from outside the container');
  });

  test('names no secret inline: every secret is a file under /run/secrets or a URL from the environment', () => {
    assert.doesNotMatch(fleetYaml, /PRIVATE KEY|scrypt\$|\bsecret:|\bprivateKey:|\burl:\s*\S+:\/\//);
    assert.deepEqual(secretPathsIn(fleetYaml), [
      'wxseal-admin-token',
      'wxseal-client-bff-prod',
      'wxseal-master-keys',
      'wxseal-server-key.pem',
    ]);
  });

  test('the password in a database URL passes through the entrypoint from its secret file, and no *__FILE variable is left', () => {
    const dbUrl = readFileSync(join(secretsDir, 'wxseal-control-plane-db'), 'utf8').trim();
    assert.equal(entrypointEnv.WXSEAL_CONTROL_PLANE_DB, dbUrl);
    assert.match(dbUrl, /^postgres:\/\/wxseal:[^@]+@postgres:5432\//);
    assert.equal(Object.keys(entrypointEnv).filter((k) => k.endsWith('__FILE')).length, 0);
    assert.equal(config.controlPlane!.database.url, dbUrl);
  });

  test('`wxseal gateway --config FILE --check` (the CLI flags the image runs) accepts it', async () => {
    const path = join(temp, 'gateway.yaml');
    const run = await runProcess(process.execPath, [...WXSEAL_CLI, 'gateway', '--config', path, '--check'], { cwd: root, env: { ...process.env, ...entrypointEnv }, timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^config OK: 1 route\(s\), 1 client\(s\), 1 server key\(s\)/);
  });
});

describe('deploy/docker-entrypoint.sh', () => {
  test('exports NAME from the file NAME__FILE names (trailing newline dropped), leaves *_FILE variables alone', () => {
    const env = runEntrypoint({ A_URL__FILE: join(secretsDir, 'wxseal-device-db'), WXSEAL_DEVICE_MASTER_KEY_FILE: '/run/secrets/wxseal-master-keys' });
    assert.match(env.A_URL ?? '', /^postgres:\/\/wxseal:[^@\n]+@postgres:5432\/wxseal$/);
    assert.equal(env.A_URL__FILE, undefined);
    assert.equal(env.WXSEAL_DEVICE_MASTER_KEY_FILE, '/run/secrets/wxseal-master-keys');
  });

  test('stops with exit 2 naming the variable (never a value) when the file is missing or empty', () => {
    for (const file of [join(temp, 'missing'), '/dev/null']) {
      let failure: { status: number; stderr: string } | undefined;
      try {
        execFileSync('sh', [join(root, 'deploy/docker-entrypoint.sh'), 'true'], { env: { PATH: process.env.PATH ?? '', X_URL__FILE: file }, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        failure = err as { status: number; stderr: string };
      }
      assert.ok(failure, `a command ran although ${file} holds nothing`);
      assert.equal(failure.status, 2);
      assert.match(failure.stderr, /X_URL__FILE/);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const instructions = parseDockerfile(read('deploy/Dockerfile'));
  const stages = stagesOf(instructions);
  const final = stages.at(-1)!;
  const inFinal = (name: string): string[] => final.instructions.filter((i) => i.name === name).map((i) => i.args);

  test('the reader joins continuation lines and skips comments', () => {
    const parsed = parseDockerfile('# c\nFROM a AS b\nRUN one \\\n  # inside\n  two\nUSER 1:1\n');
    assert.deepEqual(parsed.map((i) => [i.name, i.args]), [['FROM', 'a AS b'], ['RUN', 'one two'], ['USER', '1:1']]);
  });

  test('is multi-stage: a build stage with npm ci and npm run build, a final stage with npm ci --omit=dev and only the build output', () => {
    assert.ok(stages.length >= 2, 'at least two stages');
    const build = stages.find((s) => s.name === 'build');
    assert.ok(build, 'a stage named build');
    const buildRuns = build.instructions.filter((i) => i.name === 'RUN').map((i) => i.args).join('\n');
    assert.match(buildRuns, /\bnpm ci\b(?![^\n&]*--omit)/);
    assert.match(buildRuns, /\bnpm run build\b/);
    assert.notEqual(final, build);
    const runs = inFinal('RUN').join('\n');
    assert.match(runs, /\bnpm ci\b[^\n&]*--omit=dev/);
    assert.doesNotMatch(runs, /\bnpm (run )?build\b|\btsc\b/, 'the final stage compiles nothing');
    const fromBuild = inFinal('COPY').filter((a) => a.includes('--from=build'));
    assert.ok(fromBuild.length > 0, 'the compiled output comes from the build stage');
    assert.ok(fromBuild.every((a) => !/node_modules/.test(a)), 'the build stage\'s node_modules (dev dependencies) stay there');
  });

  test('runs as a numeric non-root user, has WORKDIR and STOPSIGNAL SIGTERM', () => {
    const user = inFinal('USER').at(-1);
    assert.ok(user, 'USER in the final stage');
    assert.match(user, /^\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
    assert.notEqual(Number(user.split(':')[0]), 0);
    assert.ok(inFinal('WORKDIR').length > 0);
    assert.deepEqual(inFinal('STOPSIGNAL'), ['SIGTERM']);
  });

  test('EXPOSEs exactly the ports of the config, and HEALTHCHECKs /healthz on the admin port without curl', () => {
    const exposed = inFinal('EXPOSE').flatMap((a) => a.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, '')));
    assert.deepEqual(exposed.sort(), [fleetRaw.listeners.public.port, fleetRaw.listeners.admin.port].sort());
    const hc = inFinal('HEALTHCHECK').at(-1);
    assert.ok(hc, 'HEALTHCHECK');
    const cmd = execForm(hc.slice(hc.indexOf('CMD')));
    assert.ok(cmd, 'exec form');
    assert.equal(cmd[0], 'node');
    assert.match(cmd.join(' '), new RegExp(`fetch\\('http://127\\.0\\.0\\.1:${fleetRaw.listeners.admin.port}/healthz'\\)`));
  });

  test('ENTRYPOINT runs `wxseal gateway --config /etc/wxseal/gateway.yaml` through the secret-file entrypoint', () => {
    const entry = execForm(inFinal('ENTRYPOINT').at(-1) ?? '');
    assert.ok(entry, 'exec form');
    assert.deepEqual(entry.slice(-4), ['wxseal', 'gateway', '--config', CONFIG_PATH_IN_IMAGE]);
    assert.ok(inFinal('COPY').some((a) => a.includes('deploy/docker-entrypoint.sh') && a.includes(`/usr/local/bin/${entry[0]}`)));
    assert.ok(inFinal('RUN').some((a) => a.includes('packages/cli/bin/wxseal.js /usr/local/bin/wxseal')), 'wxseal on PATH');
  });

  test('bakes in no secret', () => {
    for (const i of instructions.filter((x) => x.name === 'ENV' || x.name === 'ARG')) {
      assert.doesNotMatch(i.args, /SECRET|TOKEN|PASSWORD|PRIVATE|MASTER|_DB\b|URL/i, `line ${i.line}: ${i.name} ${i.args}`);
    }
    const copied = instructions.filter((i) => i.name === 'COPY' || i.name === 'ADD').map((i) => i.args).join('\n');
    assert.doesNotMatch(copied, /secrets|\.pem|master-keys|admin-token/);
  });

  test('copies only files that exist and that .dockerignore lets into the context', () => {
    const ignored = dockerignoreMatcher(read('.dockerignore'));
    for (const stage of stages) {
      for (const i of stage.instructions.filter((x) => x.name === 'COPY' && !x.args.includes('--from='))) {
        const sources = i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
        for (const s of sources) {
          assert.ok(existsSync(join(root, s)), `line ${i.line}: ${s} does not exist`);
          assert.ok(!ignored(s), `line ${i.line}: ${s} is excluded by .dockerignore`);
        }
      }
    }
  });

  test('the runtime stage has what `wxseal gateway` runs: every workspace package it imports resolves to dist/ without the wxseal-source condition', () => {
    // The runtime stage copies packages/<name>/dist from the build stage and runs Node without
    // --conditions=wxseal-source, so each package reachable from the CLI must export its compiled
    // entries under `default` (a source-only export would fail at run time), and compile to dist/.
    const manifest = (name: string): { dependencies?: Record<string, string>; exports?: Record<string, unknown> } =>
      JSON.parse(read(`packages/${name.replace('@wxseal/', '')}/package.json`)) as { dependencies?: Record<string, string>; exports?: Record<string, unknown> };
    const seen = new Set<string>();
    const queue = ['@wxseal/cli'];
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      for (const dep of Object.keys(manifest(name).dependencies ?? {})) if (dep.startsWith('@wxseal/')) queue.push(dep);
    }
    assert.ok(seen.has('@wxseal/gateway'));
    // The console is private: the gateway carries its build in dist/console (bundle-console).
    assert.ok(!seen.has('@wxseal/console'), 'the private @wxseal/console is no runtime dependency of the CLI');
    const sourceImports = new Map<string, Set<string>>();
    for (const name of seen) {
      const dir = join(root, 'packages', name.replace('@wxseal/', ''), 'src');
      if (!existsSync(dir)) continue;
      const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tsx?$/.test(f)).map((f) => join(dir, f));
      for (const f of files) {
        for (const m of readFileSync(f, 'utf8').matchAll(/from '(@wxseal\/[a-z-]+)(\/[a-z-]+)?'|import\('(@wxseal\/[a-z-]+)(\/[a-z-]+)?'\)/g)) {
          const pkg = m[1] ?? m[3]!;
          const sub = `.${m[2] ?? m[4] ?? ''}`;
          if (!sourceImports.has(pkg)) sourceImports.set(pkg, new Set());
          sourceImports.get(pkg)!.add(sub);
        }
      }
    }
    for (const [pkg, subs] of sourceImports) {
      const exports = manifest(pkg).exports ?? {};
      for (const sub of subs) {
        const entry = exports[sub] as Record<string, string> | string | undefined;
        const target = typeof entry === 'string' ? entry : entry?.default;
        assert.ok(target !== undefined, `${pkg}${sub.slice(1)} has no default export condition: the image cannot load it`);
        assert.match(target, /^\.\/dist\//, `${pkg}${sub.slice(1)} → ${target}`);
      }
    }
    assert.match(read('packages/cli/bin/wxseal.js'), /from '\.\.\/dist\/main\.js'/);
    assert.ok(statSync(join(root, 'packages/cli/bin/wxseal.js')).mode & 0o111, 'the bin is executable (the image links it as /usr/local/bin/wxseal)');
  });
});

describe('.dockerignore', () => {
  const ignored = dockerignoreMatcher(read('.dockerignore'));

  test('keeps dependencies, build output, git, state and keys out of the context', () => {
    for (const path of ['node_modules/x', 'packages/gateway/node_modules/x', '.git/HEAD', 'packages/gateway/dist/index.js', 'deploy/secrets/wxseal-master-keys', 'wxseal/server-private.pem', 'keys/server.pem', '.wxseal/dev/admin-token.txt', 'wxseal-devices.db', 'examples/wxseal-admin/audit.jsonl']) {
      assert.ok(ignored(path), `${path} reaches the build context`);
    }
  });

  test('lets in every tracked file of the packages the build compiles', () => {
    const files = execFileSync('git', ['-C', root, 'ls-files', 'packages', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.base.json', 'scripts/postinstall.sh', 'deploy/docker-entrypoint.sh'], { encoding: 'utf8' }).split('\n').filter((f) => f !== '' && !/\/test\//.test(f));
    assert.ok(files.length > 100);
    const excluded = files.filter(ignored);
    assert.deepEqual(excluded, []);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = loadCompose();
  const services = compose.services;
  const gateways = composeGateways();

  const commandOf = (s: ComposeService): string => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
  const redisServers = Object.entries(services).filter(([, s]) => /^redis-server\b/.test(commandOf(s)));
  const master = redisServers.filter(([, s]) => !/--replicaof\b/.test(commandOf(s)));
  const replicas = redisServers.filter(([, s]) => /--replicaof\b/.test(commandOf(s)));
  const sentinels = Object.entries(services).filter(([, s]) => /redis-sentinel|--sentinel/.test(commandOf(s)));
  const postgres = Object.entries(services).filter(([, s]) => s.image?.startsWith('postgres:'));

  test('runs three gateways from deploy/Dockerfile, a Redis master, a replica of it, three Sentinels and PostgreSQL', () => {
    assert.equal(gateways.length, 3);
    assert.equal(master.length, 1);
    assert.equal(replicas.length, 1);
    assert.match(commandOf(replicas[0]![1]), new RegExp(`--replicaof ${master[0]![0]} 6379\\b`));
    assert.equal(sentinels.length, 3);
    for (const [name, s] of sentinels) {
      const m = /sentinel monitor (\S+) (\S+) (\d+) (\d+)/.exec(commandOf(s));
      assert.ok(m, `${name} monitors a master`);
      assert.equal(m[2], master[0]![0]);
      assert.ok(Number(m[4]) >= 2 && Number(m[4]) <= 3, 'a quorum of 2 of the 3 Sentinels');
    }
    assert.equal(postgres.length, 1);
  });

  test('the config\'s Sentinels and master name are the Sentinel services of the file and the master they monitor', () => {
    assert.ok(config.nonceStore.type === 'redis' && config.nonceStore.topology.kind === 'sentinel');
    const { sentinels: endpoints, name } = config.nonceStore.topology;
    assert.deepEqual(endpoints.map((e) => e.host).sort(), sentinels.map(([n]) => n).sort());
    for (const [service, s] of sentinels) {
      const m = /sentinel monitor (\S+) /.exec(commandOf(s));
      assert.equal(m?.[1], name, `${service} monitors the master group the gateways ask for`);
      const port = endpoints.find((e) => e.host === service)?.port;
      assert.match(commandOf(s), new RegExp(`^port ${port}$`, 'm'));
      assert.match(commandOf(s), /^sentinel resolve-hostnames yes$/m, 'service names, not IPs, in a compose network');
    }
  });

  test('every gateway waits for healthy dependencies, each of which has a healthcheck, and has a healthcheck of its own', () => {
    const deps = [master[0]![0], replicas[0]![0], postgres[0]![0], ...sentinels.map(([n]) => n)];
    for (const [name, g] of gateways) {
      assert.ok(g.depends_on && !Array.isArray(g.depends_on), `${name}: depends_on with conditions`);
      for (const dep of deps) assert.equal(g.depends_on[dep]?.condition, 'service_healthy', `${name} waits for ${dep} to be healthy`);
      for (const [dep, { condition }] of Object.entries(g.depends_on)) {
        if (condition === 'service_healthy') assert.ok(services[dep]?.healthcheck?.test, `${dep} has a healthcheck`);
      }
      assert.match(JSON.stringify(g.healthcheck?.test), new RegExp(`:${fleetRaw.listeners.admin.port}/readyz`));
    }
  });

  test('mounts the shared config where the image reads it, publishes the public port only, and outlives the drain on stop', () => {
    const ports: string[] = [];
    for (const [name, g] of gateways) {
      assert.ok(g.volumes?.includes(`./gateway.fleet.yaml:${CONFIG_PATH_IN_IMAGE}:ro`), `${name} mounts gateway.fleet.yaml`);
      for (const p of g.ports ?? []) {
        assert.match(p, new RegExp(`:${fleetRaw.listeners.public.port}$`), `${name} publishes only the public listener`);
        ports.push(p);
      }
      const grace = /^(\d+)s$/.exec(g.stop_grace_period ?? '');
      assert.ok(grace && Number(grace[1]) * 1000 > fleetRaw.shutdown.drainTimeoutMs, `${name}: stop_grace_period longer than the drain`);
      assert.equal(g.read_only, true);
      assert.ok(g.tmpfs?.some((t) => fleetRaw.admin.stateDir.startsWith(t.split(':')[0]!)), `${name}: admin.stateDir is writable`);
      assert.match(g.user ?? '', /^[1-9]\d*:\d+$/);
    }
    assert.equal(new Set(ports).size, 3);
  });

  test('hands every secret over as a file (compose secrets), never as an environment value', () => {
    for (const [name, g] of gateways) {
      const mounted = new Set((g.secrets ?? []).map((s) => (typeof s === 'string' ? s : (s.target ?? s.source))));
      const needed = [...secretPathsIn(fleetYaml), ...Object.values(envOf(g)).flatMap(secretPathsIn)];
      for (const s of needed) assert.ok(mounted.has(s), `${name} lacks the secret ${s}`);
      for (const [k, v] of Object.entries(envOf(g))) {
        assert.ok(k.endsWith('__FILE') || k.endsWith('_FILE'), `${name}: ${k} carries a value, not a file`);
        assert.match(v, /^\/run\/secrets\//);
      }
    }
    for (const [name, s] of Object.entries(compose.secrets ?? {})) {
      assert.match(s.file ?? '', /^\.\/secrets\//, `secret ${name} is a file in deploy/secrets`);
      assert.equal(s.environment, undefined);
    }
    assert.match(read('deploy/.gitignore'), /^\/secrets\/$/m);
    const generated = readFileSync(join(root, 'deploy/generate-secrets.sh'), 'utf8');
    for (const name of Object.keys(compose.secrets ?? {})) assert.match(generated, new RegExp(`write ${name.replace('.', '\\.')}\\b`), `generate-secrets.sh writes ${name}`);
  });

  test('Redis keeps what it acknowledged: the config both Redis servers run has AOF, noeviction and min-replicas-to-write', () => {
    const conf = read('deploy/redis/redis.conf');
    assert.match(conf, /^appendonly yes$/m);
    assert.match(conf, /^appendfsync (everysec|always)$/m);
    assert.match(conf, /^maxmemory-policy noeviction$/m);
    assert.match(conf, /^min-replicas-to-write [1-9]$/m);
    for (const [name, s] of [...master, ...replicas]) {
      assert.match(commandOf(s), /redis-server \/usr\/local\/etc\/redis\/redis\.conf/);
      assert.ok(s.volumes?.includes('./redis/redis.conf:/usr/local/etc/redis/redis.conf:ro'), `${name} mounts redis.conf`);
    }
  });
});

describe('deploy/k8s', () => {
  const objects = loadK8s();
  const one = (kind: string, name?: string): K8sObject => {
    const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
    return found[0]!;
  };
  interface Probe { httpGet?: { path: string; port: string | number } }
  interface Container {
    name: string;
    ports: { name: string; containerPort: number }[];
    env?: { name: string; value?: string; valueFrom?: unknown }[];
    envFrom?: unknown[];
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsUser?: number };
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  }
  interface PodSpec {
    terminationGracePeriodSeconds: number;
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
    containers: Container[];
    volumes: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] }; configMap?: { name: string; items?: { key: string; path: string }[] }; emptyDir?: unknown }[];
    affinity?: { podAntiAffinity?: unknown };
    topologySpreadConstraints?: unknown[];
  }
  const deployment = one('Deployment');
  const dspec = deployment.spec as { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  const pod = dspec.template.spec;
  const podLabels = dspec.template.metadata.labels;
  const gateway = pod.containers[0]!;
  const selects = (selector: Record<string, string> | undefined): boolean =>
    selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  const portOf = (p: string | number): number => (typeof p === 'number' ? p : gateway.ports.find((x) => x.name === p)!.containerPort);

  test('the Deployment runs at least three replicas it selects, spread over nodes', () => {
    assert.ok(dspec.replicas >= 3);
    assert.ok(selects(dspec.selector.matchLabels));
    assert.ok(pod.affinity?.podAntiAffinity || (pod.topologySpreadConstraints?.length ?? 0) > 0);
    assert.equal(pod.containers.length, 1);
  });

  test('readiness is /readyz and liveness /healthz, both on the admin port of the config', () => {
    assert.equal(gateway.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(gateway.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(portOf(gateway.readinessProbe.httpGet.port), fleetRaw.listeners.admin.port);
    assert.equal(portOf(gateway.livenessProbe.httpGet.port), fleetRaw.listeners.admin.port);
    assert.deepEqual(gateway.ports.map((p) => p.containerPort).sort(), [fleetRaw.listeners.public.port, fleetRaw.listeners.admin.port].sort());
  });

  test('the termination grace period covers the preStop delay and the whole drain', () => {
    const preStop = gateway.lifecycle?.preStop;
    const delay = preStop?.sleep?.seconds ?? Number(/^sleep$/.test(preStop?.exec?.command[0] ?? '') ? preStop?.exec?.command[1] : NaN);
    assert.ok(delay > 0, 'a preStop delay so the load balancer drops the pod before the drain');
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > fleetRaw.shutdown.drainTimeoutMs, 'terminationGracePeriodSeconds × 1000 > shutdown.drainTimeoutMs');
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > fleetRaw.shutdown.drainTimeoutMs + delay * 1000, 'and also the preStop delay');
  });

  test('non-root, read-only root filesystem, no privilege escalation, resources set; admin.stateDir on a writable volume', () => {
    assert.equal(pod.securityContext?.runAsNonRoot ?? gateway.securityContext?.runAsNonRoot, true);
    assert.notEqual(pod.securityContext?.runAsUser ?? gateway.securityContext?.runAsUser, 0);
    assert.equal(gateway.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(gateway.securityContext?.allowPrivilegeEscalation, false);
    assert.ok(gateway.resources?.requests?.cpu && gateway.resources.requests.memory && gateway.resources.limits?.memory);
    const writable = gateway.volumeMounts.filter((m) => pod.volumes.find((v) => v.name === m.name)?.emptyDir !== undefined);
    assert.ok(writable.some((m) => fleetRaw.admin.stateDir.startsWith(`${m.mountPath}/`)));
  });

  test('secrets are files of a Secret volume, never environment values, and cover every file the config and the entrypoint read', () => {
    assert.ok((gateway.env ?? []).every((e) => e.valueFrom === undefined), 'no env valueFrom');
    assert.equal(gateway.envFrom, undefined);
    const volume = pod.volumes.find((v) => v.secret !== undefined);
    assert.ok(volume?.secret, 'a Secret volume');
    const mount = gateway.volumeMounts.find((m) => m.name === volume.name);
    assert.equal(mount?.mountPath, '/run/secrets');
    assert.equal(mount.readOnly, true);
    const provided = new Set((volume.secret.items ?? []).map((i) => i.path));
    const needed = [...secretPathsIn(fleetYaml), ...(gateway.env ?? []).flatMap((e) => secretPathsIn(e.value ?? ''))];
    for (const s of needed) assert.ok(provided.has(s), `the Secret volume lacks ${s}`);
    // The same files compose hands over.
    assert.deepEqual([...provided].sort(), [...new Set(composeGateways()[0]![1].secrets!.map((s) => (typeof s === 'string' ? s : s.source)))].sort());
  });

  test('the ConfigMap holds deploy/gateway.fleet.yaml byte for byte, mounted where the image reads its config', () => {
    const cm = one('ConfigMap');
    assert.equal(cm.data?.['gateway.yaml'], fleetYaml);
    const volume = pod.volumes.find((v) => v.configMap?.name === cm.metadata.name);
    assert.ok(volume, 'the Deployment mounts the ConfigMap');
    const mount = gateway.volumeMounts.find((m) => m.name === volume.name)!;
    const item = volume.configMap!.items?.find((i) => i.key === 'gateway.yaml');
    assert.equal(join(mount.mountPath, item?.path ?? 'gateway.yaml'), CONFIG_PATH_IN_IMAGE);
  });

  test('the public Service selects the pods and exposes the public port only; the admin port stays inside the cluster', () => {
    const services = objects.filter((o) => o.kind === 'Service');
    for (const s of services) {
      const spec = s.spec as { type?: string; selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] };
      assert.ok(selects(spec.selector), `${s.metadata.name} selects the Deployment's pods`);
      const targets = spec.ports.map((p) => portOf(p.targetPort));
      if (targets.includes(fleetRaw.listeners.admin.port)) assert.equal(spec.type ?? 'ClusterIP', 'ClusterIP', `${s.metadata.name} would expose the admin port`);
    }
    const pub = services.filter((s) => (s.spec as { ports: { targetPort: string | number }[] }).ports.some((p) => portOf(p.targetPort) === fleetRaw.listeners.public.port));
    assert.equal(pub.length, 1);
    assert.ok((pub[0]!.spec as { ports: unknown[] }).ports.length === 1);
  });

  test('the PodDisruptionBudget selects the pods and keeps at least two of three', () => {
    const pdb = one('PodDisruptionBudget');
    const spec = pdb.spec as { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
    assert.ok(selects(spec.selector.matchLabels));
    const keeps = spec.minAvailable ?? dspec.replicas - (spec.maxUnavailable ?? dspec.replicas);
    assert.ok(keeps >= 2, `keeps ${keeps}`);
  });

  test('the NetworkPolicy, if any, applies to the pods and admits the admin port only from a named source', () => {
    for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
      const spec = np.spec as { podSelector: { matchLabels: Record<string, string> }; ingress: { from?: unknown[]; ports: { port: string | number }[] }[] };
      assert.ok(selects(spec.podSelector.matchLabels));
      for (const rule of spec.ingress) {
        if (rule.ports.some((p) => portOf(p.port) === fleetRaw.listeners.admin.port)) assert.ok((rule.from?.length ?? 0) > 0, 'the admin port is open to everyone');
      }
    }
  });

  test('every object is plain YAML for kubectl apply (apiVersion, kind, metadata.name; no template syntax)', () => {
    assert.ok(objects.length >= 5);
    for (const o of objects) {
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, JSON.stringify(o).slice(0, 80));
    }
    for (const name of readdirSync(join(root, 'deploy/k8s'))) assert.doesNotMatch(read(`deploy/k8s/${name}`), /\{\{/, `${name} is a template`);
  });
});
