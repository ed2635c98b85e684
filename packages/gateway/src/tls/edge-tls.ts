/**
 * The public listener's TLS material: the certificate chain and key it serves, the CAs (and CRL)
 * of client certificates, and an optional stapled OCSP response. Every load — at start, on a file
 * change, on SIGHUP (Lifecycle.reload), from the admin API or from the fleet — goes through one
 * validation (the key matches the certificate, the chain leads to `caFile`, the certificate is
 * valid now and covers `names`, OpenSSL accepts the whole context) before one atomic swap with
 * server.setSecureContext: connections already open keep the context they shook hands with, new
 * ones get the new one, and a load that fails leaves the old context in force and says why (log,
 * wxseal_gateway_tls_reloads_total{target="edge",result="failure"}, the admin audit log).
 *
 * Client-auth material (client CAs, CRL) comes from clientAuth.caFile/crlFile unless a bundle (an
 * admin upload, POST /tls/edge/client-auth, or the fleet) set it: then that bundle's material wins
 * over the files, through file events and SIGHUP, until a newer bundle (the fleet's bundle is the
 * whole state: one without client-auth material returns every instance to its files) or an explicit
 * POST /tls/edge/reload, which returns this instance to its files.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { FileWatcher } from '@wxseal/fleet-sync';
import type { EdgeTlsConfig } from '../config.js';
import { GatewayConfigError, type ConfigIssue } from '../errors.js';
import { errSummary, type Logger } from '../logger.js';
import { EdgeCertificateSync } from './edge-sync.js';
export { DEFAULT_EDGE_CIPHERS, bindingMatches, normalizeFingerprint, normalizeSubject } from './edge-policy.js';
import { oneLineName, parseCertificates, type TlsCertificateRegistry } from './registry.js';

/** The listener name the registry and the audit log use for the public listener. */
export const EDGE_NAME = 'public';
/** Quiet period after the last file event before a reload (a cert and its key are renamed in together). */
export const EDGE_WATCH_DEBOUNCE_MS = 250;
/** Expiry thresholds of the log warnings (the gauge alerts use the same). */
export const EXPIRY_WARNING_DAYS = 30;
export const EXPIRY_CRITICAL_DAYS = 7;
const DAY_MS = 86_400_000;
/** A file event whose files do not validate is looked at again after this, before it counts as a failure. */
export const FILE_RETRY_MS = 1_000;
/** Largest PEM file or upload accepted (a chain of a few certificates is a few KB). */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

/** Where a load came from (log, audit, admin view). */
export type EdgeReloadSource = 'start' | 'file' | 'signal' | 'admin' | 'upload' | 'fleet';

/** A certificate and key given as PEM (admin upload, fleet), with the client-auth material it sets, if any. */
export interface EdgeBundle {
  readonly certPem: string;
  readonly keyPem: string;
  /** Client CA bundle (PEM): replaces clientAuth.caFile's until the files are reloaded explicitly. */
  readonly clientCaPem?: string | undefined;
  /** CRL of client certificates (PEM, X509 CRL): replaces clientAuth.crlFile's likewise. */
  readonly crlPem?: string | undefined;
}

/** Client-auth material set by a bundle, winning over the files (see the header). */
export interface EdgeClientAuth {
  readonly clientCaPem?: string;
  readonly crlPem?: string;
}

/** Where the client CAs and CRL in force come from. */
export type EdgeClientAuthSource = 'files' | 'upload' | 'fleet';

interface ClientAuthOverride extends EdgeClientAuth {
  readonly source: 'upload' | 'fleet';
}

/** What is served now, for the admin API (never the key). */
export interface EdgeTlsStatus {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly fingerprint256: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly names: readonly string[];
  readonly source: EdgeReloadSource;
  readonly loadedAt: string;
  readonly clientCas: number;
  /** Whether a CRL is in force. */
  readonly crl: boolean;
  /** Where the client CAs and CRL come from: the files, or a bundle (upload, fleet) that set them. */
  readonly clientAuthSource: EdgeClientAuthSource;
  readonly lastFailure?: { readonly at: string; readonly source: EdgeReloadSource; readonly reason: string };
}

export type EdgeReloadResult = { ok: true; changed: boolean; status: EdgeTlsStatus } | { ok: false; error: GatewayConfigError };

interface Material {
  readonly chain: readonly X509Certificate[];
  readonly certPem: string;
  readonly keyPem: string;
  readonly passphrase: string | undefined;
  readonly clientCaPem: string | undefined;
  readonly clientCas: readonly X509Certificate[];
  readonly crlPem: string | undefined;
  readonly ocspResponse: Buffer | undefined;
  /** Over every input: a file event that changed nothing is not a reload. */
  readonly digest: string;
}

