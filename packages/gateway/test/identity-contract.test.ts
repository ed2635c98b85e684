// Issue 11, item 14: the identity headers' encoding towards the upstream is a contract (README,
// "Identity header encoding"): the value's UTF-8 bytes (lone surrogates as U+FFFD), percent-encoded
// as by encodeURIComponent. Identities with non-ASCII, spaces, '+', '%', emoji, separators, control
// characters, empty and 256-byte values go through a real gateway to a plain upstream and decode
// back exactly with Java's URLDecoder.decode(v, UTF_8) — run with the JDK, as the README shows it —
// and with a mirror of Go's url.PathUnescape. A missing JDK is a failure, not a skip (as in interop/).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WxsealClient } from '@wxseal/client';
import { IDENTITY_HEADERS, startGateway, type RunningGateway } from '@wxseal/gateway';
import type { WechatIdentity } from '@wxseal/protocol';
import { baseConfig, captureLogger, clientFor, makeKeys, startUpstream, type Upstream } from '../../../tests/support/gateway.js';

const keys = makeKeys('bff-contract');

/** Everything encodeURIComponent leaves as is, and '%': no '+', no space, nothing else. */
const ENCODED_ALPHABET = /^[A-Za-z0-9\-_.!~*'()%]*$/;

/** What the upstream must decode: the value with lone surrogates as U+FFFD. */
const wellFormed = (v: string): string => v.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** Go's url.PathUnescape, byte for byte: `%XX` → the byte, anything else as is ('+' stays '+'), a bad escape is an error. */
function goPathUnescape(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      if (c > 0x7f) throw new Error('not ASCII'); // a header value from the gateway never is
      out.push(c);
    }
  }
  return Buffer.from(out);
}

// The README's Java example, as a program: one header value per line in, the decoded value's
// UTF-8 bytes in hex per line out (no console charset in between).
const JAVA_DECODER = `
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

public class DecodeIdentity {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
    String line;
    while ((line = in.readLine()) != null) {
      String value = URLDecoder.decode(line, StandardCharsets.UTF_8);
      System.out.println("=" + HexFormat.of().formatHex(value.getBytes(StandardCharsets.UTF_8)));
    }
  }
}
`;

/** Decodes `values` with the JDK's URLDecoder (Java 17 single-file launch); the UTF-8 bytes of each. */
function javaDecode(values: readonly string[]): Buffer[] {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-java-'));
  try {
    const file = join(dir, 'DecodeIdentity.java');
    writeFileSync(file, JAVA_DECODER);
    const run = spawnSync('java', [file], { input: values.map((v) => `${v}\n`).join(''), encoding: 'utf8', timeout: 120_000 });
    if (run.error) assert.fail(`cannot run java (install a JDK 17: npm run services): ${run.error.message}`);
    assert.equal(run.status, 0, `java failed: ${run.stderr}`);
    const lines = run.stdout.split('\n').filter((l) => l.startsWith('='));
    assert.equal(lines.length, values.length);
    return lines.map((l) => Buffer.from(l.slice(1), 'hex'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// One identity per request; every member is exercised. Values are at most 256 UTF-8 bytes (SPEC.md 7).
const IDENTITIES: WechatIdentity[] = [
  { openid: 'o-中文 id', appid: 'a+b', unionid: '100%', env: '%41%2B', source: 'emoji 😀🎉' },
  { openid: 'slash/q?x=1&y=2#f', appid: 'quote"\'`', unionid: 'tab\there\nnew line\r', env: ' lead and trail ', source: 'semi;colon,comma=eq' },
  { openid: 'é'.repeat(128), appid: '😀'.repeat(64), unionid: 'x'.repeat(256), env: '', source: '~!*()\'-._' },
  { openid: '\ud800', appid: 'a\udc00b', unionid: 'ok\ud83d\ude00\ud83d', env: '\u0000nul', source: 'ÿ\u0080\u00a0' },
  { openid: 'oAbCdEf123-_', appid: 'wx1234567890abcdef', unionid: 'o6_bmasdasdsad6_2sgVt7hMZOPfL', env: 'prod-1a2b3c', source: 'wx_client' },
];

const FIELDS = ['openid', 'appid', 'unionid', 'env', 'source'] as const;

describe('identity header encoding: the contract with Java and Go upstreams', () => {
  let upstream: Upstream;
  let gw: RunningGateway;
  let client: WxsealClient;
  /** [sent value, header value as the upstream received it] */
  const received: [string, string][] = [];

  before(async () => {
    upstream = await startUpstream((_, res) => {
      res.writeHead(204).end();
    });
    gw = await startGateway(baseConfig(keys, upstream.url), { logger: captureLogger().logger });
    client = clientFor(keys, gw.url);
    for (const identity of IDENTITIES) {
      for (const mode of ['sealed', 'signed'] as const) {
        for (const v of Object.values(identity)) assert.ok(Buffer.byteLength(v as string) <= 256);
        const res = await client.post('/api/contract', { mode, json: {}, identity });
        assert.ok(res.status === 200 || res.status === 204, `${mode}: ${res.status}`);
        const seen = upstream.seen[upstream.seen.length - 1]!;
        for (const field of FIELDS) {
          const header = seen.headers[IDENTITY_HEADERS[field]];
          assert.equal(typeof header, 'string', `${mode}: ${field} arrives (an empty value is present, not absent)`);
          received.push([identity[field]!, header as string]);
        }
      }
    }
  });
  after(async () => {
    client?.close();
    await gw?.close();
    await upstream?.close();
  });

  test('header values are ASCII from the encodeURIComponent alphabet: never a space or a bare +', () => {
    assert.equal(received.length, IDENTITIES.length * 2 * FIELDS.length);
    for (const [sent, header] of received) {
      assert.match(header, ENCODED_ALPHABET, JSON.stringify(sent));
      assert.equal(header, encodeURIComponent(wellFormed(sent)));
    }
  });

  test("Go: url.PathUnescape gives the value's UTF-8 bytes exactly", () => {
    for (const [sent, header] of received) assert.deepEqual(goPathUnescape(header), Buffer.from(wellFormed(sent), 'utf8'), JSON.stringify(sent));
  });

  test('Java: URLDecoder.decode(v, UTF_8) gives the value exactly (its + rule never applies)', () => {
    const decoded = javaDecode(received.map(([, header]) => header));
    received.forEach(([sent], i) => assert.equal(decoded[i]!.toString('hex'), Buffer.from(wellFormed(sent), 'utf8').toString('hex'), JSON.stringify(sent)));
  });

  test('JavaScript: decodeURIComponent, the inverse the gateway encodes with', () => {
    for (const [sent, header] of received) assert.equal(decodeURIComponent(header), wellFormed(sent));
  });
});
