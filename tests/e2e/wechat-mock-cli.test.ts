// `wxseal mock-wechat` as a user runs it: state generated on the first run and reused after,
// client.json consumed by the README's getuserphonenumber example (examples/wechat/phone-number.ts).
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopAllProcesses, stopProcess } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/wxseal.js');

function startMock(stateDir: string): Promise<{ child: ChildProcess; url: string; output: string }> {
  // Registered for cleanup at spawn, and killed here if it never gets ready: nothing is left running.
  const child = spawnTracked(process.execPath, [bin, 'mock-wechat', '--state-dir', stateDir, '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise<{ child: ChildProcess; url: string; output: string }>((resolve, reject) => {
    let output = '';
    // A guard against a hang, generous for a busy machine.
    const timer = setTimeout(() => reject(new Error(`mock-wechat did not start: ${output}`)), 120_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (m && output.includes('control API')) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`mock-wechat exited ${code}: ${output}`)));
  });
  return ready.catch(async (err: unknown) => {
    await stopProcess(child, 'SIGKILL');
    throw err;
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  return (await stopProcess(child, 'SIGTERM', 30_000)).code;
}

function runExample(clientJson: string, code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=wxseal-source', '--import', 'tsx', 'examples/wechat/phone-number.ts', code],
      { cwd: root, timeout: 30_000, env: { ...process.env, WXSEAL_MOCK_CLIENT: clientJson } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('wxseal mock-wechat + the README example', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'wxseal-mockwx-')), 'state');
  const children: ChildProcess[] = [];
  after(() => stopAllProcesses());

  test('first run generates the state; the example gets a phone number with API security; the second run reuses the keys', async () => {
    const first = await startMock(dir);
    children.push(first.child);
    assert.match(first.output, /new state generated/, first.output);
    const clientJson = join(dir, 'client.json');
    assert.equal(statSync(clientJson).mode & 0o077, 0, 'client.json must not be readable by others');
    const cfg = JSON.parse(readFileSync(clientJson, 'utf8')) as { appid: string; baseUrl: string; privateKeyPem: string };
    assert.equal(cfg.baseUrl, first.url);

    const r = await runExample(clientJson, 'button-code-1');
    assert.equal(r.code, 0, r.stderr);
    const phone = JSON.parse(r.stdout.trim()) as { purePhoneNumber: string; countryCode: string };
    assert.match(phone.purePhoneNumber, /^\d{11}$/, r.stdout);
    assert.equal(phone.countryCode, '86');
    const stats = (await (await fetch(`${first.url}/__mock/stats`)).json()) as { securedRequests: number; rejections: Record<string, number> };
    assert.equal(stats.securedRequests, 1, JSON.stringify(stats));
    assert.deepEqual(stats.rejections, {});
    assert.equal(await stop(first.child), 0);

    const second = await startMock(dir);
    children.push(second.child);
    assert.doesNotMatch(second.output, /new state generated/, second.output);
    const cfg2 = JSON.parse(readFileSync(clientJson, 'utf8')) as { appid: string; privateKeyPem: string };
    assert.equal(cfg2.appid, cfg.appid);
    assert.equal(cfg2.privateKeyPem, cfg.privateKeyPem);
    const r2 = await runExample(clientJson, 'button-code-2');
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await stop(second.child), 0);
  });
});
