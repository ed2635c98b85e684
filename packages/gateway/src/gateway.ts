import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, BlockList } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HEADERS, WxsealError, rejectionResponse, type WireErrorCode, type WireResponse } from '@wxseal/protocol';
import {
  ServerKeyRing,
  SessionKeyCache,
  StaticKeyResolver,
  createVerifier,
  headersFromRaw,
  isVerificationFailure,
  readRequestBody,
  sendWireResponse,
  type ResponseInput,
  type VerifiedRequest,
  type Verifier,
  type VerifierDependency,
} from '@wxseal/server';
import type { Registry } from 'prom-client';
import { MAX_HEADER_COUNT, loadGatewayConfig, markLoaded, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { GATEWAY_ERROR_STATUS, GatewayConfigError, gatewayErrorBody, type GatewayErrorCode } from './errors.js';
import {
  REQUEST_ID_HEADER,
  addIdentityHeaders,
  clientAddressOf,
  firstValue,
  forwardRequestHeaders,
  forwardResponseHeaders,
  incomingRequestId,
  trustedProxyList,
  type OutgoingHeaders,
} from './headers.js';
import { gatewayLogger, type Logger } from './logger.js';
import { GatewayMetrics, type RequestOutcome } from './metrics.js';
import { DeviceEndpoints } from './device-endpoints.js';
import { CompositeKeyResolver, DeviceRuntime, type GatewayDevices } from './devices.js';
import { createNonceBackend, type NonceBackend } from './nonce.js';
import { RouteTable, unsafePathReason, upstreamTarget, type Route } from './routes.js';
import { Cancel, UpstreamFailure, UpstreamPools, isClientGone, requestBuffered, streamThrough } from './upstream.js';
import { AdminApi } from './admin/api.js';
import type { CertificateInventory } from './admin/certificates.js';
import { LastSeen } from './admin/devices-service.js';
import { sendJson as sendAdminJson } from './admin/http.js';
import { AdminState } from './admin/state.js';
import { LiveStats, type StatsOutcome } from './admin/stats.js';

export interface StartGatewayOptions {
  /** A pino logger; the gateway logs through a child of it with redaction. Default: JSON on stdout. */
  logger?: Logger;
  /** Clock in Unix ms for the verifier, the device registry and its cache (default Date.now); tests inject one. */
  now?: () => number;
  /** What the admin API lists under /certificates (e.g. an adapted @wxseal/wechatpay CertificateManager). */
  certificateInventory?: CertificateInventory;
}

export interface RunningGateway {
  /** Base URL of the public listener, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin listener (/healthz, /readyz, /metrics). */
  readonly adminUrl: string;
  /** The config in force (after the last successful reload). */
  readonly config: GatewayConfig;
  /** This gateway's Prometheus registry (also served on `${adminUrl}/metrics`). */
  readonly registry: Registry;
  /** The device registry and key lookup, when the config has a `devices` section. */
  readonly devices: GatewayDevices | undefined;
  /**
   * Re-reads the config file (or takes `next`), validates it and swaps client credentials, server
   * keys, routes and limits without dropping a connection or an in-flight request. On any error
   * the current config stays in force; the error is logged and the promise rejects with it.
   * Listeners, the nonce store, the session key cache and the log level need a restart.
   */
  reload(next?: string | GatewayConfigInput | GatewayConfig): Promise<void>;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight requests finish (at most
   * `shutdown.drainTimeoutMs`), then closes the remaining connections, the upstream pools and Redis.
   */
  close(): Promise<void>;
}

/** Starts a gateway: validates the config (a path, an object or a loaded config), connects, listens. */
export async function startGateway(config: string | GatewayConfigInput | GatewayConfig, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const gateway = new Gateway(loadGatewayConfig(config), options);
  await gateway.start();
  return gateway;
}

/** What a request is verified and routed with; swapped whole on reload. */
interface State {
  readonly config: GatewayConfig;
  readonly routes: RouteTable;
  readonly verifier: Verifier;
  readonly trustedProxies: BlockList | undefined;
}

/** One request on the public listener, from its arrival to its log line. */
interface RequestScope {
  readonly started: number;
  /** The client's valid `x-request-id`, or a new UUID: sent to the upstream, returned, logged. */
  readonly requestId: string;
  /** The socket's peer, or the client behind a trusted proxy (config `trustedProxies`). */
  readonly clientAddress: string | undefined;
  /**
   * Set as soon as the verifier accepted the request, i.e. its nonce is spent: from then on any
   * failure is answered sealed or signed with the request's keys (WXSEAL_GATEWAY_INTERNAL_ERROR),
   * never with an unsigned 5xx the client could not tell from a forgery.
   */
  verified: VerifiedRequest | undefined;
  verifier: Verifier | undefined;
  /** What the request was doing, for the log line of an unexpected failure. */
  stage: string;
  route: string;
}

/** The body of an unexpected failure after verification; sealed or signed like any answer. */
const INTERNAL_ERROR_ANSWER: ResponseInput = Object.freeze({
  status: GATEWAY_ERROR_STATUS.WXSEAL_GATEWAY_INTERNAL_ERROR,
  contentType: 'application/json',
  body: gatewayErrorBody('WXSEAL_GATEWAY_INTERNAL_ERROR'),
});

/**
 * Node checks headersTimeout/requestTimeout on a timer (30 s by default), so a slow client was cut
 * up to 30 s late. Checking at a quarter of the shorter timeout, at most every second, enforces
 * both within a second of their setting.
 */
export function connectionsCheckingIntervalMs(headersTimeoutMs: number, requestTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4)));
}

