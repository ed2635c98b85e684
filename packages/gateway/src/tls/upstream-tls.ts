/**
 * TLS from the gateway to a route's https:// upstream: the CAs trusted for the upstream's
 * certificate, the client certificate presented to it, public-key pins and the name checked. The
 * files are read and validated when the config loads (a bad one is a config error naming the route
 * and field), then again on every change the FileWatcher sees, and on SIGHUP through the config
 * reload. A reload that validates swaps the route's material (UpstreamPools opens a new pool with it
 * and lets the old one drain); one that does not leaves the current material in force, and is
 * logged (never key material) and counted (wxseal_gateway_tls_reloads_total{target="upstream:<route>"}).
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkServerIdentity as defaultCheckServerIdentity, createSecureContext, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { FileWatcher } from '@wxseal/fleet-sync';
import { CodedError } from '@wxseal/protocol';
import { GatewayConfigError, type ConfigIssue } from '../errors.js';
import { oneLineName, parseCertificates, type TlsCertificateRegistry } from './registry.js';

/**
 * The upstream's certificate chain verified but holds none of the route's pinned keys. Raised in
 * the handshake (before any request byte), answered WXSEAL_UPSTREAM_UNAVAILABLE like any upstream
 * that cannot be reached (upstream.ts).
 */
export class UpstreamPinMismatch extends CodedError<'WXSEAL_UPSTREAM_UNAVAILABLE'> {
  override readonly name = 'UpstreamPinMismatch';
  constructor(message: string) {
    super('WXSEAL_UPSTREAM_UNAVAILABLE', message);
  }
}

/** A route's `tls`, resolved: absolute paths, normalised pins, the passphrase read from its variable. */
export interface UpstreamTlsConfig {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly passphraseEnv?: string;
  /** The key file's passphrase. Non-enumerable: never in JSON or logs. */
  readonly passphrase?: string;
  /** base64 SHA-256 of SubjectPublicKeyInfos (without the sha256// prefix). */
  readonly pinnedPublicKeys: readonly string[];
  readonly servername?: string;
  /** The material as the config load read and validated it. Non-enumerable. */
  readonly material?: UpstreamTlsMaterial;
}

/** What a connection to the upstream is made with. */
export interface UpstreamTlsMaterial {
  /** CA bundle (PEM), undefined: Node's built-in CAs. */
  readonly ca: string | undefined;
  readonly cas: readonly X509Certificate[];
  /** Client certificate chain (PEM), leaf first. */
  readonly cert: string | undefined;
  readonly chain: readonly X509Certificate[];
  /** The client certificate's key (PEM). Non-enumerable. */
  readonly key?: string;
  /** Identity of everything a connection depends on (files, passphrase, pins, name): the pool key. */
  readonly id: string;
}

/** The part of a route the upstream TLS needs. */
export interface TlsRoute {
  readonly name: string;
  readonly upstream: string;
  readonly connectTimeoutMs: number;
  readonly tls?: UpstreamTlsConfig;
}

/** Where a route's issues are reported outside a config load (the route by name). */
export function routeTlsPath(name: string): string {
  return `routes[${JSON.stringify(name)}].tls`;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Quiet period after the last file event before a reload (a certificate and its key change together). */
export const UPSTREAM_WATCH_DEBOUNCE_MS = 250;
/** Largest file read (a CA bundle of a few hundred certificates). */
const MAX_FILE_BYTES = 1024 * 1024;

/** `sha256//AAAA…=` or `AAAA…=` → the canonical base64 of a 32-byte digest, or undefined. */
export function normalizePin(value: string): string | undefined {
  const b64 = value.startsWith('sha256//') ? value.slice(8) : value;
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64)) return undefined;
  const digest = Buffer.from(b64, 'base64');
  return digest.length === 32 && digest.toString('base64') === b64 ? b64 : undefined;
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function errnoText(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
}

