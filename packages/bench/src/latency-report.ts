/** Renders the latency matrix: a terminal table, a BENCHMARKS.md section and an SVG chart (log scale). */
import { LATENCY_BODY_SIZES, LATENCY_CONCURRENCY, latencySizeText, type LatencyCell, type LatencyMatrixResult, type LatencySuiteId } from './latency-matrix.js';

/** Where the latency chart goes: next to the main chart (benchmarks.svg → benchmarks-latency.svg). */
export function latencySvgPathFor(svgPath: string): string {
  return svgPath.replace(/(\.svg)?$/, '-latency.svg');
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
/** Milliseconds with three significant digits. */
export const latencyMs = (n: number): string => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n));

function cellOf(l: LatencyMatrixResult, suite: LatencySuiteId, bodyBytes: number, concurrency: number): LatencyCell | undefined {
  return l.cells.find((c) => c.suite === suite && c.bodyBytes === bodyBytes && c.concurrency === concurrency);
}

function suiteIds(l: LatencyMatrixResult): LatencySuiteId[] {
  return [...new Set(l.cells.map((c) => c.suite))];
}

function labelOf(l: LatencyMatrixResult, id: LatencySuiteId): string {
  return l.suites.find((s) => s.id === id)?.label ?? id;
}

const p50p99 = (c: LatencyCell | undefined): string => (c?.status === 'ok' && c.latencyMs ? `${latencyMs(c.latencyMs.p50)} / ${latencyMs(c.latencyMs.p99)}` : c?.status ?? '–');

export function latencyTerminal(l: LatencyMatrixResult, table: (rows: string[][], right: ReadonlySet<number>) => string): string[] {
  const head = ['latency p50 / p99 ms', 'body', ...LATENCY_CONCURRENCY.map((c) => `× ${c}`)];
  const rows: string[][] = [];
  for (const id of suiteIds(l)) {
    for (const b of LATENCY_BODY_SIZES) rows.push([labelOf(l, id), latencySizeText(b), ...LATENCY_CONCURRENCY.map((c) => p50p99(cellOf(l, id, b, c)))]);
  }
  const out = [table([head, ...rows], new Set([2, 3, 4]))];
  for (const c of l.cells) if (c.status === 'failed') out.push(`  (latency) ${c.suite} ${latencySizeText(c.bodyBytes)} × ${c.concurrency} FAILED: ${c.reason ?? ''}`);
  return out;
}

export function latencyMarkdown(l: LatencyMatrixResult, svgPath: string | undefined, mdCell: (s: string) => string): string[] {
  const out: string[] = ['## Latency: concurrency × body size', ''];
  out.push(`${l.status === 'ok' ? '' : `**FAILED**: ${mdCell(l.reason ?? '')}. `}The plain proxy and each suite of valid sealed traffic through the gateway (${l.suites.map((s) => `${mdCell(s.label)}: ${mdCell(s.target)}`).join('; ')}), one target process at a time, with request bodies of 100 B, 10 KB and 1 MB (JSON) at 1, 10 and 100 concurrent callers. Method: ${mdCell(l.method)}. Took ${l.elapsedS} s.`);
  out.push('');
  if (svgPath) {
    out.push(`![p50 and p99 latency per suite, concurrency and body size (log scale)](${svgPath})`);
    out.push('');
  }
  out.push(`| suite | body | ${LATENCY_CONCURRENCY.map((c) => `× ${c}: p50 / p99 ms | req/s`).join(' | ')} | server CPU µs/req at × ${LATENCY_CONCURRENCY[LATENCY_CONCURRENCY.length - 1]} |`);
  out.push(`|---|--:|${LATENCY_CONCURRENCY.map(() => '--:|--:|').join('')}--:|`);
  for (const id of suiteIds(l)) {
    for (const b of LATENCY_BODY_SIZES) {
      const cells = LATENCY_CONCURRENCY.map((c) => cellOf(l, id, b, c));
      const last = cells[cells.length - 1];
      out.push(
        `| ${mdCell(labelOf(l, id))} | ${latencySizeText(b)} | ${cells.map((c) => `${p50p99(c)} | ${c?.status === 'ok' && c.reqPerSec !== undefined ? int(c.reqPerSec) : '–'}`).join(' | ')} | ${last?.serverCpuMicrosPerRequest !== undefined ? int(last.serverCpuMicrosPerRequest) : '–'} |`,
      );
    }
  }
  out.push('');
  const failed = l.cells.filter((c) => c.status !== 'ok');
  for (const c of failed) out.push(`- ${c.suite} ${latencySizeText(c.bodyBytes)} × ${c.concurrency}: ${c.status}${c.reason ? ` (${mdCell(c.reason)})` : ''}`);
  if (failed.length > 0) out.push('');
  return out;
}

