/**
 * The admin API (ADMIN-API.md) and the console, on the gateway's admin listener. Order of checks
 * for every request under /admin/: security headers; the login call (Origin, rate limit, schema,
 * credentials); then a session (401 without); for non-GET an allowed Origin and the session's
 * CSRF token (403); then the route's schemas (400); then the handler. Every state-changing call,
 * refused or not, is written to the audit log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { DeviceRepository } from '@wxseal/devices';
import type { ServerKeyType } from '@wxseal/server';
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { ControlPlaneRuntime } from '../control-plane.js';
import { LoginLimiter, SESSION_COOKIE, SessionStore, checkLogin, clearedCookie, safeEqual, sessionCookie, type LoginInput, type Session } from './auth.js';
import { certificateView, type CertificateInventory, type CertificateOwner } from './certificates.js';
import type { AdminConfig } from './config.js';
import { consoleDir, serveConsole } from './console-files.js';
import { DevicesService, LastSeen } from './devices-service.js';
import { AdminError, clientAddress, parseCookies, readJson, sendError, sendJson, setSecurityHeaders } from './http.js';
import { buildOpenApi } from './openapi.js';
import { fleetStatsFor, type FleetStats } from './fleet-stats.js';
import { API_PREFIX, MAX_BODY_BYTES, matchRoute, type AdminRouteSpec } from './routes.js';
import type { CredentialState } from './state.js';
import type { StatsSource } from './stats.js';
import type { EdgeReloadResult, EdgeTls } from '../tls/edge-tls.js';

export interface AdminApiDeps {
  config: AdminConfig;
  state: CredentialState;
  /** The shared store of sessions, login failures, users and the audit log. */
  controlPlane: ControlPlaneRuntime;
  stats: StatsSource;
  lastSeen: LastSeen;
  log: Logger;
  /** Unix ms. */
  now: () => number;
  /** The gateway config in force (re-read per call: a reload may change it). */
  gatewayConfig: () => GatewayConfig;
  /** The device registry when the gateway has a devices section. */
  devices: DeviceRepository | undefined;
  certificates: CertificateInventory | undefined;
  /** The admin listener's own origins (e.g. http://127.0.0.1:9090), known once it listens. */
  ownOrigins: () => readonly string[];
  /** The public listener's TLS material, when it serves HTTPS (the /tls/edge routes). */
  edgeTls?: EdgeTls | undefined;
}

type AuditOutcome = 'ok' | 'refused' | 'failed';

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  session: Session;
  client: string;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
}

interface Result {
  status?: number;
  body?: unknown;
  target?: string;
  detail?: Record<string, unknown>;
  headers?: Record<string, string>;
}

type Handler = (ctx: Ctx) => Promise<Result>;

function fieldError(error: z.ZodError, where: string): AdminError {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const name = path === '' ? where : `${where === 'body' ? '' : `${where}.`}${path}`;
  return new AdminError('ADMIN_BAD_REQUEST', `${name}: ${issue?.message ?? 'invalid'}`);
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return {} as T;
  const r = schema.safeParse(value);
  if (!r.success) throw fieldError(r.error, where);
  return r.data;
}

export class AdminApi {
  readonly #deps: AdminApiDeps;
  readonly #sessions: SessionStore;
  readonly #limiter: LoginLimiter;
  readonly #devices: DevicesService | undefined;
  readonly #fleetStats: FleetStats;
  readonly #consoleDir: string | undefined;
  readonly #handlers: Record<string, Handler>;
  #openapi: Record<string, unknown> | undefined;

  constructor(deps: AdminApiDeps) {
    this.#deps = deps;
    const c = deps.config;
    const store = deps.controlPlane.store;
    this.#sessions = new SessionStore(store, c.sessionTtlMs, deps.now);
    this.#limiter = new LoginLimiter(store, c.loginRateLimit.maxFailures, c.loginRateLimit.windowSeconds * 1000, deps.now);
    this.#devices = deps.devices ? new DevicesService(deps.devices, deps.lastSeen) : undefined;
    this.#fleetStats = fleetStatsFor({ stats: deps.stats, controlPlane: deps.controlPlane, now: deps.now, log: deps.log });
    this.#consoleDir = c.console.enabled ? consoleDir(c.console.dir) : undefined;
    this.#handlers = this.#makeHandlers();
  }