function readBounded(file: string): string {
  const buf = readFileSync(file);
  if (buf.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
  return buf.toString('utf8');
}

/**
 * Reads and validates a route's TLS files; throws GatewayConfigError with one issue per problem,
 * each at `${at}.<field>` (the messages name files and certificates, never key material).
 */
export function loadUpstreamTls(tls: UpstreamTlsConfig, at: string, nowMs: number = Date.now()): UpstreamTlsMaterial {
  const issues: ConfigIssue[] = [];
  const read = (file: string | undefined, field: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readBounded(file);
    } catch (err) {
      issues.push({ path: `${at}.${field}`, message: `cannot read ${file}: ${errnoText(err)}` });
      return undefined;
    }
  };
  const certs = (pem: string | undefined, field: string): X509Certificate[] => {
    if (pem === undefined) return [];
    try {
      const list = parseCertificates(pem);
      if (list.length === 0) issues.push({ path: `${at}.${field}`, message: 'holds no PEM certificate' });
      return list;
    } catch (err) {
      issues.push({ path: `${at}.${field}`, message: `a certificate does not parse: ${errnoText(err)}` });
      return [];
    }
  };
  const ca = read(tls.caFile, 'caFile');
  const cert = read(tls.certFile, 'certFile');
  const key = read(tls.keyFile, 'keyFile');
  const cas = certs(ca, 'caFile');
  const chain = certs(cert, 'certFile');
  const leaf = chain[0];
  if (key !== undefined) {
    let privateKey: KeyObject | undefined;
    try {
      privateKey = createPrivateKey({ key, format: 'pem', ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}) });
    } catch (err) {
      // Only OpenSSL's code: nothing of the key's content goes into the message.
      const code = (err as { code?: unknown }).code;
      issues.push({ path: `${at}.keyFile`, message: `not a usable PEM private key (an encrypted one needs passphraseEnv)${typeof code === 'string' ? `: ${code}` : ''}` });
    }
    if (privateKey && leaf && !spkiOf(createPublicKey(privateKey)).equals(spkiOf(leaf.publicKey))) {
      issues.push({ path: `${at}.keyFile`, message: `does not match the certificate of certFile (${oneLineName(leaf.subject)}, serial ${leaf.serialNumber})` });
    }
  }
  if (leaf) {
    if (nowMs < Date.parse(leaf.validFrom)) issues.push({ path: `${at}.certFile`, message: `the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}` });
    if (nowMs > Date.parse(leaf.validTo)) issues.push({ path: `${at}.certFile`, message: `the certificate expired at ${new Date(leaf.validTo).toISOString()}` });
  }
  if (issues.length === 0) {
    try {
      // What each connection will build, built once: OpenSSL's own refusals surface here.
      createSecureContext({ ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert, key, passphrase: tls.passphrase } : {}) });
    } catch (err) {
      issues.push({ path: at, message: `OpenSSL refuses the material: ${errnoText(err)}` });
    }
  }
  if (issues.length > 0) throw new GatewayConfigError(issues);
  const h = createHash('sha256');
  for (const part of [ca, cert, key, tls.passphrase, tls.servername, tls.pinnedPublicKeys.join(',')]) {
    const b = Buffer.from(part ?? '', 'utf8');
    h.update(`${part === undefined ? '-' : b.length}:`).update(b);
  }
  const material = { ca, cas, cert, chain, id: h.digest('hex').slice(0, 32) };
  Object.defineProperty(material, 'key', { value: key, enumerable: false });
  return material;
}

/**
 * Node's name check, then the pins (any certificate of the verified chain, as HPKP): called once
 * the chain verified, before any request byte is written. A refusal is the upstream failure the
 * client gets (WXSEAL_UPSTREAM_UNAVAILABLE), with why in the gateway's log.
 */
