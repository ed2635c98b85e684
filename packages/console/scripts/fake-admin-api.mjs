#!/usr/bin/env node
// A fake wxseal admin API (packages/gateway/ADMIN-API.md), in memory, no dependencies — for
// developing the console and for browser tests. It also serves the built console (dist/) under
// /console/ with the same security headers and CSP as the real admin listener.
//
//   node packages/console/scripts/fake-admin-api.mjs [--port 9090] [--host 127.0.0.1]
//        [--devices 1234] [--delay 0]
//
// Logins: user `admin` / password `admin-password`, or the token `fake-admin-token-0123456789abcdef`
// (override with FAKE_ADMIN_USER, FAKE_ADMIN_PASSWORD, FAKE_ADMIN_TOKEN). Extra routes for tests:
//   POST /__fake/reset               back to the initial data (sessions included)
//   POST /__fake/expire-sessions     every session becomes invalid (→ 401 on the next call)
//   POST /__fake/fail { status, code, message, path? }   the next API call (or next on `path`) fails
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '9090' },
    host: { type: 'string', default: '127.0.0.1' },
    devices: { type: 'string', default: '1234' },
    delay: { type: 'string', default: '0' },
  },
});
const DIST = resolve(fileURLToPath(new URL('../dist', import.meta.url)));
const USER = process.env.FAKE_ADMIN_USER ?? 'admin';
const PASSWORD = process.env.FAKE_ADMIN_PASSWORD ?? 'admin-password';
const TOKEN = process.env.FAKE_ADMIN_TOKEN ?? 'fake-admin-token-0123456789abcdef';
const DELAY = Number(args.delay);
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const API = '/admin/api/v1';
const DAY = 86400;

const b64url = (n) => randomBytes(n).toString('base64url');
const iso = (ms) => new Date(ms).toISOString();
const pem = (type = 'rsa') => `-----BEGIN PUBLIC KEY-----\n${randomBytes(type === 'x25519' ? 44 : 270).toString('base64').match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`;