/** Raw inputs of a load, before validation. */
interface Inputs {
  certPem: string;
  keyPem: string;
  clientCaPem: string | undefined;
  crlPem: string | undefined;
  ocspResponse: Buffer | undefined;
  digest: string;
}

export interface EdgeTlsDeps {
  readonly config: EdgeTlsConfig;
  readonly registry: TlsCertificateRegistry;
  readonly log: Logger;
  /** Counts a reload (wxseal_gateway_tls_reloads_total{target="edge"}); the load at start is not one. */
  readonly countReload: (result: 'success' | 'failure') => void;
  /** Writes an admin audit entry (with a control plane); file, signal and fleet reloads are audited here, admin calls by the admin API. */
  readonly audit?: (entry: { actor: string; action: string; outcome: 'ok' | 'failed'; client: string; target?: string; detail?: Record<string, unknown> }) => Promise<unknown>;
  /** Unix ms (validity checks, expiry warnings). */
  readonly now?: () => number;
}

const AT = 'listeners.public.tls';

function readBounded(file: string): Buffer {
  const buf = readFileSync(file);
  if (buf.length > MAX_TLS_FILE_BYTES) throw new Error(`larger than ${MAX_TLS_FILE_BYTES} bytes`);
  return buf;
}

function errnoText(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
}

/** The SubjectPublicKeyInfo of a key, to compare a private key with a certificate. */
function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function chainIssue(chain: readonly X509Certificate[], anchors: readonly X509Certificate[]): string | undefined {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) {
      return `certificate ${i + 1} of the chain is not signed by certificate ${i + 2} (put the leaf first, then its issuers in order)`;
    }
  }
  const top = chain[chain.length - 1]!;
  if (anchors.some((a) => a.fingerprint256 === top.fingerprint256)) return undefined;
  if (anchors.some((a) => top.checkIssued(a) && top.verify(a.publicKey))) return undefined;
  return `the chain does not lead to a CA of caFile (its top is issued by ${oneLineName(top.issuer)})`;
}

/** The configured name as checkHost/checkIP sees it: a wildcard name must be covered for any label. */
function covers(cert: X509Certificate, name: string): boolean {
  if (isIP(name) !== 0) return cert.checkIP(name) !== undefined;
  const host = name.startsWith('*.') ? `wxseal-name-check${name.slice(1)}` : name;
  return cert.checkHost(host, { wildcards: true }) !== undefined;
}

/**
 * Validates a certificate chain and key against the listener's policy; every problem is an issue
 * (the field, and why — never key material). Returns the parsed chain and the key.
 */
export function validateEdgeBundle(
  bundle: { certPem: string; keyPem: string; passphrase?: string | undefined },
  policy: { anchors: readonly X509Certificate[] | undefined; names: readonly string[]; nowMs: number },
  fields: { cert: string; key: string } = { cert: `${AT}.certFile`, key: `${AT}.keyFile` },
): { chain: X509Certificate[]; key: KeyObject } {
  const issues: ConfigIssue[] = [];
  let chain: X509Certificate[] = [];
  try {
    chain = parseCertificates(bundle.certPem);
    if (chain.length === 0) issues.push({ path: fields.cert, message: 'holds no PEM certificate' });
  } catch (err) {
    issues.push({ path: fields.cert, message: `a certificate does not parse: ${errnoText(err)}` });
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey({ key: bundle.keyPem, format: 'pem', ...(bundle.passphrase !== undefined ? { passphrase: bundle.passphrase } : {}) });
  } catch (err) {
    // OpenSSL's message names the decoder that failed, never the key's bytes.
    issues.push({ path: fields.key, message: `not a usable private key (PEM; encrypted ones need passphraseEnv): ${errnoText(err)}` });
  }
  const leaf = chain[0];
  if (leaf && key) {
    if (!spki(createPublicKey(key)).equals(spki(leaf.publicKey))) {
      issues.push({ path: fields.key, message: `does not match the certificate (${oneLineName(leaf.subject)}, serial ${leaf.serialNumber})` });
    }
  }
  if (leaf) {
    chain.forEach((c, i) => {
      const from = Date.parse(c.validFrom);
      const to = Date.parse(c.validTo);
      const what = i === 0 ? 'the certificate' : `certificate ${i + 1} of the chain`;
      if (policy.nowMs < from) issues.push({ path: fields.cert, message: `${what} is not valid before ${new Date(from).toISOString()}` });
      if (policy.nowMs > to) issues.push({ path: fields.cert, message: `${what} expired at ${new Date(to).toISOString()}` });
    });
    if (policy.anchors !== undefined) {
      const why = chainIssue(chain, policy.anchors);
      if (why !== undefined) issues.push({ path: fields.cert, message: why });
    }
    const missing = policy.names.filter((n) => !covers(leaf, n));
    if (missing.length > 0) issues.push({ path: fields.cert, message: `does not cover ${missing.join(', ')} (subjectAltName: ${leaf.subjectAltName ?? 'none'})` });
  }
  if (issues.length > 0 || !key) throw new GatewayConfigError(issues);
  return { chain, key };
}