export function upstreamPinCheck(pins: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  const digests = pins.map((p) => Buffer.from(p, 'base64'));
  return (host, cert) => {
    const err = defaultCheckServerIdentity(host, cert);
    if (err) return err;
    const seen = new Set<string>();
    for (let c: DetailedPeerCertificate | undefined = cert as DetailedPeerCertificate; c && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
      seen.add(c.fingerprint256);
      if (!c.raw) continue;
      // `pubkey` is the bare point for EC keys; a pin is over the whole SubjectPublicKeyInfo.
      const digest = createHash('sha256').update(spkiOf(new X509Certificate(c.raw).publicKey)).digest();
      let found = false;
      for (const d of digests) if (timingSafeEqual(d, digest)) found = true;
      if (found) return undefined;
    }
    return new UpstreamPinMismatch(`upstream TLS: the certificate chain of ${host} has none of the pinned public keys (leaf ${cert.fingerprint256})`);
  };
}

/** The `connect` options of an undici Pool for this material. */
export function upstreamConnectOptions(tls: UpstreamTlsConfig, material: UpstreamTlsMaterial): Record<string, unknown> {
  return {
    ...(material.ca !== undefined ? { ca: material.ca } : {}),
    ...(material.cert !== undefined ? { cert: material.cert, key: material.key } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.pinnedPublicKeys.length > 0 ? { checkServerIdentity: upstreamPinCheck(tls.pinnedPublicKeys) } : {}),
  };
}

export interface UpstreamTlsDeps {
  readonly registry: TlsCertificateRegistry;
  readonly log: Logger;
  /** wxseal_gateway_tls_reloads_total (target: upstream:<route>). */
  readonly reloads: Counter<'target' | 'result'>;
  /** After a route's material changed: the pools of material no route uses any more drain and close. */
  readonly swapped: () => void;
  /** Unix ms (validity checks). */
  readonly now?: () => number;
}

interface RouteTls {
  readonly route: TlsRoute;
  readonly config: UpstreamTlsConfig;
  material: UpstreamTlsMaterial;
}

/** The upstream TLS material of every route that has some, kept current. */
export class UpstreamTls {
  readonly #deps: UpstreamTlsDeps;
  readonly #now: () => number;
  #routes = new Map<string, RouteTls>();
  #watcher: FileWatcher | undefined;
  #watched = '';
  #closed = false;