const SUITE_COLORS: Record<LatencySuiteId, string> = { plain: '#6b7280', rsa: '#2563eb', x25519: '#0891b2', 'session-key': '#7c3aed' };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * One panel per body size; in each, a group of bars per concurrency, one bar per suite: the bar is
 * the p50, the tick above it the p99. Log scale: the cells span four orders of magnitude.
 */
export function renderLatencySvg(l: LatencyMatrixResult): string {
  const ids = suiteIds(l);
  const ok = l.cells.filter((c) => c.status === 'ok' && c.latencyMs);
  const values = ok.flatMap((c) => [c.latencyMs!.p50, c.latencyMs!.p99]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 0.1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1))));
  const panelW = 300;
  const left = 60;
  const top = 50;
  const plotH = 260;
  const width = left + LATENCY_BODY_SIZES.length * panelW + 20;
  const height = top + plotH + 90;
  const y = (v: number): number => top + plotH - (plotH * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">Latency per request: p50 (bar) and p99 (tick), ms, log scale</text>`);
  for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) {
    const v = Math.pow(10, e);
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#374151">${v >= 1 ? int(v) : v.toString()}</text>`);
  }
  const groupW = (panelW - 30) / LATENCY_CONCURRENCY.length;
  const barW = Math.max(4, (groupW - 12) / Math.max(1, ids.length));
  LATENCY_BODY_SIZES.forEach((b, pi) => {
    const x0 = left + pi * panelW + 10;
    parts.push(`<text x="${x0 + (panelW - 30) / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">body ${latencySizeText(b)}</text>`);
    LATENCY_CONCURRENCY.forEach((c, gi) => {
      const gx = x0 + gi * groupW;
      parts.push(`<text x="${(gx + groupW / 2 - 6).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" fill="#374151">× ${c}</text>`);
      ids.forEach((id, si) => {
        const cell = cellOf(l, id, b, c);
        if (cell?.status !== 'ok' || !cell.latencyMs) return;
        const bx = gx + si * barW;
        const yTop = y(cell.latencyMs.p50);
        const title = `${labelOf(l, id)}, ${latencySizeText(b)} × ${c}: p50 ${latencyMs(cell.latencyMs.p50)} ms, p99 ${latencyMs(cell.latencyMs.p99)} ms`;
        parts.push(`<rect x="${bx.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(top + plotH - yTop).toFixed(1)}" fill="${SUITE_COLORS[id]}"><title>${esc(title)}</title></rect>`);
        const y99 = y(cell.latencyMs.p99);
        parts.push(`<line x1="${bx.toFixed(1)}" x2="${(bx + barW - 1).toFixed(1)}" y1="${y99.toFixed(1)}" y2="${y99.toFixed(1)}" stroke="#111827" stroke-width="2"/>`);
        parts.push(`<line x1="${(bx + barW / 2).toFixed(1)}" x2="${(bx + barW / 2).toFixed(1)}" y1="${y99.toFixed(1)}" y2="${yTop.toFixed(1)}" stroke="#111827" stroke-width="1"/>`);
      });
    });
  });
  parts.push(`<text x="${left + (width - left) / 2}" y="${top + plotH + 34}" text-anchor="middle" fill="#374151">concurrent callers</text>`);
  ids.forEach((id, i) => {
    const lx = left + i * 220;
    const ly = top + plotH + 58;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${SUITE_COLORS[id]}"/>`);
    parts.push(`<text x="${lx + 18}" y="${ly}">${esc(labelOf(l, id))}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
