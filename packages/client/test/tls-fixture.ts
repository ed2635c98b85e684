/**
 * The test PKI of the client's TLS tests: a CA, a server certificate for 127.0.0.1/localhost, a
 * client certificate, and a CA nobody uses. On Node 20 it is made here with
 * tests/support/tls-certs.ts; Node 16.13 has no global WebCrypto for that, so node16-runtime.test.ts
 * makes it on Node 20 and hands it over in WXSEAL_CLIENT_TEST_TLS_PKI (JSON). Nothing is committed.
 */
export interface PkiEntry {
  certPem: string;
  keyPem: string;
  fingerprint256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: the pin that matches it. */
  spkiSha256: string;
}

export interface TestPki {
  ca: PkiEntry;
  otherCa: PkiEntry;
  server: PkiEntry;
  client: PkiEntry;
}

export const PKI_ENV = 'WXSEAL_CLIENT_TEST_TLS_PKI';

/** The part of tests/support/tls-certs.ts used here (typed locally: the Node 16 run cannot import it). */
interface TlsCerts {
  makeCa(name?: string): Promise<PkiEntry & { name: string }>;
  issueCert(ca: PkiEntry & { name: string }, options: { cn: string; usage?: 'server' | 'client' | 'both' }): Promise<PkiEntry>;
}

const pick = ({ certPem, keyPem, fingerprint256, spkiSha256 }: PkiEntry): PkiEntry => ({ certPem, keyPem, fingerprint256, spkiSha256 });

export async function makeTestPki(): Promise<TestPki> {
  const given = process.env[PKI_ENV];
  if (given !== undefined) return JSON.parse(given) as TestPki;
  // A computed specifier: the Node 16 run rewrites literal imports of files outside the package.
  const where = new URL('../../../tests/support/tls-certs.ts', import.meta.url).href;
  const certs = (await import(where)) as TlsCerts;
  const ca = await certs.makeCa('wxseal client test CA');
  const otherCa = await certs.makeCa('some other CA');
  const server = await certs.issueCert(ca, { cn: 'localhost' });
  const client = await certs.issueCert(ca, { cn: 'bff-client', usage: 'client' });
  return { ca: pick(ca), otherCa: pick(otherCa), server: pick(server), client: pick(client) };
}

/** For node16-runtime.test.ts: the PKI as the environment variable's value. */
export async function testPkiEnv(): Promise<Record<string, string>> {
  return { [PKI_ENV]: JSON.stringify(await makeTestPki()) };
}