const RESTART_ONLY = ['listeners', 'nonceStore', 'sessionKeyCache', 'log', 'devices', 'admin'] as const;

/** A gateway code as plain JSON, for requests nothing can authenticate (passthrough, unverified). */
function gatewayErrorResponse(code: GatewayErrorCode): WireResponse {
  return { status: GATEWAY_ERROR_STATUS[code], headers: { 'content-type': 'application/json' }, body: gatewayErrorBody(code) };
}

function urlOf(server: Server): string {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

/** True when the request announces a body (which a refusal would leave unread). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const UPSTREAM_OUTCOME: Record<GatewayErrorCode, RequestOutcome> = {
  WXSEAL_UPSTREAM_UNAVAILABLE: 'upstream_unavailable',
  WXSEAL_UPSTREAM_TIMEOUT: 'upstream_timeout',
  WXSEAL_UPSTREAM_RESPONSE_TOO_LARGE: 'upstream_too_large',
  WXSEAL_UPSTREAM_BAD_RESPONSE: 'upstream_bad_response',
  WXSEAL_GATEWAY_INTERNAL_ERROR: 'internal_error',
};

/** Logs at most one line per `intervalMs` for a recurring failure, with how many were folded in. */
class Throttled {
  #last = 0;
  #suppressed = 0;
  constructor(private readonly intervalMs: number) {}
  run(log: (suppressed: number) => void): void {
    const now = Date.now();
    if (now - this.#last < this.intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#last = now;
    const n = this.#suppressed;
    this.#suppressed = 0;
    log(n);
  }
}

function errSummary(err: unknown): { code?: string; message: string } {
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? { code, message } : { message };
}

/**
 * An unexpected error as logged for a request: its name, code and message, with quoted parts of the
 * message cut (V8 quotes the input it failed on, e.g. JSON.parse's, which could be plaintext) and
 * the rest bounded. Never the stack's arguments, a body or a header value.
 */
function requestErrSummary(err: unknown): { name: string; code?: string; message: string } {
  const name = err instanceof Error ? err.name : typeof err;
  const code = (err as { code?: unknown })?.code;
  const raw = err instanceof Error ? err.message : '';
  const message = raw.replace(/"[^"]*"|'[^']*'|`[^`]*`/g, '…').slice(0, 200);
  return typeof code === 'string' ? { name, code, message } : { name, message };
}

class Gateway implements RunningGateway {
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics;
  readonly #pools = new UpstreamPools();
  readonly #nonce: NonceBackend;
  readonly #sessionKeyCache: SessionKeyCache | undefined;
  readonly #public: Server;
  readonly #admin: Server;
  #state: State;
  #inFlight = 0;
  #draining = false;
  #closing: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;
  readonly #redisErrors = new Throttled(10_000);
  readonly #storeErrors = new Throttled(10_000);
  readonly #dependencyErrors = new Throttled(10_000);
  readonly #deviceErrors = new Throttled(10_000);
  readonly #now: () => number;
  readonly #devices: DeviceRuntime | undefined;
  readonly #deviceEndpoints: DeviceEndpoints | undefined;
  readonly #adminState: AdminState | undefined;
  readonly #adminApi: AdminApi | undefined;
  readonly #stats: LiveStats | undefined;
  readonly #lastSeen: LastSeen | undefined;

  constructor(config: GatewayConfig, options: StartGatewayOptions) {
    this.#log = gatewayLogger(options.logger, config.log.level);
    this.#now = options.now ?? Date.now;
    if (config.admin) {
      // Before #buildState: the admin's secrets and server keys are overlaid on the config's.
      this.#adminState = new AdminState(config.admin.stateDir, this.#now);
      this.#stats = new LiveStats(this.#now);
      this.#lastSeen = new LastSeen();
    }
    this.#sessionKeyCache = config.sessionKeyCache ? new SessionKeyCache(config.sessionKeyCache) : undefined;
    this.#metrics = new GatewayMetrics({
      nonceStoreUp: () => this.#nonce.up(),
      sessionKeyCache: () => {
        const c = this.#sessionKeyCache;
        return c ? { hits: c.hits, misses: c.misses, size: c.size } : undefined;
      },
    });
    this.#nonce = createNonceBackend(config.nonceStore, {
      onStoreError: (err) => {
        const code = err instanceof WxsealError ? err.code : 'WXSEAL_NONCE_STORE_UNAVAILABLE';
        this.#metrics.nonceStoreErrors.inc({ code });
        this.#storeErrors.run((suppressed) => this.#log.warn({ code, suppressed }, 'nonce store failed; requests are refused (fail closed)'));
      },
      onRedisError: (err) => {
        this.#redisErrors.run((suppressed) => this.#log.warn({ err: errSummary(err), suppressed }, 'redis connection error'));
      },
    });
    if (config.devices) {
      this.#devices = new DeviceRuntime(config.devices, {
        now: this.#now,
        onError: (err, component) => {
          this.#deviceErrors.run((suppressed) => this.#log.warn({ component, err: errSummary(err), suppressed }, 'device registry or cache failed'));
        },
      });
      this.#deviceEndpoints = new DeviceEndpoints({
        config: config.devices,
        runtime: this.#devices,
        nonceStore: this.#nonce.store,
        nonceTimeoutMs: this.#nonce.verifierTimeoutMs ?? 5_000,
        windowSeconds: config.limits.windowSeconds,
        // Read per call: a reload may change the clients.
        isClientKeyId: (keyId) => this.#state.config.clients.some((c) => c.keyId === keyId),
        now: this.#now,
      });
    }
    this.#state = this.#buildState(config);
    if (config.admin) {
      this.#adminApi = new AdminApi({
        config: config.admin,
        state: this.#adminState!,
        stats: this.#stats!,
        lastSeen: this.#lastSeen!,
        log: this.#log,
        now: this.#now,
        gatewayConfig: () => this.#state.config,
        devices: this.#devices?.repository,
        certificates: options.certificateInventory,
        applyState: () => {
          this.#state = this.#buildState(this.#state.config);
        },
        ownOrigins: () => this.#adminOrigins,
      });
    }
    const p = config.listeners.public;
    this.#public = createServer(
      {
        requestTimeout: p.requestTimeoutMs,
        headersTimeout: p.headersTimeoutMs,
        keepAliveTimeout: p.keepAliveTimeoutMs,
        connectionsCheckingInterval: connectionsCheckingIntervalMs(p.headersTimeoutMs, p.requestTimeoutMs),
      },
      (req, res) => this.#onRequest(req, res),
    );
    // Node drops the header fields beyond maxHeadersCount silently. One more than the largest
    // limit the config accepts, so that a request over the configured limit is seen (and refused
    // with 431) rather than cut to what fits — also after a reload raised the limit, since Node
    // reads this once per connection.
    this.#public.maxHeadersCount = MAX_HEADER_COUNT + 1;
    this.#admin = createServer((req, res) => {
      this.#onAdmin(req, res).catch((err) => {
        this.#log.error({ err: errSummary(err) }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
  }

  // Kept from start(): the addresses are gone once the servers close.
  #url = '';
  #adminUrl = '';
  #adminOrigins: string[] = [];

  get url(): string {
    return this.#url;
  }

  get adminUrl(): string {
    return this.#adminUrl;
  }

  get config(): GatewayConfig {
    return this.#state.config;
  }

  get registry(): Registry {
    return this.#metrics.registry;
  }

  get devices(): GatewayDevices | undefined {
    return this.#devices;
  }

  async start(): Promise<void> {
    const config = this.#state.config;
    try {
      if (config.nonceStore.type === 'redis') {
        // Wait (bounded) for the first connection so the first requests are not refused needlessly;
        // without Redis the gateway still starts, refuses wxseal requests and reports not ready.
        const ok = await this.#nonce.waitReady(config.nonceStore.connectTimeoutMs);
        if (!ok) this.#log.warn({ redis: config.nonceStore.displayUrl }, 'redis is not reachable yet; wxseal requests are refused until it is');
      }
      // The Bloom filter is built before traffic: until then every unknown serial would reach SQL.
      await this.#devices?.start();
      await listen(this.#public, config.listeners.public.host, config.listeners.public.port);
      await listen(this.#admin, config.listeners.admin.host, config.listeners.admin.port);
      this.#url = urlOf(this.#public);
      this.#adminUrl = urlOf(this.#admin);
      this.#adminOrigins = ownOrigins(this.#admin);
    } catch (err) {
      this.#public.close();
      this.#admin.close();
      this.#adminApi?.close();
      await this.#nonce.close();
      await this.#pools.close(0);
      await this.#devices?.close();
      throw err;
    }
    this.#log.info(
      {
        url: this.url,
        adminUrl: this.adminUrl,
        routes: this.#state.routes.routes.map((r) => ({ name: r.name, prefix: r.prefix, mode: r.mode, upstream: r.origin })),
        clients: config.clients.length,
        serverKeys: config.serverKeys.map((k) => k.id),
        ...(config.admin ? { admin: { api: `${this.#adminUrl}/admin/api/v1`, console: `${this.#adminUrl}/console/`, stateDir: config.admin.stateDir } } : {}),
        nonceStore: config.nonceStore.type === 'redis' ? { type: 'redis', url: config.nonceStore.displayUrl } : { type: 'memory' },
        ...(config.devices
          ? {
              devices: {
                database: config.devices.database.displayUrl,
                redis: config.devices.redis?.displayUrl,
                activation: config.devices.activation.enabled ? config.devices.activation.path : false,
                rotation: config.devices.rotation.enabled ? config.devices.rotation.path : false,
              },
            }
          : {}),
      },
      'gateway listening',
    );
  }

  #buildState(config: GatewayConfig): State {
    const routes = new RouteTable(config.routes);
    // With an admin section, the secrets and server keys added or retired through the admin API
    // (persisted in its stateDir) are overlaid on the config's, here: at startup, after every
    // reload and after every admin change.
    const clients = new StaticKeyResolver(
      this.#adminState
        ? this.#adminState.clients(config.clients)
        : config.clients.map((c) => ({
            keyId: c.keyId,
            revoked: c.revoked,
            ...(c.allowedModes ? { allowedModes: c.allowedModes } : {}),
            secrets: c.secrets.map((s) => ({
              secret: s.secret,
              ...(s.id !== undefined ? { id: s.id } : {}),
              ...(s.notBefore !== undefined ? { notBefore: s.notBefore } : {}),
              ...(s.notAfter !== undefined ? { notAfter: s.notAfter } : {}),
            })),
          })),
    );
    const keys = this.#devices ? new CompositeKeyResolver(clients, this.#devices.resolver, config.devices?.allowedModes) : clients;
    const serverKeyInputs = this.#adminState ? this.#adminState.serverKeys(config.serverKeys) : config.serverKeys.map((k) => ({ id: k.id, privateKey: k.privateKey }));
    const serverKeys = serverKeyInputs.length > 0 ? new ServerKeyRing(serverKeyInputs) : undefined;
    // The verifier's bound is the largest of any route; each route reads at most its own.
    const maxBodyBytes = Math.max(config.limits.maxBodyBytes, ...config.routes.map((r) => r.maxBodyBytes));
    const verifier = createVerifier({
      keys,
      nonceStore: this.#nonce.store,
      ...(serverKeys ? { serverKeys } : {}),
      allowedModes: serverKeys ? ['sealed', 'signed'] : ['signed'],
      windowSeconds: config.limits.windowSeconds,
      maxBodyBytes,
      now: () => Math.floor(this.#now() / 1000),
      ...(this.#nonce.verifierTimeoutMs !== undefined ? { nonceStoreTimeoutMs: this.#nonce.verifierTimeoutMs } : {}),
      ...(this.#sessionKeyCache ? { sessionKeyCache: this.#sessionKeyCache } : {}),
      onDependencyError: (err: unknown, dependency: VerifierDependency) => {
        this.#dependencyErrors.run((suppressed) => this.#log.warn({ dependency, err: errSummary(err), suppressed }, 'verifier dependency failed'));
      },
    });
    return { config, routes, verifier, trustedProxies: trustedProxyList(config.trustedProxies) };
  }

  // ------------------------------------------------------------------------------------------
  // Public listener
  // ------------------------------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight++;
    this.#metrics.inFlight.inc();
    res.once('close', () => {
      this.#inFlight--;
      this.#metrics.inFlight.dec();
      if (this.#inFlight === 0) this.#onIdle?.();
    });
    const state = this.#state; // one snapshot per request: a reload never changes it midway
    const scope: RequestScope = {
      started: performance.now(),
      requestId: incomingRequestId(req.rawHeaders) ?? randomUUID(),
      clientAddress: clientAddressOf(req.socket.remoteAddress, req.rawHeaders, state.trustedProxies),
      verified: undefined,
      verifier: undefined,
      stage: 'routing',
      route: '-',
    };
    this.#handle(req, res, state, scope).catch((err: unknown) => this.#failed(req, res, scope, err));
  }

  /**
   * The answer to anything unexpected (a bug, a dependency that throws, an answer that cannot be
   * sealed): once the request verified, a sealed (or signed) 500 WXSEAL_GATEWAY_INTERNAL_ERROR with
   * the request's keys — its nonce is spent, so the client must be able to authenticate the
   * outcome; before that, the same code as plain JSON. Never throws.
   */
  #failed(req: IncomingMessage, res: ServerResponse, scope: RequestScope, err: unknown): void {
    const path = (req.url ?? '').split('?')[0]!;
    const method = req.method ?? '';
    try {
      this.#log.error(
        { requestId: scope.requestId, route: scope.route, stage: scope.stage, verified: scope.verified !== undefined, err: requestErrSummary(err) },
        'request handling failed',
      );
    } catch {
      // A failing logger must not stop the answer.
    }
    try {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      let wire: WireResponse;
      if (scope.verified !== undefined && scope.verifier !== undefined) {
        try {
          wire = scope.verifier.sealResponse(scope.verified, INTERNAL_ERROR_ANSWER);
        } catch {
          // Sealing a fixed answer cannot fail with keys that just opened the request; if it
          // did, no answer at all (the client sees a network error) beats an unsigned 5xx.
          res.destroy();
          return;
        }
      } else {
        wire = gatewayErrorResponse('WXSEAL_GATEWAY_INTERNAL_ERROR');
      }
      // Whatever the request still had on the wire is unread: its connection cannot be reused.
      this.#send(res, scope, wire, !req.complete);
      this.#done({
        scope,
        route: scope.route,
        method,
        path: scope.verified?.path ?? path,
        status: wire.status,
        outcome: 'internal_error',
        code: 'WXSEAL_GATEWAY_INTERNAL_ERROR',
        ...(scope.verified ? { verified: scope.verified } : {}),
      });
    } catch {
      res.destroy();
    }
  }

  /** While draining, every response closes its connection so clients reconnect elsewhere. */
  #closeIfDraining(res: ServerResponse): void {
    if (this.#draining && !res.headersSent) res.setHeader('connection', 'close');
  }

  /** Sends an answer the gateway made itself, with the request id. */
  #send(res: ServerResponse, scope: RequestScope, wire: WireResponse, close: boolean): void {
    this.#closeIfDraining(res);
    sendWireResponse(res, { status: wire.status, headers: { ...wire.headers, [REQUEST_ID_HEADER]: scope.requestId }, body: wire.body }, { close });
  }

  /** An unsigned section-10 rejection raised before any verifier step. */
  #reject(req: IncomingMessage, res: ServerResponse, scope: RequestScope, code: WireErrorCode, message: string, log: { path: string; outcome: RequestOutcome }): void {
    const wire = rejectionResponse(code, message, Math.floor(this.#now() / 1000));
    // A refused request's body is left unread: its connection closes.
    this.#send(res, scope, wire, hasBody(req));
    this.#done({ scope, route: scope.route, method: req.method ?? '', path: log.path, status: wire.status, outcome: log.outcome, code });
  }

  async #handle(req: IncomingMessage, res: ServerResponse, state: State, scope: RequestScope): Promise<void> {
    const target = req.url ?? '';
    const method = req.method ?? '';

    // Node stops collecting header fields at maxHeadersCount (one more than the limit): a request
    // over the limit is refused before anything reads its headers, so a repeated Wxseal-Nonce
    // cannot hide behind 2,000 junk fields.
    const maxHeaders = state.config.limits.maxHeaderCount;
    if (req.rawHeaders.length > 2 * maxHeaders) {
      return this.#reject(req, res, scope, 'WXSEAL_TOO_MANY_HEADERS', `the request has more than ${maxHeaders} header fields`, { path: '-', outcome: 'bad_request' });
    }

    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const rawQuery = q < 0 ? '' : target.slice(q + 1);
    const unsafe = unsafePathReason(path) ?? (target.includes('#') ? 'the request target holds a fragment' : undefined);
    if (unsafe !== undefined) {
      // A wxseal rejection (SPEC.md 9 step 2.6 words it the same way), readable by any client.
      return this.#reject(req, res, scope, 'WXSEAL_MALFORMED_HEADER', unsafe, { path: '-', outcome: 'bad_request' });
    }

    const devices = state.config.devices;
    if (devices && this.#deviceEndpoints) {
      // Answered before routing (the config refuses a route that covers these paths).
      if (devices.activation.enabled && path === devices.activation.path && method === 'POST') {
        return this.#activate(req, res, scope);
      }
      if (devices.rotation.enabled && path === devices.rotation.path) return this.#rotate(req, res, state, target, scope);
    }
    const route = state.routes.match(path);
    if (!route) {
      return this.#reject(req, res, scope, 'WXSEAL_ROUTE_NOT_FOUND', 'no route matches this path', { path, outcome: 'not_found' });
    }
    scope.route = route.name;
    if (route.mode === 'passthrough') return this.#passthrough(req, res, route, path, rawQuery, scope);
    return this.#wxseal(req, res, state, route, target, scope);
  }

  async #wxseal(req: IncomingMessage, res: ServerResponse, state: State, route: Route, target: string, scope: RequestScope): Promise<void> {
    const verifier = state.verifier;
    const method = req.method ?? '';
    const started = scope.started;
    let verified: VerifiedRequest;
    let failed = false;
    let failure: unknown;
    scope.stage = 'verify';
    try {
      const body = await readRequestBody(req, { limit: route.maxBodyBytes, contentLength: req.headers['content-length'] });
      const out = await verifier.verifyOrFailure({
        method,
        target,
        headers: headersFromRaw(req.rawHeaders),
        rawHeaders: req.rawHeaders,
        body,
        ...(route.modes ? { allowedModes: route.modes } : {}),
      });
      // A forged signature comes back as a value rather than an exception (no stack per forgery).
      if (isVerificationFailure(out)) {
        failed = true;
        failure = out;
      }
      verified = out as VerifiedRequest;
    } catch (err) {
      failed = true;
      failure = err;
      verified = undefined!;
    }
    if (failed) {
      this.#metrics.verification.observe({ route: route.name }, (performance.now() - started) / 1000);
      const wire = verifier.rejection(failure);
      const code = wire.headers[HEADERS.error] ?? 'WXSEAL_MALFORMED_HEADER';
      this.#metrics.rejections.inc({ route: route.name, code });
      // A body over the limit is left unread: the connection closes instead.
      this.#send(res, scope, wire, code === 'WXSEAL_BODY_TOO_LARGE');
      this.#done({ scope, route: route.name, method, path: target.split('?')[0]!, status: wire.status, outcome: 'rejected', code });
      return;
    }
    // The nonce is spent: from here on every answer is sealed or signed (#failed included).
    scope.verified = verified;
    scope.verifier = verifier;
    this.#metrics.verification.observe({ route: route.name }, (performance.now() - started) / 1000);

    // The verified identity goes first (an upstream that caps its header count still sees it),
    // then the request id, then the caller's headers: every x-wxseal-* header the caller sent is
    // dropped by forwardRequestHeaders, as are the names set here.
    scope.stage = 'upstream-headers';
    const headers: OutgoingHeaders = {};
    addIdentityHeaders(headers, verified);
    headers[REQUEST_ID_HEADER] = scope.requestId;
    forwardRequestHeaders(req.rawHeaders, 'wxseal', { remoteAddress: req.socket.remoteAddress, encrypted: false }, headers);
    // The answer is sealed as the representation itself; ask for no compression.
    headers['accept-encoding'] = 'identity';
    if (verified.contentType !== undefined) headers['content-type'] = verified.contentType;

    scope.stage = 'upstream';
    const clientGone = new Cancel();
    const onClose = (): void => {
      if (!res.writableFinished) clientGone.abort(undefined);
    };
    res.once('close', onClose);
    const upstreamStarted = performance.now();
    let answer: ResponseInput;
    let passHeaders: OutgoingHeaders = {};
    let outcome: RequestOutcome = 'forwarded';
    let gatewayCode: GatewayErrorCode | undefined;
    try {
      const up = await requestBuffered(this.#pools.get(route), {
        method: verified.method,
        path: upstreamTarget(route, verified.path, verified.rawQuery),
        headers,
        body: verified.body,
        timeoutMs: route.timeoutMs,
        maxResponseBytes: route.maxResponseBytes,
        clientGone,
      });
      this.#metrics.upstream.observe({ route: route.name, outcome: 'ok' }, (performance.now() - upstreamStarted) / 1000);
      answer = { status: up.status, contentType: up.contentType, body: up.body };
      passHeaders = forwardResponseHeaders(up.headers, verified.mode);
    } catch (err) {
      res.off('close', onClose);
      if (isClientGone(err)) {
        this.#done({ scope, route: route.name, method, path: verified.path, status: undefined, outcome: 'client_closed', verified });
        return;
      }
      // Anything but an upstream failure is the gateway's own: answered by #failed, sealed.
      if (!(err instanceof UpstreamFailure)) throw err;
      gatewayCode = err.code;
      outcome = UPSTREAM_OUTCOME[err.code];
      this.#metrics.upstream.observe({ route: route.name, outcome }, (performance.now() - upstreamStarted) / 1000);
      this.#log.warn(
        {
          requestId: scope.requestId,
          route: route.name,
          upstream: route.origin,
          code: err.code,
          reason: err.message,
          cause: err.cause === undefined ? undefined : errSummary(err.cause),
        },
        'upstream failed',
      );
      // Sealed (or signed) like any answer, so the client can tell the gateway's 502 from a forged one.
      answer = { status: GATEWAY_ERROR_STATUS[err.code], contentType: 'application/json', body: gatewayErrorBody(err.code) };
    }
    res.off('close', onClose);

    scope.stage = 'seal';
    const wire = verifier.sealResponse(verified, answer);
    if (res.destroyed) {
      this.#done({ scope, route: route.name, method, path: verified.path, status: undefined, outcome: 'client_closed', verified });
      return;
    }
    // One flat header list for writeHead, in the order setHeader calls would give, instead of a
    // setHeader per header (each validated, lower-cased and stored, then serialised again).
    scope.stage = 'respond';
    const head: Array<string | string[]> = [];
    for (const name of Object.keys(passHeaders)) head.push(name, passHeaders[name]!);
    for (const name of Object.keys(wire.headers)) head.push(name, wire.headers[name]!);
    if (passHeaders[REQUEST_ID_HEADER] === undefined) head.push(REQUEST_ID_HEADER, scope.requestId);
    if (wire.status !== 204 && wire.status !== 304) head.push('content-length', String(wire.body.length));
    // While draining, every response closes its connection (#closeIfDraining, here in the list).
    if (this.#draining) head.push('connection', 'close');
    res.writeHead(wire.status, head);
    res.end(wire.body);
    this.#done({
      scope,
      route: route.name,
      method,
      path: verified.path,
      status: wire.status,
      outcome,
      ...(gatewayCode ? { code: gatewayCode } : {}),
      verified,
      upstreamMs: performance.now() - upstreamStarted,
    });
  }

  async #activate(req: IncomingMessage, res: ServerResponse, scope: RequestScope): Promise<void> {
    scope.route = 'device-activation';
    scope.stage = 'activation';
    const out = await this.#deviceEndpoints!.activate(req, scope.clientAddress);
    const path = this.#state.config.devices!.activation.path;
    if (out.code !== undefined) this.#metrics.rejections.inc({ route: 'device-activation', code: out.code });
    this.#send(res, scope, out.wire, out.close);
    this.#done({
      scope,
      route: 'device-activation',
      method: 'POST',
      path,
      status: out.wire.status,
      outcome: out.outcome === 'activated' ? 'forwarded' : 'rejected',
      ...(out.code !== undefined ? { code: out.code } : out.outcome === 'rate_limited' ? { code: 'rate_limited' } : {}),
      ...(out.serial !== undefined ? { keyId: out.serial } : {}),
    });
  }

  /** Rotation (SPEC.md 15.7): verified like any request, answered by the handler, sealed or signed. */
  async #rotate(req: IncomingMessage, res: ServerResponse, state: State, target: string, scope: RequestScope): Promise<void> {
    const verifier = state.verifier;
    const method = req.method ?? '';
    const path = state.config.devices!.rotation.path;
    scope.route = 'device-rotation';
    scope.stage = 'verify';
    let verified: VerifiedRequest;
    try {
      const body = await readRequestBody(req, { limit: state.config.limits.maxBodyBytes, contentLength: req.headers['content-length'] });
      verified = await verifier.verify({ method, target, headers: headersFromRaw(req.rawHeaders), rawHeaders: req.rawHeaders, body });
    } catch (err) {
      const wire = verifier.rejection(err);
      const code = wire.headers[HEADERS.error] ?? 'WXSEAL_MALFORMED_HEADER';
      this.#metrics.rejections.inc({ route: 'device-rotation', code });
      this.#send(res, scope, wire, code === 'WXSEAL_BODY_TOO_LARGE');
      this.#done({ scope, route: 'device-rotation', method, path, status: wire.status, outcome: 'rejected', code });
      return;
    }
    scope.verified = verified;
    scope.verifier = verifier;
    scope.stage = 'rotation';
    const { noStore, ...answer } = await this.#deviceEndpoints!.rotate(verified, scope.clientAddress);
    scope.stage = 'seal';
    const wire = verifier.sealResponse(verified, answer);
    if (noStore) res.setHeader('cache-control', 'no-store');
    this.#send(res, scope, wire, false);
    this.#done({ scope, route: 'device-rotation', method, path, status: wire.status, outcome: 'forwarded', verified });
  }

  async #passthrough(req: IncomingMessage, res: ServerResponse, route: Route, path: string, rawQuery: string, scope: RequestScope): Promise<void> {
    const method = req.method ?? '';
    scope.stage = 'passthrough';
    const declared = Number(firstValue(req.headers['content-length']));
    const tooLarge = (): void => {
      // The section-10 rejection, Wxseal-Error included, so any wxseal client reads its code.
      const wire = rejectionResponse('WXSEAL_BODY_TOO_LARGE', `the body exceeds ${route.maxBodyBytes} bytes`, Math.floor(this.#now() / 1000));
      this.#send(res, scope, wire, true);
      this.#done({ scope, route: route.name, method, path, status: wire.status, outcome: 'body_too_large' });
    };
    if (Number.isFinite(declared) && declared > route.maxBodyBytes) return tooLarge();

    // Identity headers from outside are dropped here too: a passthrough route must not become a
    // way to reach the upstream with a forged x-wxseal-openid.
    const headers = forwardRequestHeaders(req.rawHeaders, 'passthrough', { remoteAddress: req.socket.remoteAddress, encrypted: false }, { [REQUEST_ID_HEADER]: scope.requestId });
    const upstreamStarted = performance.now();
    const result = await streamThrough(
      this.#pools.get(route),
      {
        method,
        path: upstreamTarget(route, path, rawQuery),
        headers,
        body: hasBody(req) ? req : undefined,
        maxBodyBytes: route.maxBodyBytes,
        timeoutMs: route.timeoutMs,
      },
      res,
      (upstreamHeaders) => {
        this.#closeIfDraining(res);
        const out = forwardResponseHeaders(upstreamHeaders, 'passthrough');
        if (out[REQUEST_ID_HEADER] === undefined) out[REQUEST_ID_HEADER] = scope.requestId;
        return out;
      },
    );
    const upstreamMs = performance.now() - upstreamStarted;
    switch (result.kind) {
      case 'response':
        this.#metrics.upstream.observe({ route: route.name, outcome: 'ok' }, upstreamMs / 1000);
        this.#done({ scope, route: route.name, method, path, status: result.status, outcome: 'forwarded', upstreamMs });
        return;
      case 'cut':
        this.#metrics.upstream.observe({ route: route.name, outcome: 'upstream_bad_response' }, upstreamMs / 1000);
        this.#done({ scope, route: route.name, method, path, status: result.status, outcome: 'client_closed', upstreamMs });
        return;
      case 'client-gone':
        this.#done({ scope, route: route.name, method, path, status: undefined, outcome: 'client_closed', upstreamMs });
        return;
      case 'too-large':
        return tooLarge();
      case 'failed': {
        const code = result.failure.code;
        const outcome = UPSTREAM_OUTCOME[code];
        this.#metrics.upstream.observe({ route: route.name, outcome }, upstreamMs / 1000);
        this.#log.warn({ requestId: scope.requestId, route: route.name, upstream: route.origin, code, reason: result.failure.message }, 'upstream failed');
        // Plain JSON: nothing on a passthrough route can be authenticated.
        this.#send(res, scope, gatewayErrorResponse(code), hasBody(req) && !req.readableEnded);
        this.#done({ scope, route: route.name, method, path, status: GATEWAY_ERROR_STATUS[code], outcome, code, upstreamMs });
        return;
      }
    }
  }

  /** One access-log line and the request counter. No query, body, identity or header values. */
  #done(e: {
    scope: RequestScope;
    route: string;
    method: string;
    path: string;
    status: number | undefined;
    outcome: RequestOutcome;
    code?: string;
    verified?: VerifiedRequest;
    keyId?: string;
    upstreamMs?: number;
  }): void {
    this.#metrics.requests.inc({ route: e.route, outcome: e.outcome });
    const durationMs = performance.now() - e.scope.started;
    if (this.#stats) {
      this.#stats.record(STATS_OUTCOME[e.outcome], e.outcome === 'body_too_large' ? 'WXSEAL_BODY_TOO_LARGE' : e.code, durationMs);
      // lastSeenAt of the admin API: devices only (a configured client's key id is never a serial).
      if (e.verified && this.#devices && !this.#state.config.clients.some((c) => c.keyId === e.verified!.keyId)) this.#lastSeen!.seen(e.verified.keyId, this.#now());
    }
    // The access-log line is built only when it is written (the bench and many deployments run
    // with info off).
    if (!this.#log.isLevelEnabled('info')) return;
    const entry: Record<string, unknown> = {
      requestId: e.scope.requestId,
      clientAddress: e.scope.clientAddress,
      route: e.route,
      method: e.method,
      path: e.path,
      status: e.status,
      outcome: e.outcome,
      durationMs: Math.round(durationMs * 100) / 100,
    };
    if (e.code !== undefined) entry.code = e.code;
    if (e.keyId !== undefined) entry.keyId = e.keyId;
    if (e.upstreamMs !== undefined) entry.upstreamMs = Math.round(e.upstreamMs * 100) / 100;
    if (e.verified) {
      entry.keyId = e.verified.keyId;
      entry.mode = e.verified.mode;
      if (e.verified.secretId !== undefined) entry.secretId = e.verified.secretId;
      if (e.verified.traceparent !== undefined) entry.traceparent = e.verified.traceparent;
    }
    this.#log.info(entry, 'request');
  }

  // ------------------------------------------------------------------------------------------
  // Admin listener
  // ------------------------------------------------------------------------------------------

  async #onAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (AdminApi.owns(path)) {
      if (this.#adminApi) return this.#adminApi.handle(req, res, path, q < 0 ? '' : url.slice(q + 1));
      return sendAdminJson(res, 404, { error: { code: 'ADMIN_NOT_CONFIGURED', message: 'the admin API is not configured (no admin section in the gateway config)' } });
    }
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz':
        return send(200, { status: 'ok' });
      case '/readyz': {
        const nonceStore = await this.#nonce.ready(500);
        const ready = nonceStore && !this.#draining;
        return send(ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          checks: { nonceStore: nonceStore ? 'ok' : 'unreachable', draining: this.#draining },
        });
      }
      case '/metrics': {
        const text = await this.#metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.#metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
        return;
      }
      default:
        return send(404, { error: 'not found' });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Reload and shutdown
  // ------------------------------------------------------------------------------------------

  async reload(next?: string | GatewayConfigInput | GatewayConfig): Promise<void> {
    const current = this.#state.config;
    try {
      const source = next ?? current.configPath;
      if (source === undefined) {
        throw new GatewayConfigError([{ path: '', message: 'this gateway was started from an object; pass the new config to reload()' }]);
      }
      const loaded = loadGatewayConfig(source);
      const ignored = RESTART_ONLY.filter((k) => JSON.stringify(loaded[k]) !== JSON.stringify(current[k]) || (k === 'nonceStore' && nonceUrlChanged(loaded, current)));
      // Sections that need a restart keep their running values, so `config` tells what is in force.
      const applied = markLoaded({
        ...loaded,
        listeners: current.listeners,
        nonceStore: current.nonceStore,
        sessionKeyCache: current.sessionKeyCache,
        log: current.log,
        devices: current.devices,
        admin: current.admin,
      });
      const state = this.#buildState(applied);
      this.#state = state; // atomic: requests already verified keep their own state and session keys
      this.#metrics.reloads.inc({ result: 'success' });
      this.#log.info(
        { clients: applied.clients.length, serverKeys: applied.serverKeys.map((k) => k.id), routes: applied.routes.length },
        'config reloaded',
      );
      if (ignored.length > 0) this.#log.warn({ sections: ignored }, 'these config sections changed but need a restart; the running values stay');
    } catch (err) {
      this.#metrics.reloads.inc({ result: 'failure' });
      this.#log.error({ err: errSummary(err) }, 'config reload failed; the current config stays in force');
      throw err;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const drainMs = this.#state.config.shutdown.drainTimeoutMs;
    this.#draining = true;
    this.#log.info({ inFlight: this.#inFlight, drainTimeoutMs: drainMs }, 'draining');
    const publicClosed = new Promise<void>((resolve) => this.#public.close(() => resolve()));
    this.#public.closeIdleConnections();
    const drained = await new Promise<boolean>((resolve) => {
      if (this.#inFlight === 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), drainMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    this.#onIdle = undefined;
    if (!drained) this.#log.warn({ inFlight: this.#inFlight }, 'drain timeout: closing the remaining connections');
    // Whatever is left is idle keep-alive sockets (or requests past the drain bound).
    this.#public.closeAllConnections();
    await publicClosed;
    const adminClosed = new Promise<void>((resolve) => this.#admin.close(() => resolve()));
    this.#admin.closeAllConnections();
    await adminClosed;
    await this.#pools.close(1000);
    await this.#nonce.close();
    await this.#devices?.close();
    this.#adminApi?.close();
    this.#log.info('gateway stopped');
  }
}

const STATS_OUTCOME: Record<RequestOutcome, StatsOutcome> = {
  forwarded: 'accepted',
  rejected: 'rejected',
  body_too_large: 'rejected',
  upstream_unavailable: 'upstream_error',
  upstream_timeout: 'upstream_error',
  upstream_too_large: 'upstream_error',
  upstream_bad_response: 'upstream_error',
  not_found: 'other',
  bad_request: 'other',
  client_closed: 'other',
  internal_error: 'other',
};

/** The origins a browser uses for the admin listener (its address; localhost names when it is loopback). */
function ownOrigins(server: Server): string[] {
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const out = [`http://${host}:${a.port}`];
  if (a.address === '127.0.0.1' || a.address === '::1' || a.address === '0.0.0.0' || a.address === '::') {
    out.push(`http://localhost:${a.port}`, `http://127.0.0.1:${a.port}`, `http://[::1]:${a.port}`);
  }
  return out;
}

function nonceUrlChanged(a: GatewayConfig, b: GatewayConfig): boolean {
  return a.nonceStore.type === 'redis' && b.nonceStore.type === 'redis' && a.nonceStore.url !== b.nonceStore.url;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