let state;
function reset() {
  const now = Date.now();
  const n = Number(args.devices);
  const devices = [];
  for (let i = 1; i <= n; i++) {
    const serial = `SN${String(i).padStart(8, '0')}`;
    const revoked = i % 97 === 0;
    devices.push({
      serial,
      productId: i % 3 === 0 ? 'prod-b' : 'prod-a',
      status: revoked ? 'revoked' : 'active',
      keyVersion: 1 + (i % 4 === 0 ? 1 : 0),
      createdAt: iso(now - (n - i + 10) * 60_000),
      updatedAt: iso(now - (n - i) * 30_000),
      ...(revoked ? { revokedAt: iso(now - 3600_000), revokeReason: 'lost in transit' } : {}),
      ...(i % 2 === 0 ? { lastSeenAt: iso(now - i * 1000) } : {}),
    });
  }
  state = {
    sessions: new Map(),
    logins: new Map(),
    devices, // kept sorted by serial: keyset paging by binary search
    deviceAudit: new Map(),
    audit: [],
    auditSeq: 0,
    credentials: [
      { keyId: 'mp-bff', secrets: [{ secretId: 'cfg-3f2a9c1d0b7e', source: 'config', status: 'active' }] },
      { keyId: 'partner-x', secrets: [{ secretId: 'primary', source: 'config', status: 'active' }, { secretId: 'adm-0a1b2c3d4e5f', source: 'admin', status: 'retired', createdAt: iso(now - 40 * DAY * 1000) }] },
    ],
    serverKeys: [
      { kid: 'k2', type: 'x25519', suite: 'x25519-hpke', status: 'active', source: 'config', publicKeyPem: pem('x25519') },
      { kid: 'k1', type: 'rsa', suite: 'rsa-oaep-256', status: 'decrypt-only', source: 'config', createdAt: iso(now - 90 * DAY * 1000), publicKeyPem: pem() },
    ],
    certificates: [
      { owner: { kind: 'wechatpay', mchid: '1900000001' }, kind: 'platform', serial: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1', source: 'download', seconds: 200 * DAY },
      { owner: { kind: 'wechatpay', mchid: '1900000001' }, kind: 'merchant', serial: '3775B6A45ACD588826D15E583A95F5DD2C03A2CB', source: 'file', seconds: 20 * DAY },
      { owner: { kind: 'wechatpay', mchid: '1900000002' }, kind: 'public-key', serial: 'PUB_KEY_ID_0114232134912410000000000000', source: 'env', seconds: 3 * DAY + 3600 },
      { owner: { kind: 'mp', appid: 'wx1234567890abcdef' }, kind: 'platform', serial: '7A2F0C1D9E8B7A6F5E4D3C2B1A0F9E8D7C6B5A49', source: 'secret-store', seconds: -2 * DAY },
    ].map((c) => ({ ...c, notAfter: iso(now + c.seconds * 1000) })),
    since: iso(now - 3 * 3600_000),
    fail: null,
  };
}
reset();

function audit(req, session, action, target, reason, outcome = 'ok', detail) {
  const e = { id: ++state.auditSeq, at: new Date().toISOString(), actor: session?.actor ?? 'anonymous', action, ...(target ? { target } : {}), ...(reason ? { reason } : {}), outcome, client: req.socket.remoteAddress ?? '?', ...(detail ? { detail } : {}) };
  state.audit.push(e);
}

/** The device registry's own trail (GET /devices/:serial → audit), as the gateway reports it. */
function deviceAudit(req, session, d, action, reason) {
  const list = state.deviceAudit.get(d.serial) ?? [];
  list.push({ id: ++state.auditSeq, at: new Date().toISOString(), actor: `admin:${session.actor}`, action, target: d.serial, ...(reason ? { reason } : {}), outcome: 'ok', client: req.socket.remoteAddress ?? '?', detail: { keyVersion: d.keyVersion, productId: d.productId } });
  state.deviceAudit.set(d.serial, list);
}

/** Query strings are strict in the gateway: an unknown parameter is a 400. */
function strictQuery(q, allowed) {
  for (const k of q.keys()) if (!allowed.includes(k)) throw bad(`${k}: unknown query parameter`);
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const bad = (msg) => new HttpError(400, 'ADMIN_BAD_REQUEST', msg);

function reasonOf(body) {
  const r = body?.reason;
  if (typeof r !== 'string' || r.length < 1 || r.length > 500) throw bad('reason: must be 1..500 characters');
  return r;
}

function lowerBound(serial) {
  let lo = 0;
  let hi = state.devices.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (state.devices[mid].serial < serial) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const findDevice = (serial) => {
  const i = lowerBound(serial);
  const d = state.devices[i];
  if (!d || d.serial !== serial) throw new HttpError(404, 'ADMIN_NOT_FOUND', `device ${serial} not found`);
  return d;
};
const newKey = (d) => ({ keyId: `dev:${d.serial}`, secret: b64url(32), version: d.keyVersion });

function listDevices(q) {
  const limit = q.get('limit') ? Number(q.get('limit')) : 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw bad('limit: must be 1..200');
  const status = q.get('status') ?? '';
  if (status && status !== 'active' && status !== 'revoked') throw bad('status: must be active or revoked');
  strictQuery(q, ['q', 'product', 'status', 'cursor', 'limit']);
  const prefix = q.get('q') ?? '';
  if (!/^[A-Za-z0-9._:-]{0,64}$/.test(prefix)) throw bad('q: 1-64 characters of A-Z a-z 0-9 . _ : -');
  const product = q.get('product') ?? '';
  const cursor = q.get('cursor');
  let after = '';
  if (cursor) {
    try {
      after = Buffer.from(cursor, 'base64url').toString('utf8');
    } catch {
      throw bad('cursor: invalid');
    }
  }
  let i = lowerBound(after && after >= prefix ? after : prefix);
  if (after && state.devices[i]?.serial === after) i++;
  const out = [];
  for (; i < state.devices.length && out.length < limit; i++) {
    const d = state.devices[i];
    if (!d.serial.startsWith(prefix)) break;
    if (status && d.status !== status) continue;
    if (product && d.productId !== product) continue;
    out.push(d);
  }
  let more = false;
  for (let j = i; j < state.devices.length && state.devices[j].serial.startsWith(prefix); j++) {
    const d = state.devices[j];
    if ((!status || d.status === status) && (!product || d.productId === product)) {
      more = true;
      break;
    }
  }
  const last = out[out.length - 1];
  return { devices: out.map(({ revokeReason: _r, ...d }) => d), ...(more && last ? { nextCursor: Buffer.from(last.serial).toString('base64url') } : {}) };
}

// Three synthetic instances (one gone), each with its own series; the fleet is the sum of the live ones.
const INSTANCES = [
  { instanceId: 'gw-a-1201', scale: 1, live: true, self: true },
  { instanceId: 'gw-b-1388', scale: 0.6, live: true, self: false },
  { instanceId: 'gw-c-0977', scale: 0.3, live: false, self: false },
];

function instanceStats(scale) {
  const now = Date.now();
  const minute = Math.floor(now / 60_000);
  const codes = ['WXSEAL_BAD_SIGNATURE', 'WXSEAL_TIMESTAMP_EXPIRED', 'WXSEAL_REPLAYED_NONCE', 'WXSEAL_KEY_REVOKED'];
  const series = [];
  const rejected = {};
  let accepted = 0;
  for (let m = minute - 59; m <= minute; m++) {
    const a = Math.round(scale * (800 + 300 * Math.sin(m / 7) + ((m * 37) % 50)));
    const r = {};
    codes.forEach((c, ci) => {
      const v = Math.max(0, Math.round(scale * (6 * Math.sin(m / (3 + ci) + ci) + (ci === 0 ? 4 : 1))));
      if (v) r[c] = v;
      rejected[c] = (rejected[c] ?? 0) + v;
    });
    accepted += a;
    series.push({ t: iso(m * 60_000), minute: m, accepted: a, rejected: r });
  }
  const counts = Array.from({ length: 90 }, (_, i) => Math.round(scale * 1000 * Math.exp(-(((i - 30) / 8) ** 2))));
  return {
    since: state.since,
    accepted: accepted * 3,
    rejected,
    replays: rejected.WXSEAL_REPLAYED_NONCE ?? 0,
    upstreamErrors: Math.round(7 * scale),
    latencyMs: { p50: +(3.2 * scale + 1).toFixed(2), p90: +(8.9 * scale + 2).toFixed(2), p99: +(27.4 * scale + 3).toFixed(2) },
    latencyHistogram: { minMs: 0.05, growth: 1.08, counts },
    series,
  };
}

function stats(params) {
  const now = Date.now();
  const rows = INSTANCES.map((i, k) => {
    const s = instanceStats(i.scale);
    const heartbeatAgeMs = i.live ? 400 + 700 * k : 95_000;
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    return { row: { instanceId: i.instanceId, startedAt: Date.parse(state.since), heartbeatAt: now - heartbeatAgeMs, heartbeatAgeMs, stalenessMs: 120 + 40 * k, version: 42, self: i.self, live: i.live, hasStats: true, accepted: s.accepted, rejected }, stats: s };
  });
  const instances = rows.map((r) => r.row);
  const fleet = { available: true };
  const wanted = params.get('instance');
  if (wanted) {
    const r = rows.find((x) => x.row.instanceId === wanted);
    if (!r) throw new HttpError(404, 'ADMIN_NOT_FOUND', `no instance ${wanted}`);
    return { scope: 'instance', instance: wanted, instanceCount: 1, totals: r.stats, instances, fleet };
  }
  const live = rows.filter((r) => r.row.live).map((r) => r.stats);
  const sumOf = (f) => live.reduce((n, s) => n + f(s), 0);
  const rejected = {};
  for (const s of live) for (const [c, n] of Object.entries(s.rejected)) rejected[c] = (rejected[c] ?? 0) + n;
  const series = live[0].series.map((b, i) => {
    const r = {};
    for (const s of live) for (const [c, n] of Object.entries(s.series[i].rejected)) r[c] = (r[c] ?? 0) + n;
    return { t: b.t, minute: b.minute, accepted: sumOf((s) => s.series[i].accepted), rejected: r };
  });
  const counts = live[0].latencyHistogram.counts.map((_, i) => sumOf((s) => s.latencyHistogram.counts[i]));
  const totals = { ...live[0], accepted: sumOf((s) => s.accepted), rejected, replays: rejected.WXSEAL_REPLAYED_NONCE ?? 0, upstreamErrors: sumOf((s) => s.upstreamErrors), latencyHistogram: { minMs: 0.05, growth: 1.08, counts }, series };
  return { scope: 'fleet', instanceCount: live.length, totals, instances, fleet };
}

function sessionOf(req) {
  const m = /(?:^|;\s*)wxseal_admin=([^;]+)/.exec(req.headers.cookie ?? '');
  const s = m ? state.sessions.get(m[1]) : undefined;
  return s ? { id: m[1], ...s } : undefined;
}
const eq = (a, b) => {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
};

async function handleApi(req, res, url, body) {
  const path = url.pathname.slice(API.length) || '/';
  const m = req.method;
  const session = sessionOf(req);

  if (path === '/session/methods' && m === 'GET') return [200, { methods: ['token', 'password'] }];
  if (path === '/session' && m === 'POST') {
    const addr = req.socket.remoteAddress ?? '?';
    const now = Date.now();
    const recent = (state.logins.get(addr) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= 5) {
      res.setHeader('retry-after', String(Math.ceil((60_000 - (now - recent[0])) / 1000)));
      throw new HttpError(429, 'ADMIN_LOGIN_RATE_LIMITED', 'too many login attempts');
    }
    let actor;
    if (typeof body?.token === 'string') actor = eq(body.token, TOKEN) ? 'token' : undefined;
    else if (typeof body?.user === 'string' && typeof body?.password === 'string') actor = eq(body.user, USER) && eq(body.password, PASSWORD) ? body.user : undefined;
    else throw bad('body: { user, password } or { token }');
    if (!actor) {
      recent.push(now);
      state.logins.set(addr, recent);
      audit(req, { actor: typeof body.user === 'string' ? body.user : 'token' }, 'session.login', undefined, undefined, 'refused');
      throw new HttpError(401, 'ADMIN_BAD_CREDENTIALS', 'login refused');
    }
    const id = b64url(32);
    const s = { actor, csrfToken: b64url(24), expiresAt: iso(now + 8 * 3600_000) };
    state.sessions.set(id, s);
    res.setHeader('set-cookie', `wxseal_admin=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800`);
    audit(req, s, 'session.login');
    return [200, s];
  }
  if (!session) throw new HttpError(401, 'ADMIN_UNAUTHENTICATED', 'no or expired session');
  if (m !== 'GET') {
    if (req.headers['x-csrf-token'] !== session.csrfToken) throw new HttpError(403, 'ADMIN_CSRF', 'missing or wrong x-csrf-token');
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}`) throw new HttpError(403, 'ADMIN_CSRF', `origin ${origin} refused`);
  }

  let r;
  if (path === '/session' && m === 'GET') return [200, { actor: session.actor, csrfToken: session.csrfToken, expiresAt: session.expiresAt }];
  if (path === '/session' && m === 'DELETE') {
    state.sessions.delete(session.id);
    res.setHeader('set-cookie', 'wxseal_admin=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
    audit(req, session, 'session.logout');
    return [204];
  }
  if (path === '/stats' && m === 'GET') return [200, stats(url.searchParams)];
  if (path === '/devices' && m === 'GET') return [200, listDevices(url.searchParams)];
  if (path === '/devices' && m === 'POST') {
    const reason = reasonOf(body);
    if (typeof body.serial !== 'string' || !/^[\w.:-]{1,64}$/.test(body.serial)) throw bad('serial: 1..64 characters [A-Za-z0-9_.:-]');
    if (typeof body.productId !== 'string' || !body.productId) throw bad('productId: required');
    const i = lowerBound(body.serial);
    if (state.devices[i]?.serial === body.serial) throw new HttpError(409, 'ADMIN_CONFLICT', `device ${body.serial} exists`);
    const now = iso(Date.now());
    const d = { serial: body.serial, productId: body.productId, status: 'active', keyVersion: 1, createdAt: now, updatedAt: now };
    state.devices.splice(i, 0, d);
    audit(req, session, 'device.provision', d.serial, reason);
    deviceAudit(req, session, d, 'device.activate', reason);
    return [201, { device: d, key: newKey(d) }];
  }
  if (path === '/devices/import' && m === 'POST') {
    const reason = reasonOf(body);
    if (!Array.isArray(body.rows) || body.rows.length > 10_000) throw bad('rows: 1..10000 rows');
    if (typeof body.productId !== 'string' || !body.productId) throw bad('productId: required');
    const result = { imported: 0, skipped: 0, failed: [] };
    const now = iso(Date.now());
    for (const row of body.rows) {
      const serial = row?.serial;
      if (typeof serial !== 'string' || !/^[\w.:-]{1,64}$/.test(serial)) {
        result.failed.push({ serial: String(serial), error: 'invalid serial' });
        continue;
      }
      const i = lowerBound(serial);
      if (state.devices[i]?.serial === serial) {
        result.skipped++;
        continue;
      }
      state.devices.splice(i, 0, { serial, productId: body.productId, status: 'active', keyVersion: 1, createdAt: now, updatedAt: now });
      result.imported++;
    }
    audit(req, session, 'device.import', body.productId, reason, 'ok', { imported: result.imported, skipped: result.skipped, failed: result.failed.length });
    return [200, result];
  }
  if ((r = /^\/devices\/([^/]+)$/.exec(path)) && m === 'GET') {
    const d = findDevice(decodeURIComponent(r[1]));
    return [200, { device: d, audit: state.deviceAudit.get(d.serial) ?? [] }];
  }
  if ((r = /^\/devices\/([^/]+)\/(rotate|revoke)$/.exec(path)) && m === 'POST') {
    const reason = reasonOf(body);
    const d = findDevice(decodeURIComponent(r[1]));
    if (d.status === 'revoked') throw new HttpError(409, 'ADMIN_CONFLICT', `device ${d.serial} is revoked`);
    d.updatedAt = iso(Date.now());
    if (r[2] === 'revoke') {
      d.status = 'revoked';
      d.revokedAt = d.updatedAt;
      d.revokeReason = reason;
      audit(req, session, 'device.revoke', d.serial, reason);
      deviceAudit(req, session, d, 'device.revoke', reason);
      return [200, { device: d }];
    }
    const grace = body.graceSeconds ?? 3600;
    if (!Number.isInteger(grace) || grace < 0 || grace > 604800) throw bad('graceSeconds: 0..604800');
    d.keyVersion++;
    audit(req, session, 'device.rotate', d.serial, reason, 'ok', { graceSeconds: grace });
    deviceAudit(req, session, d, 'device.rotate', reason);
    return [200, { device: d, key: newKey(d) }];
  }
  if (path === '/credentials' && m === 'GET') return [200, { credentials: state.credentials }];
  if ((r = /^\/credentials\/([^/]+)\/secrets$/.exec(path)) && m === 'POST') {
    const reason = reasonOf(body);
    const c = state.credentials.find((x) => x.keyId === decodeURIComponent(r[1]));
    if (!c) throw new HttpError(404, 'ADMIN_NOT_FOUND', 'unknown credential');
    const secretId = `adm-${randomBytes(6).toString('hex')}`;
    c.secrets.push({ secretId, source: 'admin', status: 'active', createdAt: iso(Date.now()) });
    audit(req, session, 'credential.secret.add', `${c.keyId}/${secretId}`, reason);
    return [201, { secretId, secret: b64url(32) }];
  }
  if ((r = /^\/credentials\/([^/]+)\/secrets\/([^/]+)\/retire$/.exec(path)) && m === 'POST') {
    const reason = reasonOf(body);
    const c = state.credentials.find((x) => x.keyId === decodeURIComponent(r[1]));
    const s = c?.secrets.find((x) => x.secretId === decodeURIComponent(r[2]));
    if (!c || !s) throw new HttpError(404, 'ADMIN_NOT_FOUND', 'unknown credential or secret');
    if (s.status === 'active' && c.secrets.filter((x) => x.status === 'active').length === 1) throw new HttpError(409, 'ADMIN_CONFLICT', 'the last active secret cannot be retired');
    s.status = 'retired';
    audit(req, session, 'credential.secret.retire', `${c.keyId}/${s.secretId}`, reason);
    return [200, { secretId: s.secretId, status: 'retired' }];
  }
  if (path === '/server-keys' && m === 'GET') return [200, { keys: state.serverKeys }];
  if (path === '/server-keys/rotate' && m === 'POST') {
    const reason = reasonOf(body);
    const type = body?.type ?? 'rsa';
    if (type !== 'rsa' && type !== 'x25519') throw bad('type: type must be "rsa" or "x25519"');
    for (const k of state.serverKeys) if (k.status === 'active') k.status = 'decrypt-only';
    const kid = `k-${b64url(4)}`;
    const suite = type === 'x25519' ? 'x25519-hpke' : 'rsa-oaep-256';
    const k = { kid, type, suite, status: 'active', source: 'admin', createdAt: iso(Date.now()), publicKeyPem: pem(type) };
    state.serverKeys.unshift(k);
    audit(req, session, 'server-key.rotate', kid, reason, 'ok', { type });
    return [201, { kid, type, suite, publicKeyPem: k.publicKeyPem }];
  }
  if ((r = /^\/server-keys\/([^/]+)\/retire$/.exec(path)) && m === 'POST') {
    const reason = reasonOf(body);
    const k = state.serverKeys.find((x) => x.kid === decodeURIComponent(r[1]));
    if (!k) throw new HttpError(404, 'ADMIN_NOT_FOUND', 'unknown key');
    if (k.status === 'active') throw new HttpError(409, 'ADMIN_CONFLICT', 'the active key cannot be retired');
    k.status = 'retired';
    audit(req, session, 'server-key.retire', k.kid, reason);
    return [200, { kid: k.kid, status: 'retired' }];
  }
  if (path === '/certificates' && m === 'GET') {
    const now = Date.now();
    return [
      200,
      {
        certificates: state.certificates.map(({ seconds: _s, ...c }) => {
          const secondsToExpiry = Math.floor((Date.parse(c.notAfter) - now) / 1000);
          const status = secondsToExpiry <= 0 ? 'expired' : secondsToExpiry < 7 * DAY ? 'critical' : secondsToExpiry < 30 * DAY ? 'warning' : 'ok';
          return { ...c, secondsToExpiry, status };
        }),
      },
    ];
  }
  if (path === '/certificates/refresh' && m === 'POST') {
    const reason = reasonOf(body);
    const match = (c) => !body.owner || JSON.stringify(c.owner) === JSON.stringify(body.owner);
    const n = state.certificates.filter((c) => match(c) && c.kind === 'platform').length;
    audit(req, session, 'certificates.refresh', body.owner ? JSON.stringify(body.owner) : undefined, reason, 'ok', { refreshed: n });
    return [200, { refreshed: n }];
  }
  if (path === '/audit' && m === 'GET') {
    const q = url.searchParams;
    strictQuery(q, ['cursor', 'limit', 'actor', 'action']);
    const limit = q.get('limit') ? Number(q.get('limit')) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw bad('limit: must be 1..200');
    const before = q.get('cursor') ? Number(q.get('cursor')) : Infinity;
    if (Number.isNaN(before)) throw bad('cursor: invalid');
    const actor = q.get('actor');
    const action = q.get('action');
    const out = [];
    let i = state.audit.length - 1;
    for (; i >= 0 && out.length < limit; i--) {
      const e = state.audit[i];
      if (Number(e.id) >= before) continue;
      if (actor && e.actor !== actor) continue;
      if (action && e.action !== action) continue;
      out.push(e);
    }
    const more = state.audit.slice(0, i + 1).some((e) => (!actor || e.actor === actor) && (!action || e.action === action));
    return [200, { entries: out, ...(more && out.length ? { nextCursor: String(out[out.length - 1].id) } : {}) }];
  }
  throw new HttpError(404, 'ADMIN_NOT_FOUND', `no route ${m} ${path}`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };

function serveConsole(req, res, url) {
  let rel = decodeURIComponent(url.pathname.slice('/console/'.length)) || 'index.html';
  const file = normalize(join(DIST, rel));
  if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
    if (rel.startsWith('assets/') || !existsSync(join(DIST, 'index.html'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(rel.startsWith('assets/') ? 'not found\n' : 'console not built: npm run build -w @wxseal/console\n');
      return;
    }
    rel = 'index.html';
  }
  const path = normalize(join(DIST, rel === 'index.html' ? 'index.html' : rel));
  res.writeHead(200, {
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'content-security-policy': CSP,
    'cache-control': path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
  });
  createReadStream(path).pipe(res);
}

const server = createServer((req, res) => {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
  const url = new URL(req.url ?? '/', 'http://x');
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= 9 * 1024 * 1024) chunks.push(c);
  });
  req.on('end', async () => {
    if (url.pathname === '/console' || url.pathname === '/') {
      res.writeHead(302, { location: '/console/' }).end();
      return;
    }
    if (url.pathname.startsWith('/console/')) return serveConsole(req, res, url);
    if (url.pathname.startsWith('/__fake/') && req.method === 'POST') {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      if (url.pathname === '/__fake/reset') reset();
      else if (url.pathname === '/__fake/expire-sessions') state.sessions.clear();
      else if (url.pathname === '/__fake/fail') state.fail = body;
      res.writeHead(204).end();
      return;
    }
    if (!url.pathname.startsWith(API)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ADMIN_NOT_FOUND', message: 'not found' } }));
      return;
    }
    res.setHeader('cache-control', 'no-store');
    if (DELAY) await new Promise((r) => setTimeout(r, DELAY));
    let status = 500;
    let out;
    try {
      if (state.fail && (!state.fail.path || url.pathname.endsWith(state.fail.path))) {
        const f = state.fail;
        state.fail = null;
        throw new HttpError(f.status ?? 503, f.code ?? 'ADMIN_UNAVAILABLE', f.message ?? 'injected failure');
      }
      let body;
      if (chunks.length) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          throw bad('body: invalid JSON');
        }
      }
      [status, out] = await handleApi(req, res, url, body);
    } catch (err) {
      if (err instanceof HttpError) [status, out] = [err.status, { error: { code: err.code, message: err.message } }];
      else {
        console.error(err);
        out = { error: { code: 'ADMIN_INTERNAL', message: 'internal error' } };
      }
    }
    if (out === undefined) res.writeHead(status).end();
    else res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(out));
  });
});

server.listen(Number(args.port), args.host, () => {
  const a = server.address();
  console.log(`fake wxseal admin API on http://${args.host}:${a.port}${API} — console at http://${args.host}:${a.port}/console/`);
  console.log(`login: ${USER} / ${PASSWORD}  or token ${TOKEN}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