/** The secure context a material gives (the same options at start and at every swap). */
function contextOptions(config: EdgeTlsConfig, m: Material): SecureContextOptions {
  return {
    cert: m.certPem,
    key: m.keyPem,
    ...(m.passphrase !== undefined ? { passphrase: m.passphrase } : {}),
    ...(m.clientCaPem !== undefined ? { ca: m.clientCaPem } : {}),
    ...(m.crlPem !== undefined ? { crl: m.crlPem } : {}),
    minVersion: config.minVersion,
    ciphers: config.ciphers,
    // The server's order (strongest first) rather than whatever the client lists first.
    honorCipherOrder: true,
  };
}

export class EdgeTls {
  readonly #deps: EdgeTlsDeps;
  readonly #config: EdgeTlsConfig;
  readonly #now: () => number;
  #material: Material;
  #source: EdgeReloadSource = 'start';
  #loadedAt: number;
  /** The digest of the last file load tried, applied or not: a file event that changes nothing is skipped. */
  #lastTried: string;
  #lastFailure: { at: number; source: EdgeReloadSource; reason: string } | undefined;
  #server: TlsServer | undefined;
  #watcher: FileWatcher | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #sync: EdgeCertificateSync | undefined;
  /** Client-auth material a bundle set, winning over the files (undefined: the files'). */
  #clientAuth: ClientAuthOverride | undefined;

  /** Loads and validates the files; throws GatewayConfigError (the listener cannot start without them). */
  constructor(deps: EdgeTlsDeps) {
    this.#deps = deps;
    this.#config = deps.config;
    this.#now = deps.now ?? Date.now;
    const inputs = this.#readFiles();
    this.#material = this.#validate(inputs, { cert: `${AT}.certFile`, key: `${AT}.keyFile` });
    this.#lastTried = inputs.digest;
    this.#loadedAt = this.#now();
    this.#publish();
  }