  /** True for the paths this API answers: /admin/… and /console…. */
  static owns(path: string): boolean {
    return path === '/admin' || path.startsWith('/admin/') || path === '/console' || path.startsWith('/console/');
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
    setSecurityHeaders(res);
    if (path === '/console' || path.startsWith('/console/')) {
      if (!this.#deps.config.console.enabled) return sendError(res, new AdminError('ADMIN_NOT_CONFIGURED', 'the console is disabled (admin.console.enabled)'));
      return serveConsole(req, res, path, this.#consoleDir);
    }
    const method = req.method ?? 'GET';
    const client = clientAddress(req);
    const sub = path.startsWith(`${API_PREFIX}/`) ? path.slice(API_PREFIX.length) : undefined;
    const match = sub === undefined ? { params: {}, pathMatched: false } : matchRoute(method, sub);
    const route = match.route;
    try {
      if (route?.id === 'loginMethods') return sendJson(res, 200, { methods: this.#loginMethods() });
      if (route?.public) return await this.#login(req, res, route, client);
      const session = await this.#sessions.touch(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
      if (!session) throw new AdminError('ADMIN_UNAUTHENTICATED', 'log in first (no session, or it expired)');
      if (!route) {
        throw new AdminError('ADMIN_NOT_FOUND', match.pathMatched ? `${method} is not allowed here` : `no route ${method} ${path}`, match.pathMatched ? { status: 405 } : {});
      }
      await this.#call(req, res, route, session, match.params, rawQuery, client);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof AdminError) return sendError(res, err);
      this.#deps.log.error({ err: { message: err instanceof Error ? err.message : String(err) }, path }, 'admin request failed');
      return sendError(res, new AdminError('ADMIN_UNAVAILABLE', 'internal error', { status: 500 }));
    }
  }

  // ---------------------------------------------------------------------------------------------

  #originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (origin === 'null') return false;
    if (this.#deps.ownOrigins().includes(origin) || this.#deps.config.allowedOrigins.includes(origin)) return true;
    // The name the browser reached this listener by (a cross-site page sends its own origin, which
    // differs from the Host it targets; the SameSite cookie and the CSRF token stay required anyway).
    const host = req.headers.host;
    return host !== undefined && (origin === `http://${host}` || (this.#deps.config.cookieSecure && origin === `https://${host}`));
  }

  async #write(action: string, actor: string, outcome: AuditOutcome, client: string, extra: { target?: string; reason?: string; detail?: Record<string, unknown> } = {}): Promise<void> {
    try {
      await this.#deps.controlPlane.store.audit.append({ actor, action, outcome, client, ...extra });
    } catch (err) {
      // An audit log that cannot be written is an operator problem; it is logged loudly.
      this.#deps.log.error({ err: { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message } }, 'admin audit log write failed');
      throw new AdminError('ADMIN_UNAVAILABLE', 'the audit log cannot be written');
    }
  }

  async #login(req: IncomingMessage, res: ServerResponse, route: AdminRouteSpec, client: string): Promise<void> {
    if (!this.#originAllowed(req)) throw new AdminError('ADMIN_CSRF', 'this Origin may not call the admin API');
    const wait = await this.#limiter.retryAfter(client);
    if (wait > 0) {
      throw new AdminError('ADMIN_LOGIN_RATE_LIMITED', `too many failed logins from this address; retry in ${wait} s`, { headers: { 'retry-after': String(wait) } });
    }
    const input = parse(route.body, await readJson(req, MAX_BODY_BYTES), 'body') as LoginInput;
    const actor = await checkLogin(this.#deps.config, this.#deps.controlPlane.store, input);
    if (actor === undefined) {
      await this.#limiter.fail(client);
      await this.#write('session.login', 'user' in input ? input.user : 'token', 'refused', client, { detail: { method: 'user' in input ? 'password' : 'token' } });
      throw new AdminError('ADMIN_BAD_CREDENTIALS', 'login refused');
    }
    const session = await this.#sessions.create(actor);
    await this.#write('session.login', actor, 'ok', client, { detail: { method: 'user' in input ? 'password' : 'token' } });
    sendJson(res, 200, this.#sessionBody(session), { 'set-cookie': this.#cookie(session) });
  }

  /** What the login call can accept with this configuration. */
  #loginMethods(): Array<'token' | 'password'> {
    const out: Array<'token' | 'password'> = [];
    if (this.#deps.config.token !== undefined) out.push('token');
    if (this.#deps.config.users.length > 0) out.push('password');
    return out;
  }

  #cookie(session: Session): string {
    return sessionCookie(session, this.#deps.config.sessionTtlMs, this.#deps.config.cookieSecure);
  }

  #sessionBody(s: Session): { actor: string; csrfToken: string; expiresAt: string } {
    return { actor: s.actor, csrfToken: s.csrfToken, expiresAt: new Date(s.expiresAt).toISOString() };
  }

  async #call(req: IncomingMessage, res: ServerResponse, route: AdminRouteSpec, session: Session, rawParams: Record<string, string>, rawQuery: string, client: string): Promise<void> {
    const action = route.action;
    const refuse = async (err: AdminError, extra: { target?: string; reason?: string } = {}): Promise<never> => {
      if (action) await this.#write(action, session.actor, err.status >= 500 ? 'failed' : 'refused', client, { ...extra, detail: { code: err.code, status: err.status } });
      throw err;
    };
    if (route.method !== 'GET') {
      if (!this.#originAllowed(req)) await refuse(new AdminError('ADMIN_CSRF', 'this Origin may not call the admin API'));
      const token = req.headers['x-csrf-token'];
      if (typeof token !== 'string' || !safeEqual(token, session.csrfToken)) await refuse(new AdminError('ADMIN_CSRF', 'missing or wrong x-csrf-token header'));
    }
    let params: Record<string, string>;
    let query: Record<string, unknown>;
    let body: Record<string, unknown>;
    try {
      params = parse(route.params, rawParams, 'path') as Record<string, string>;
      query = parse(route.query, queryObject(rawQuery), 'query') as Record<string, unknown>;
      body = route.body ? (parse(route.body, (await readJson(req, route.bodyLimit ?? MAX_BODY_BYTES)) ?? {}, 'body') as Record<string, unknown>) : {};
    } catch (err) {
      if (err instanceof AdminError) await refuse(err, rawParams.serial !== undefined ? { target: rawParams.serial } : {});
      throw err;
    }
    const reason = typeof body.reason === 'string' ? body.reason : undefined;
    let result: Result;
    try {
      result = await this.#handlers[route.id]!({ req, res, session, client, params, query, body });
    } catch (err) {
      const e = err instanceof AdminError ? err : new AdminError('ADMIN_UNAVAILABLE', 'internal error', { status: 500 });
      if (!(err instanceof AdminError)) this.#deps.log.error({ err: { message: err instanceof Error ? err.message : String(err) }, route: route.id }, 'admin handler failed');
      return refuse(e, { ...targetOf(params), ...(reason !== undefined ? { reason } : {}) });
    }
    if (action) {
      await this.#write(action, session.actor, 'ok', client, {
        ...(result.target !== undefined ? { target: result.target } : targetOf(params)),
        ...(reason !== undefined ? { reason } : {}),
        ...(result.detail ? { detail: result.detail } : {}),
      });
    }
    // Sliding expiry: the cookie follows the session's idle deadline.
    const headers = route.id === 'logout' ? { 'set-cookie': clearedCookie(this.#deps.config.cookieSecure) } : { 'set-cookie': this.#cookie(session), ...result.headers };
    sendJson(res, result.status ?? route.status, result.body, headers);
  }

  #requireEdgeTls(): EdgeTls {
    if (!this.#deps.edgeTls) throw new AdminError('ADMIN_NOT_CONFIGURED', 'the public listener serves no TLS (listeners.public.tls)');
    return this.#deps.edgeTls;
  }

  #requireDevices(): DevicesService {
    if (!this.#devices) throw new AdminError('ADMIN_NOT_CONFIGURED', 'this gateway has no devices section');
    return this.#devices;
  }

  #makeHandlers(): Record<string, Handler> {
    const d = this.#deps;
    const who = (c: Ctx) => ({ actor: c.session.actor, client: c.client, reason: String(c.body.reason) });
    return {
      getSession: async (c) => ({ body: this.#sessionBody(c.session) }),
      logout: async (c) => {
        await this.#sessions.delete(c.session.id);
        return { status: 204 };
      },
      listDevices: async (c) => ({ body: await this.#requireDevices().list(c.query as never) }),
      getDevice: async (c) => ({ body: await this.#requireDevices().get(c.params.serial!) }),
      provisionDevice: async (c) => {
        const out = await this.#requireDevices().provision(String(c.body.serial), String(c.body.productId), who(c));
        return { body: out, target: out.device.serial, detail: { productId: out.device.productId, keyVersion: out.key.version } };
      },
      rotateDevice: async (c) => {
        const grace = Number(c.body.graceSeconds);
        const out = await this.#requireDevices().rotate(c.params.serial!, grace, who(c));
        return { body: out, detail: { keyVersion: out.key.version, graceSeconds: grace } };
      },
      revokeDevice: async (c) => ({ body: await this.#requireDevices().revoke(c.params.serial!, who(c)) }),
      importDevices: async (c) => {
        const rows = c.body.rows as { serial: string; key?: string }[];
        const out = await this.#requireDevices().import(String(c.body.productId), rows, who(c));
        return { body: out, target: String(c.body.productId), detail: { rows: rows.length, imported: out.imported, skipped: out.skipped, failed: out.failed.length } };
      },
      listCredentials: async () => ({ body: { credentials: d.state.credentialViews(d.gatewayConfig().clients) } }),
      addSecret: async (c) => {
        const out = await d.state.addSecret(d.gatewayConfig().clients, c.params.keyId!);
        return { body: out, target: `${c.params.keyId}/${out.secretId}` };
      },
      retireSecret: async (c) => {
        await d.state.retireSecret(d.gatewayConfig().clients, c.params.keyId!, c.params.secretId!);
        return { body: { secretId: c.params.secretId, status: 'retired' }, target: `${c.params.keyId}/${c.params.secretId}` };
      },
      listServerKeys: async () => ({ body: { keys: d.state.serverKeyViews(d.gatewayConfig().serverKeys) } }),
      rotateServerKey: async (c) => {
        const out = await d.state.rotateServerKey(c.body.type as ServerKeyType);
        return { status: 201, body: out, target: out.kid, detail: { type: out.type } };
      },
      retireServerKey: async (c) => {
        await d.state.retireServerKey(d.gatewayConfig().serverKeys, c.params.kid!);
        return { body: { kid: c.params.kid, status: 'retired' } };
      },
      listCertificates: async () => {
        if (!d.certificates) return { body: { certificates: [] } };
        let list;
        try {
          list = await d.certificates.list();
        } catch {
          throw new AdminError('ADMIN_UNAVAILABLE', 'the certificate inventory failed');
        }
        const now = d.now();
        return { body: { certificates: list.map((i) => certificateView(i, now)) } };
      },
      refreshCertificates: async (c) => {
        const owner = c.body.owner as CertificateOwner | undefined;
        const target = owner ? (owner.kind === 'wechatpay' ? `wechatpay:${owner.mchid}` : owner.kind === 'mp' ? `mp:${owner.appid}` : `tls:${owner.name}`) : 'all';
        if (!d.certificates) return { body: { refreshed: 0 }, target };
        let refreshed: number;
        try {
          refreshed = await d.certificates.refresh(owner);
        } catch {
          throw new AdminError('ADMIN_UNAVAILABLE', 'the certificate refresh failed');
        }
        return { body: { refreshed }, target, detail: { refreshed } };
      },
      listAudit: async (c) => {
        const q = c.query as { cursor?: string; limit: number; actor?: string; action?: string };
        const page = await this.#deps.controlPlane.store.audit.query({
          limit: q.limit,
          ...(q.cursor !== undefined ? { before: Number(q.cursor) } : {}),
          ...(q.actor !== undefined ? { actor: q.actor } : {}),
          ...(q.action !== undefined ? { action: q.action } : {}),
        });
        return { body: { entries: page.entries, ...(page.nextCursor !== undefined ? { nextCursor: String(page.nextCursor) } : {}) } };
      },
      getStats: async (c) => ({ body: await this.#fleetStats.view(c.query as { instance?: string }) }),
      getEdgeTls: async () => ({ body: this.#requireEdgeTls().status() }),
      reloadEdgeTls: async () => {
        const r = this.#requireEdgeTls().reload('admin');
        if (!r.ok) throw new AdminError('ADMIN_CONFLICT', `the TLS files do not validate; the current certificate stays: ${issuesText(r)}`);
        return { body: r.status, target: 'public', detail: { serial: r.status.serial, fingerprint256: r.status.fingerprint256 } };
      },
      uploadEdgeTls: async (c) => {
        const edge = this.#requireEdgeTls();
        const bundle = {
          certPem: String(c.body.certPem),
          keyPem: String(c.body.keyPem),
          ...(typeof c.body.clientCaPem === 'string' ? { clientCaPem: c.body.clientCaPem } : {}),
          ...(typeof c.body.crlPem === 'string' ? { crlPem: c.body.crlPem } : {}),
        };
        const r = edge.upload(bundle);
        if (!r.ok) throw new AdminError('ADMIN_BAD_REQUEST', `the certificate and key do not validate; nothing changed: ${issuesText(r)}`);
        // With tls.sync, every other instance (and every other worker) receives it from the fleet store.
        const published = await edge.publish();
        const outcome = { persisted: r.persisted === true, ...(published !== undefined ? { published } : {}) };
        const clientAuth = { clientAuthSource: r.status.clientAuthSource, crl: r.status.crl, clientCas: r.status.clientCas };
        return { body: { ...r.status, ...outcome }, target: 'public', detail: { serial: r.status.serial, fingerprint256: r.status.fingerprint256, ...clientAuth, ...outcome } };
      },
      setEdgeClientAuth: async (c) => {
        const edge = this.#requireEdgeTls();
        const material = {
          ...(typeof c.body.clientCaPem === 'string' ? { clientCaPem: c.body.clientCaPem } : {}),
          ...(typeof c.body.crlPem === 'string' ? { crlPem: c.body.crlPem } : {}),
        };
        const useFiles = c.body.useFiles === true;
        const given = Object.keys(material).length;
        if (useFiles === (given > 0)) throw new AdminError('ADMIN_BAD_REQUEST', 'give clientCaPem and/or crlPem, or useFiles: true (not both)');
        const r = edge.setClientAuth(useFiles ? 'files' : material);
        if (!r.ok) throw new AdminError('ADMIN_BAD_REQUEST', `the client CAs or CRL do not validate; nothing changed: ${issuesText(r)}`);
        // The served certificate and key travel with it: the fleet's bundle is its whole state.
        const published = await edge.publish();
        const outcome = { persisted: r.persisted === true, ...(published !== undefined ? { published } : {}) };
        const detail = { serial: r.status.serial, clientAuthSource: r.status.clientAuthSource, crl: r.status.crl, clientCas: r.status.clientCas, ...(useFiles ? { useFiles } : {}), ...outcome };
        return { body: { ...r.status, ...outcome }, target: 'public', detail };
      },
      openapi: async () => ({ body: (this.#openapi ??= buildOpenApi()) }),
    };
  }
}

/** A failed TLS load's issues on one line (fields and reasons; never key material). */
function issuesText(r: EdgeReloadResult): string {
  return r.ok ? '' : r.error.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

function targetOf(params: Record<string, string>): { target?: string } {
  if (params.serial !== undefined) return { target: params.serial };
  if (params.keyId !== undefined) return { target: params.secretId !== undefined ? `${params.keyId}/${params.secretId}` : params.keyId };
  if (params.kid !== undefined) return { target: params.kid };
  return {};
}

/** The query string as an object (first value of each name; empty values dropped). */
function queryObject(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (v !== '' && !(k in out)) out[k] = v;
  return out;
}