  constructor(deps: UpstreamTlsDeps, routes: readonly TlsRoute[]) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#adopt(routes, 'start');
  }

  /** The material a new connection of `route` is made with (undefined: no TLS options). */
  material(route: TlsRoute): { config: UpstreamTlsConfig; material: UpstreamTlsMaterial } | undefined {
    const entry = this.#routes.get(route.name);
    if (entry && entry.config === route.tls) return { config: entry.config, material: entry.material };
    // A route object of another config than the one adopted (a reload under way): its own material.
    if (route.tls?.material) return { config: route.tls, material: route.tls.material };
    return undefined;
  }

  /** Every route with TLS and its current material (for the pool keys in use). */
  entries(): Array<{ route: TlsRoute; material: UpstreamTlsMaterial }> {
    return [...this.#routes.values()].map((e) => ({ route: e.route, material: e.material }));
  }

  /** Starts watching the files (when any route has TLS files). */
  async start(): Promise<void> {
    await this.#watch();
  }

  /**
   * Adopts the routes of a config just loaded (SIGHUP, reload()): their material was read and
   * validated by the load; what changed is swapped in, what is gone is dropped, the watch follows.
   */
  async configure(routes: readonly TlsRoute[]): Promise<void> {
    this.#adopt(routes, 'signal');
    this.#deps.swapped();
    await this.#watch();
  }

  /** Re-reads one route's files; swaps them in when they validate, else keeps the current material. Never throws. */
  reload(name: string, source: 'file' | 'signal'): boolean {
    const entry = this.#routes.get(name);
    if (!entry) return false;
    const target = `upstream:${name}`;
    let material: UpstreamTlsMaterial;
    try {
      material = loadUpstreamTls(entry.config, routeTlsPath(name), this.#now());
    } catch (err) {
      this.#deps.reloads.inc({ target, result: 'failure' });
      const issues = err instanceof GatewayConfigError ? err.issues : [{ path: routeTlsPath(name), message: errMessage(err) }];
      this.#deps.log.error({ route: name, source, issues, serving: this.#describe(entry.material) }, 'tls: upstream certificate reload failed; the current material stays in force');
      return false;
    }
    // A file event that changed nothing (or only touched the files) is not a reload.
    if (material.id === entry.material.id) return true;
    entry.material = material;
    this.#publish(entry);
    this.#deps.reloads.inc({ target, result: 'success' });
    this.#deps.log.info({ route: name, source, ...this.#describe(material) }, 'tls: upstream material loaded');
    this.#deps.swapped();
    return true;
  }

  /** Re-reads the files of every route (SIGHUP). */
  reloadAll(source: 'file' | 'signal'): void {
    for (const name of [...this.#routes.keys()]) this.reload(name, source);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#watcher;
    this.#watcher = undefined;
    await w?.close();
  }

  // ---------------------------------------------------------------------------------------------

  #adopt(routes: readonly TlsRoute[], source: 'start' | 'signal'): void {
    const next = new Map<string, RouteTls>();
    for (const route of routes) {
      const tls = route.tls;
      if (!tls) continue;
      const previous = this.#routes.get(route.name);
      const material = tls.material ?? loadUpstreamTls(tls, routeTlsPath(route.name), this.#now());
      const entry: RouteTls = { route, config: tls, material };
      next.set(route.name, entry);
      this.#publish(entry);
      if (source === 'signal' && previous && previous.material.id !== material.id) {
        this.#deps.reloads.inc({ target: `upstream:${route.name}`, result: 'success' });
        this.#deps.log.info({ route: route.name, source, ...this.#describe(material) }, 'tls: upstream material loaded');
      }
    }
    for (const name of this.#routes.keys()) {
      if (next.has(name)) continue;
      this.#deps.registry.delete('upstream-ca', name);
      this.#deps.registry.delete('upstream-client', name);
    }
    this.#routes = next;
  }

  /** The registry (expiry gauge, admin certificates) shows what new connections use, in the same step as the swap. */
  #publish(entry: RouteTls): void {
    const { registry } = this.#deps;
    const name = entry.route.name;
    registry.set('upstream-ca', name, entry.material.cas, entry.config.caFile ?? 'none');
    registry.set('upstream-client', name, entry.material.chain, entry.config.certFile ?? 'none');
  }

  #describe(m: UpstreamTlsMaterial): Record<string, unknown> {
    const leaf = m.chain[0];
    return {
      ...(leaf ? { subject: oneLineName(leaf.subject), serial: leaf.serialNumber, fingerprint256: leaf.fingerprint256, notAfter: new Date(leaf.validTo).toISOString() } : {}),
      cas: m.cas.length,
    };
  }

  /** (Re)starts the file watch when the set of watched files changed. */
  async #watch(): Promise<void> {
    if (this.#closed) return;
    const files = [...this.#routes.values()].map((e) => [e.route.name, [e.config.caFile, e.config.certFile, e.config.keyFile].filter((f): f is string => f !== undefined)] as const);
    const key = JSON.stringify(files);
    if (key === this.#watched) return;
    const old = this.#watcher;
    this.#watcher = undefined;
    this.#watched = key;
    await old?.close();
    if (files.every(([, list]) => list.length === 0)) return;
    const watcher = new FileWatcher({
      debounceMs: UPSTREAM_WATCH_DEBOUNCE_MS,
      onChange: (name) => void this.reload(name, 'file'),
      onError: (err) => this.#deps.log.warn({ err: errMessage(err) }, 'tls: the upstream file watch failed; SIGHUP still reloads the upstream certificates'),
    });
    for (const [name, list] of files) watcher.add(name, list);
    this.#watcher = watcher;
    await watcher.start();
  }
}
