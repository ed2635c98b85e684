/**
 * Serves the built console (@wxseal/console's dist/, or the copy this package carries in
 * dist/console/) under /console/. The files hold no data (all of it comes from the API behind the session), so they are served without a session: the login
 * page must render. Every answer carries the security headers and the strict CSP.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONSOLE_CSP, sendJson, setSecurityHeaders } from './http.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The console's built files: the configured directory, else the first of these holding an
 * index.html — @wxseal/console's dist/ (in the monorepo, always the latest build) and the copy
 * the published package carries in dist/console/ (`npm run bundle-console`, run by the build and
 * by `npm pack`; @wxseal/console itself is private). Undefined when neither can be found.
 */
export function consoleDir(configured: string | undefined): string | undefined {
  if (configured !== undefined) return configured;
  const candidates: string[] = [];
  try {
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('@wxseal/console/package.json')), 'dist'));
  } catch {
    // not in the monorepo: the bundled copy
  }
  // dist/admin/console-files.js → dist/console (from the sources, src/console: absent).
  candidates.push(fileURLToPath(new URL('../console/', import.meta.url)));
  return candidates.find((d) => isFile(join(d, 'index.html'))) ?? candidates[0];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function serveConsole(req: IncomingMessage, res: ServerResponse, path: string, dir: string | undefined): void {
  setSecurityHeaders(res);
  res.setHeader('content-security-policy', CONSOLE_CSP);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: { code: 'ADMIN_NOT_FOUND', message: 'the console is read with GET' } }, { allow: 'GET, HEAD' });
    return;
  }
  if (path === '/console') {
    res.writeHead(302, { location: '/console/' }).end();
    return;
  }
  const root = dir === undefined ? undefined : resolve(dir);
  if (root === undefined || !isFile(join(root, 'index.html'))) {
    sendJson(res, 503, {
      error: { code: 'ADMIN_UNAVAILABLE', message: 'the console has not been built: run `npm run build -w @wxseal/console` (the admin API works without it)' },
    });
    return;
  }
  let rel: string;
  try {
    rel = decodeURIComponent(path.slice('/console/'.length));
  } catch {
    sendJson(res, 400, { error: { code: 'ADMIN_BAD_REQUEST', message: 'bad path' } });
    return;
  }
  if (rel.includes('\0') || rel.includes('\\') || rel.split('/').some((s) => s === '..' || s === '.')) {
    sendJson(res, 404, { error: { code: 'ADMIN_NOT_FOUND', message: 'no such file' } });
    return;
  }
  let file = rel === '' ? join(root, 'index.html') : resolve(root, rel);
  if (file !== root && !file.startsWith(root + sep)) {
    sendJson(res, 404, { error: { code: 'ADMIN_NOT_FOUND', message: 'no such file' } });
    return;
  }
  if (!isFile(file)) {
    // Client-side routes (no extension) get the app; a missing asset is a 404.
    if (extname(rel) !== '') {
      sendJson(res, 404, { error: { code: 'ADMIN_NOT_FOUND', message: 'no such file' } });
      return;
    }
    file = join(root, 'index.html');
  }
  const size = statSync(file).size;
  res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': String(size) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}