  /** The https.createServer options: the material, the protocol policy, and client certificates requested (not enforced) with clientAuth. */
  serverOptions(timeouts: { handshakeTimeoutMs: number }): ServerOptions {
    return {
      ...contextOptions(this.#config, this.#material),
      // Requested on every connection, never enforced at the handshake: a missing or invalid
      // certificate gets a coded HTTP refusal on the routes that need one (router.ts).
      requestCert: this.#config.clientAuth !== undefined,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      handshakeTimeout: timeouts.handshakeTimeoutMs,
    };
  }

  /** The server whose context reloads swap; with ocspResponseFile, answers its OCSP requests. */
  attach(server: TlsServer): void {
    this.#server = server;
    if (this.#config.ocspResponseFile !== undefined) {
      // Stapling from the file an external job refreshes (node:crypto cannot build OCSP requests).
      server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, response?: Buffer) => void) => {
        const response = this.#material.ocspResponse;
        if (response === undefined) done(null);
        else done(null, response);
      });
    }
  }

  /**
   * Starts the daily expiry check, the fleet sync (when `sync`: the fleet's newest certificate is
   * taken now, then every one published) and the file watch (when `watch`). A fleet store that is
   * down does not stop the start: the files' certificate is served meanwhile.
   */
  async start(): Promise<void> {
    this.#checkExpiry();
    this.#expiryTimer = setInterval(() => this.#checkExpiry(), DAY_MS).unref();
    if (this.#config.sync) {
      // Throws FLEET_SYNC_CONFIG for an unusable key (checked at config load already).
      const sync = new EdgeCertificateSync(this.#config.sync);
      this.#sync = sync;
      await sync.start(
        async (bundle) => {
          const r = this.apply({ certPem: bundle.certPem, keyPem: bundle.keyPem, clientCaPem: bundle.caPem, crlPem: bundle.crlPem }, 'fleet');
          if (!r.ok) throw r.error;
        },
        (err) => this.#deps.log.warn({ err: errSummary(err) }, 'tls: fleet sync of the edge certificate failed'),
      );
    }
    if (!this.#config.watch) return;
    const watcher = new FileWatcher({
      debounceMs: EDGE_WATCH_DEBOUNCE_MS,
      onChange: () => void this.reload('file'),
      onError: (err) => this.#deps.log.warn({ err: errSummary(err) }, 'tls: the file watch failed; SIGHUP or the admin API still reload the edge certificate'),
    });
    watcher.add(EDGE_NAME, this.#files());
    this.#watcher = watcher;
    await watcher.start();
  }

  async close(): Promise<void> {
    const sync = this.#sync;
    this.#sync = undefined;
    await sync?.close();
    clearInterval(this.#expiryTimer);
    this.#expiryTimer = undefined;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const w = this.#watcher;
    this.#watcher = undefined;
    await w?.close();
  }

  /**
   * Re-reads the files and swaps them in when they validate; otherwise the current context stays
   * and the failure is logged, counted and audited. Never throws. A file event's failure is
   * reported only when a second look FILE_RETRY_MS later fails too: a rotation that writes the
   * certificate and the key further apart than the watch's quiet period is not a failure.
   */
  reload(source: 'file' | 'signal' | 'admin', options: { final?: boolean } = {}): EdgeReloadResult {
    const defer = source === 'file' && options.final !== true;
    const fail = (err: unknown): EdgeReloadResult => (defer ? this.#defer(err) : this.#failed(source, err));
    let files: Inputs;
    try {
      files = this.#readFiles();
    } catch (err) {
      return fail(err);
    }
    // A file event whose files are what was last tried (applied or refused) changes nothing.
    if (defer && files.digest === this.#lastTried) return { ok: true, changed: false, status: this.status() };
    // The client-auth material a bundle set wins over the files through file events and SIGHUP (every
    // config reload sends one); only the admin's explicit reload returns to the files.
    const clientAuth = source === 'admin' ? undefined : this.#clientAuth;
    const inputs = overlay(files, clientAuth);
    // Nor does a SIGHUP when what it would serve is what is served.
    if (source === 'signal' && inputs.digest === this.#material.digest) return { ok: true, changed: false, status: this.status() };
    this.#lastTried = files.digest;
    let material: Material;
    try {
      material = this.#validate(inputs, { cert: `${AT}.certFile`, key: `${AT}.keyFile`, ...bundleFields(clientAuth) });
    } catch (err) {
      return fail(err);
    }
    return this.#swap(material, source, source === 'admin' && this.#clientAuth !== undefined, clientAuth);
  }

  /**
   * Validates a certificate and key given as PEM (admin upload, fleet) and swaps them in. Client-auth
   * material: a fleet bundle is the fleet's whole state (its client CAs and CRL when it carries
   * them, the files' otherwise); an upload's replaces what it carries and keeps the rest. The OCSP
   * response stays what the file gives. Never throws.
   */
  apply(bundle: EdgeBundle, source: 'upload' | 'fleet'): EdgeReloadResult {
    const carries = bundle.clientCaPem !== undefined || bundle.crlPem !== undefined;
    let clientAuth: ClientAuthOverride | undefined;
    if (carries && this.#config.clientAuth === undefined) {
      if (source === 'upload') {
        return this.#failed(source, new GatewayConfigError([{ path: bundle.crlPem !== undefined ? 'crlPem' : 'clientCaPem', message: `the public listener has no client authentication (${AT}.clientAuth): client CAs and CRLs do not apply` }]));
      }
      this.#deps.log.warn({}, 'tls: the fleet\'s edge bundle carries client CAs or a CRL but this listener has no clientAuth; they are ignored');
      clientAuth = undefined;
    } else if (source === 'fleet') {
      clientAuth = carries ? { ...pick(bundle), source } : undefined;
    } else {
      clientAuth = carries ? { ...pick(this.#clientAuth), ...pick(bundle), source } : this.#clientAuth;
    }
    let certPem = bundle.certPem;
    let keyPem = bundle.keyPem;
    let older = false;
    if (source === 'fleet') {
      // The fleet's certificate at start may be older than files renewed on this instance: the newer
      // stays, but the fleet's client-auth material is taken with it (a revocation must hold everywhere).
      try {
        const leaf = parseCertificates(bundle.certPem)[0];
        const current = this.#material.chain[0]!;
        if (leaf && Date.parse(leaf.validFrom) < Date.parse(current.validFrom)) {
          older = true;
          this.#deps.log.info({ fleetSerial: leaf.serialNumber, serial: current.serialNumber }, 'tls: the fleet\'s edge certificate is older than the one served; the served one stays');
          certPem = this.#material.certPem;
          keyPem = this.#material.keyPem;
        }
      } catch {
        /* validation below names the problem */
      }
    }
    let inputs: Inputs;
    try {
      const extra = this.#readExtras();
      inputs = overlay({ ...extra, certPem, keyPem, digest: '' }, clientAuth);
    } catch (err) {
      return this.#failed(source, err);
    }
    if (older && ((clientAuth === undefined && this.#clientAuth === undefined) || inputs.digest === this.#material.digest)) return { ok: true, changed: false, status: this.status() };
    let material: Material;
    try {
      material = this.#validate(inputs, older ? { cert: `${AT}.certFile`, key: `${AT}.keyFile`, ...bundleFields(clientAuth) } : { cert: 'certPem', key: 'keyPem', ...bundleFields(clientAuth) });
    } catch (err) {
      return this.#failed(source, err);
    }
    return this.#swap(material, source, !older, clientAuth);
  }

  /**
   * The admin upload: validated, written over certFile and keyFile (atomic renames, the key
   * re-encrypted with the passphrase when one is configured, mode 0600) — and the client CAs and
   * CRL it carries over clientAuth.caFile/crlFile when those are configured — so every worker's
   * watch and the next start serve it too, then swapped in here. The files are left alone when it fails.
   */
  upload(bundle: EdgeBundle): EdgeReloadResult & { persisted?: boolean } {
    const result = this.apply(bundle, 'upload');
    if (!result.ok) return result;
    try {
      let keyText = bundle.keyPem;
      const passphrase = this.#config.passphrase;
      if (passphrase !== undefined) {
        keyText = createPrivateKey(bundle.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString();
      }
      // The key first: a watch that fires between the two renames sees a mismatch, and retries on the second.
      atomicWrite(this.#config.keyFile, keyText, 0o600);
      atomicWrite(this.#config.certFile, bundle.certPem, 0o644);
      const persisted = this.#persistClientAuth(bundle);
      // What the files now hold is what is applied: their events are no reload.
      this.#lastTried = this.#readFiles().digest;
      return { ...result, persisted };
    } catch (err) {
      this.#deps.log.warn({ err: errSummary(err), certFile: this.#config.certFile }, 'tls: the uploaded edge certificate is served but could not be written to its files; a restart or a file reload returns to the files');
      return { ...result, persisted: false };
    }
  }

  /**
   * Replaces the client CAs and/or the CRL (admin, POST /tls/edge/client-auth), keeping the served
   * certificate and key; `'files'` returns to clientAuth.caFile/crlFile. Validated like an upload,
   * written over the configured files (`persisted`), then swapped in. Never throws.
   */
  setClientAuth(material: EdgeClientAuth | 'files'): EdgeReloadResult & { persisted?: boolean } {
    if (material === 'files') {
      if (this.#clientAuth === undefined) return { ok: true, changed: false, status: this.status() };
      let inputs: Inputs;
      try {
        inputs = overlay({ ...this.#readExtras(), certPem: this.#material.certPem, keyPem: this.#material.keyPem, digest: '' }, undefined);
      } catch (err) {
        return this.#failed('upload', err);
      }
      let m: Material;
      try {
        m = this.#validate(inputs, { cert: 'certPem', key: 'keyPem' });
      } catch (err) {
        return this.#failed('upload', err);
      }
      const r = this.#swap(m, 'upload', true, undefined);
      return r.ok ? { ...r, persisted: true } : r;
    }
    const result = this.apply({ certPem: this.#material.certPem, keyPem: this.#plainKey(), ...pick(material) }, 'upload');
    if (!result.ok) return result;
    let persisted: boolean;
    try {
      persisted = this.#persistClientAuth(material);
      this.#lastTried = this.#readFiles().digest;
    } catch (err) {
      this.#deps.log.warn({ err: errSummary(err) }, 'tls: the client CAs or CRL are in force but could not be written to their files');
      persisted = false;
    }
    return { ...result, persisted };
  }

  /**
   * Publishes what is served to the fleet — the certificate, its key and the client-auth material a
   * bundle set (none: every instance uses its files) — after a successful upload: undefined without
   * `sync`, false when the store did not take it (logged; this instance serves it anyway).
   */
  async publish(): Promise<boolean | undefined> {
    if (!this.#sync) return undefined;
    try {
      const ca = this.#clientAuth;
      await this.#sync.publish({
        certPem: this.#material.certPem,
        keyPem: this.#plainKey(),
        ...(ca?.clientCaPem !== undefined ? { caPem: ca.clientCaPem } : {}),
        ...(ca?.crlPem !== undefined ? { crlPem: ca.crlPem } : {}),
      });
      return true;
    } catch (err) {
      this.#deps.log.warn({ err: errSummary(err) }, 'tls: the uploaded edge certificate could not be published to the fleet');
      return false;
    }
  }

  status(): EdgeTlsStatus {
    const leaf = this.#material.chain[0]!;
    const f = this.#lastFailure;
    return {
      subject: oneLineName(leaf.subject),
      issuer: oneLineName(leaf.issuer),
      serial: leaf.serialNumber,
      fingerprint256: leaf.fingerprint256,
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
      names: [...this.#config.names],
      source: this.#source,
      loadedAt: new Date(this.#loadedAt).toISOString(),
      clientCas: this.#material.clientCas.length,
      crl: this.#material.crlPem !== undefined,
      clientAuthSource: this.#clientAuth?.source ?? 'files',
      ...(f ? { lastFailure: { at: new Date(f.at).toISOString(), source: f.source, reason: f.reason } } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------------

  /** The served key as unencrypted PEM (what a bundle carries; the fleet key encrypts it in the store). */
  #plainKey(): string {
    const passphrase = this.#config.passphrase;
    if (passphrase === undefined) return this.#material.keyPem;
    return createPrivateKey({ key: this.#material.keyPem, format: 'pem', passphrase }).export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** Writes the client CAs and CRL given over their configured files; false when one has no file to go to. */
  #persistClientAuth(m: EdgeClientAuth): boolean {
    const c = this.#config.clientAuth;
    let all = true;
    if (m.clientCaPem !== undefined) {
      if (c?.caFile !== undefined) atomicWrite(c.caFile, m.clientCaPem, 0o644);
      else all = false;
    }
    if (m.crlPem !== undefined) {
      if (c?.crlFile !== undefined) atomicWrite(c.crlFile, m.crlPem, 0o644);
      else all = false;
    }
    return all;
  }

  #files(): string[] {
    const c = this.#config;
    return [c.certFile, c.keyFile, c.caFile, c.clientAuth?.caFile, c.clientAuth?.crlFile, c.ocspResponseFile].filter((f): f is string => f !== undefined);
  }

  /** Client CAs, CRL and OCSP response from their files. */
  #readExtras(): Omit<Inputs, 'certPem' | 'keyPem' | 'digest'> {
    const c = this.#config;
    const issues: ConfigIssue[] = [];
    const text = (file: string | undefined, path: string): string | undefined => {
      if (file === undefined) return undefined;
      try {
        return readBounded(file).toString('utf8');
      } catch (err) {
        issues.push({ path, message: `cannot read ${file}: ${errnoText(err)}` });
        return undefined;
      }
    };
    const clientCaPem = text(c.clientAuth?.caFile, `${AT}.clientAuth.caFile`);
    const crlPem = text(c.clientAuth?.crlFile, `${AT}.clientAuth.crlFile`);
    let ocspResponse: Buffer | undefined;
    if (c.ocspResponseFile !== undefined) {
      try {
        ocspResponse = readBounded(c.ocspResponseFile);
      } catch (err) {
        // Stapling is optional: the certificate still rotates, nothing is stapled until the file is back.
        this.#deps.log.warn({ file: c.ocspResponseFile, err: errnoText(err) }, 'tls: cannot read the OCSP response file; no response is stapled');
      }
    }
    if (issues.length > 0) throw new GatewayConfigError(issues);
    return { clientCaPem, crlPem, ocspResponse };
  }

  #readFiles(): Inputs {
    const c = this.#config;
    const issues: ConfigIssue[] = [];
    const read = (file: string, path: string): string => {
      try {
        return readBounded(file).toString('utf8');
      } catch (err) {
        issues.push({ path, message: `cannot read ${file}: ${errnoText(err)}` });
        return '';
      }
    };
    const certPem = read(c.certFile, `${AT}.certFile`);
    const keyPem = read(c.keyFile, `${AT}.keyFile`);
    let extra: Omit<Inputs, 'certPem' | 'keyPem' | 'digest'> = { clientCaPem: undefined, crlPem: undefined, ocspResponse: undefined };
    try {
      extra = this.#readExtras();
    } catch (err) {
      if (err instanceof GatewayConfigError) issues.push(...err.issues);
      else throw err;
    }
    if (issues.length > 0) throw new GatewayConfigError(issues);
    const anchors = c.caFile !== undefined ? read(c.caFile, `${AT}.caFile`) : undefined;
    if (issues.length > 0) throw new GatewayConfigError(issues);
    return { certPem, keyPem, ...extra, digest: digestOf([certPem, keyPem, extra.clientCaPem, extra.crlPem, extra.ocspResponse, anchors]) };
  }

  /** Everything a swap needs, validated; throws GatewayConfigError naming each problem. */
  #validate(inputs: Inputs, fields: { cert: string; key: string; clientCa?: string; crl?: string }): Material {
    const caPath = fields.clientCa ?? `${AT}.clientAuth.caFile`;
    const crlPath = fields.crl ?? `${AT}.clientAuth.crlFile`;
    const c = this.#config;
    let anchors: X509Certificate[] | undefined;
    if (c.caFile !== undefined) {
      try {
        anchors = parseCertificates(readBounded(c.caFile));
      } catch (err) {
        throw new GatewayConfigError([{ path: `${AT}.caFile`, message: `cannot read ${c.caFile}: ${errnoText(err)}` }]);
      }
      if (anchors.length === 0) throw new GatewayConfigError([{ path: `${AT}.caFile`, message: 'holds no PEM certificate' }]);
    }
    const { chain } = validateEdgeBundle({ certPem: inputs.certPem, keyPem: inputs.keyPem, passphrase: c.passphrase }, { anchors, names: c.names, nowMs: this.#now() }, fields);
    let clientCas: X509Certificate[] = [];
    if (inputs.clientCaPem !== undefined) {
      try {
        clientCas = parseCertificates(inputs.clientCaPem);
      } catch (err) {
        throw new GatewayConfigError([{ path: caPath, message: `a certificate does not parse: ${errnoText(err)}` }]);
      }
      if (clientCas.length === 0) throw new GatewayConfigError([{ path: caPath, message: 'holds no PEM certificate' }]);
      const notCa = clientCas.find((ca) => !ca.ca);
      if (notCa) throw new GatewayConfigError([{ path: caPath, message: `${oneLineName(notCa.subject)} is not a CA certificate` }]);
    }
    if (inputs.crlPem !== undefined && !inputs.crlPem.includes('-----BEGIN X509 CRL-----')) {
      throw new GatewayConfigError([{ path: crlPath, message: 'holds no PEM CRL (-----BEGIN X509 CRL-----)' }]);
    }
    const material: Material = {
      chain,
      certPem: inputs.certPem,
      keyPem: inputs.keyPem,
      passphrase: c.passphrase,
      clientCaPem: inputs.clientCaPem,
      clientCas,
      crlPem: inputs.crlPem,
      ocspResponse: inputs.ocspResponse,
      digest: inputs.digest,
    };
    // What setSecureContext would build, built first: OpenSSL's own refusals (a CRL it cannot
    // parse, a cipher list it rejects) surface here, before anything is swapped.
    try {
      createSecureContext(contextOptions(c, material));
    } catch (err) {
      // The CRL is the usual culprit when it comes from a bundle: name its field then.
      const path = fields.crl !== undefined && inputs.crlPem !== undefined ? crlPath : AT;
      throw new GatewayConfigError([{ path, message: `OpenSSL refuses the material: ${errnoText(err)}` }]);
    }
    return material;
  }

  #swap(material: Material, source: EdgeReloadSource, force: boolean, clientAuth: ClientAuthOverride | undefined): EdgeReloadResult {
    const previous = this.#material.chain[0]!;
    const changed = force || material.digest !== this.#material.digest;
    try {
      this.#server?.setSecureContext(contextOptions(this.#config, material));
    } catch (err) {
      return this.#failed(source, err);
    }
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#material = material;
    this.#clientAuth = clientAuth;
    this.#source = source;
    this.#loadedAt = this.#now();
    this.#publish();
    this.#deps.countReload('success');
    const leaf = material.chain[0]!;
    const detail = {
      source,
      subject: oneLineName(leaf.subject),
      serial: leaf.serialNumber,
      fingerprint256: leaf.fingerprint256,
      notAfter: new Date(leaf.validTo).toISOString(),
      previousSerial: previous.serialNumber,
      clientAuthSource: clientAuth?.source ?? 'files',
      crl: material.crlPem !== undefined ? digestOf([material.crlPem]).slice(0, 16) : 'none',
    };
    this.#deps.log.info(detail, 'tls: edge certificate loaded');
    this.#auditOf(source, 'ok', detail);
    this.#checkExpiry();
    return { ok: true, changed, status: this.status() };
  }

  /** A file event's failure, looked at again FILE_RETRY_MS later (reported then if it persists). */
  #defer(err: unknown): EdgeReloadResult {
    const error = asConfigError(err);
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.reload('file', { final: true });
    }, FILE_RETRY_MS).unref();
    this.#deps.log.debug({ issues: error.issues }, 'tls: the edge files do not validate yet; looking again shortly');
    return { ok: false, error };
  }

  #failed(source: EdgeReloadSource, err: unknown): EdgeReloadResult {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const error = asConfigError(err);
    const reason = error.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    this.#lastFailure = { at: this.#now(), source, reason };
    this.#deps.countReload('failure');
    this.#deps.log.error({ source, issues: error.issues, serving: this.#material.chain[0]!.serialNumber }, 'tls: edge certificate reload failed; the current certificate stays in force');
    this.#auditOf(source, 'failed', { source, reason });
    return { ok: false, error };
  }

  /** Admin calls are audited by the admin API with their actor; the others here, as the gateway's. */
  #auditOf(source: EdgeReloadSource, outcome: 'ok' | 'failed', detail: Record<string, unknown>): void {
    if (source === 'admin' || source === 'upload' || source === 'start') return;
    const append = this.#deps.audit;
    if (!append) return;
    append({ actor: 'gateway', action: 'tls.edge.reload', outcome, client: 'local', target: EDGE_NAME, detail }).catch((err: unknown) =>
      this.#deps.log.error({ err: errSummary(err) }, 'tls: the audit entry of an edge certificate reload could not be written'),
    );
  }

  /** The registry (expiry gauge, admin certificates) shows what is served, in the same step as the swap. */
  #publish(): void {
    const source = this.#source === 'start' || this.#source === 'file' || this.#source === 'signal' || this.#source === 'admin' ? this.#config.certFile : this.#source;
    this.#deps.registry.set('edge', EDGE_NAME, this.#material.chain, source);
    const caFrom = this.#clientAuth?.clientCaPem !== undefined ? this.#clientAuth.source : (this.#config.clientAuth?.caFile ?? 'none');
    this.#deps.registry.set('client-ca', EDGE_NAME, this.#material.clientCas, caFrom);
    if (this.#config.ocspResponseFile !== undefined && !(this.#material.chain[0]!.infoAccess ?? '').includes('OCSP')) {
      this.#deps.log.warn({ subject: oneLineName(this.#material.chain[0]!.subject) }, 'tls: ocspResponseFile is set but the certificate names no OCSP responder');
    }
  }

  /** Logs a warning under 30 days, an error under 7 (edge certificate and client CAs). */
  #checkExpiry(): void {
    const now = this.#now();
    const certs: Array<[string, X509Certificate]> = [['edge', this.#material.chain[0]!], ...this.#material.clientCas.map((c): [string, X509Certificate] => ['client-ca', c])];
    for (const [role, cert] of certs) {
      const days = (Date.parse(cert.validTo) - now) / DAY_MS;
      if (days >= EXPIRY_WARNING_DAYS) continue;
      const fields = { role, subject: oneLineName(cert.subject), serial: cert.serialNumber, notAfter: new Date(cert.validTo).toISOString(), daysLeft: Math.floor(days) };
      if (days < EXPIRY_CRITICAL_DAYS) this.#deps.log.error(fields, 'tls: certificate expires within 7 days');
      else this.#deps.log.warn(fields, 'tls: certificate expires within 30 days');
    }
  }
}

function asConfigError(err: unknown): GatewayConfigError {
  return err instanceof GatewayConfigError ? err : new GatewayConfigError([{ path: AT, message: errnoText(err) }]);
}

/** The client-auth fields of a bundle or an override that are set. */
function pick(m: EdgeClientAuth | EdgeBundle | undefined): EdgeClientAuth {
  return { ...(m?.clientCaPem !== undefined ? { clientCaPem: m.clientCaPem } : {}), ...(m?.crlPem !== undefined ? { crlPem: m.crlPem } : {}) };
}

/** The inputs with a bundle's client-auth material over the files', and their digest. */
function overlay(inputs: Inputs, clientAuth: EdgeClientAuth | undefined): Inputs {
  // The files alone keep their own digest (a SIGHUP that changes nothing is no reload).
  if (clientAuth === undefined && inputs.digest !== '') return inputs;
  const clientCaPem = clientAuth?.clientCaPem ?? inputs.clientCaPem;
  const crlPem = clientAuth?.crlPem ?? inputs.crlPem;
  return { ...inputs, clientCaPem, crlPem, digest: digestOf([inputs.certPem, inputs.keyPem, clientCaPem, crlPem, inputs.ocspResponse]) };
}

/** The field names validation reports for client-auth material a bundle set. */
function bundleFields(clientAuth: EdgeClientAuth | undefined): { clientCa?: string; crl?: string } {
  return { ...(clientAuth?.clientCaPem !== undefined ? { clientCa: 'clientCaPem' } : {}), ...(clientAuth?.crlPem !== undefined ? { crl: 'crlPem' } : {}) };
}

function digestOf(parts: ReadonlyArray<string | Buffer | undefined>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = p === undefined ? Buffer.alloc(0) : Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8');
    h.update(String(b.length)).update(':').update(b);
  }
  return h.digest('hex');
}

/** Writes `file` through a temporary file in its directory and a rename: a reader sees the old or the new content. */
function atomicWrite(file: string, content: string, mode: number): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, content, { mode });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
