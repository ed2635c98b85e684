import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { api, isAbort } from '../api.js';
import { Chart, PALETTE } from '../components/Chart.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { useInterval } from '../hooks.js';
import { TableHead } from '../components/TableHead.js';
import { useI18n } from '../i18n/context.js';
import type { FleetInstance, Stats, StatsTotals } from '../types.js';

export const REFRESH_MS = 10_000;

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** Reason codes over the totals and the series, most frequent first. */
export function reasonCodes(stats: StatsTotals): string[] {
  const totals = new Map<string, number>();
  for (const [code, n] of Object.entries(stats.rejected)) totals.set(code, (totals.get(code) ?? 0) + n);
  for (const b of stats.series) for (const code of Object.keys(b.rejected)) if (!totals.has(code)) totals.set(code, 0);
  return [...totals.keys()].sort((a, b) => (totals.get(b) ?? 0) - (totals.get(a) ?? 0) || a.localeCompare(b));
}

export function Overview() {
  const i18n = useI18n();
  const { t, num } = i18n;
  const [view, setView] = useState<Stats | null>(null);
  // '' = the fleet; otherwise one instance's id (GET /stats?instance=).
  const [instance, setInstance] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState<string | undefined>();
  const ctl = useRef<AbortController | null>(null);

  const load = useCallback(async () => {
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    try {
      const s = await api.get<Stats>('/stats', { instance }, c.signal);
      setView(s);
      setError(null);
      setUpdatedAt(new Date().toISOString());
    } catch (err) {
      if (!isAbort(err)) setError(err);
    }
  }, [instance]);

  useEffect(() => {
    void load();
    return () => ctl.current?.abort();
  }, [load]);
  useInterval(() => {
    if (document.visibilityState !== 'hidden') void load();
  }, REFRESH_MS);

  // The numbers on screen are those of the scope asked for: never show the fleet's under an instance's name.
  const stats: StatsTotals | null = view && (view.scope === 'fleet' ? instance === '' : view.instance === instance) ? view.totals : null;
  const codes = useMemo(() => (stats ? reasonCodes(stats) : []), [stats]);
  const traffic = useMemo<uPlot.AlignedData>(() => {
    const s = stats?.series ?? [];
    return [s.map((b) => Date.parse(b.t) / 1000), s.map((b) => b.accepted), s.map((b) => sum(b.rejected))];
  }, [stats]);
  const rejections = useMemo<uPlot.AlignedData>(() => {
    const s = stats?.series ?? [];
    return [s.map((b) => Date.parse(b.t) / 1000), ...codes.map((c) => s.map((b) => b.rejected[c] ?? 0))];
  }, [stats, codes]);

  const rejectedTotal = stats ? sum(stats.rejected) : 0;
  const ms = (n: number) => t('unit.ms', { n: num(n) });

  return (
    <section aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">{t('overview.title')}</h1>
        <div class="page-tools">
          <span class="muted" data-testid="overview-updated">
            {stats ? t('overview.since', { since: i18n.time(stats.since) }) : ''}
            {updatedAt ? ` · ${t('overview.updated', { time: i18n.time(updatedAt) })}` : ''}
          </span>
          <label>
            <span class="sr-only">{t('overview.scope')}</span>
            <select data-testid="overview-instance" aria-label={t('overview.scope')} value={instance} onChange={(e) => setInstance(e.currentTarget.value)}>
              <option value="">{t('overview.scopeFleet')}</option>
              {instanceOptions(view?.instances ?? [], instance).map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </label>
          <button type="button" data-testid="overview-refresh" onClick={() => void load()}>
            {t('action.reload')}
          </button>
        </div>
      </div>
      <ErrorBox error={error} />
      {view && !view.fleet.available && (
        <p class="warning-note" role="status" data-testid="fleet-unavailable">
          {t('overview.fleetUnavailable', { reason: view.fleet.reason ?? '' })}
        </p>
      )}
      <p class="muted" data-testid="overview-scope" data-scope={stats ? view?.scope : undefined}>
        {stats && view ? (view.scope === 'fleet' ? t('overview.scopeFleetCount', { n: num(view.instanceCount) }) : t('overview.scopeInstance', { id: view.instance ?? '' })) : ''}
      </p>
      <div class="cards">
        <Stat label={t('overview.instanceCount')} value={stats && view ? num(view.instanceCount) : '—'} testid="stat-instances" />
        <Stat label={t('overview.accepted')} value={stats ? num(stats.accepted) : '—'} testid="stat-accepted" tone="good" />
        <Stat label={t('overview.rejected')} value={stats ? num(rejectedTotal) : '—'} testid="stat-rejected" tone="bad" />
        <Stat label={t('overview.replays')} value={stats ? num(stats.replays) : '—'} testid="stat-replays" tone="bad" />
        <Stat label={t('overview.upstreamErrors')} value={stats ? num(stats.upstreamErrors) : '—'} testid="stat-upstream-errors" tone="warn" />
        <Stat label={t('overview.p50')} value={stats ? ms(stats.latencyMs.p50) : '—'} testid="stat-p50" />
        <Stat label={t('overview.p90')} value={stats ? ms(stats.latencyMs.p90) : '—'} testid="stat-p90" />
        <Stat label={t('overview.p99')} value={stats ? ms(stats.latencyMs.p99) : '—'} testid="stat-p99" />
      </div>
      <div class="charts">
        <figure class="panel">
          <figcaption>{t('overview.chartTraffic')}</figcaption>
          <Chart
            testid="chart-traffic"
            label={t('overview.chartTraffic')}
            data={traffic}
            series={[
              { label: t('overview.accepted'), color: PALETTE[0] ?? '#2f7d32' },
              { label: t('overview.rejected'), color: PALETTE[1] ?? '#c62828' },
            ]}
          />
        </figure>
        <figure class="panel">
          <figcaption>{t('overview.chartRejections')}</figcaption>
          {codes.length === 0 && stats && (
            <p class="muted" data-testid="chart-rejections-empty">
              {t('overview.noRejections')}
            </p>
          )}
          <Chart
            testid="chart-rejections"
            label={t('overview.chartRejections')}
            data={rejections}
            series={codes.map((c, i) => ({ label: c, color: PALETTE[(i + 2) % PALETTE.length] ?? '#333' }))}
          />
        </figure>
      </div>
      {codes.length > 0 && stats && (
        <div class="panel">
          <h2>{t('overview.byReason')}</h2>
          <table class="table compact" data-testid="rejections-table">
            <TableHead actions={false} columns={['overview.reasonCode', 'overview.explanation', { key: 'overview.count', numeric: true }]} />
            <tbody>
              {codes.map((c) => {
                const why = i18n.explain(c);
                return (
                  <tr key={c} data-testid="rejection-row" data-code={c}>
                    <td>
                      <code>{c}</code>
                    </td>
                    <td data-testid="rejection-explanation">
                      {why && (
                        <>
                          <div>{why.meaning}</div>
                          <div class="hint">{why.action}</div>
                        </>
                      )}
                    </td>
                    <td class="num">{num(stats.rejected[c] ?? 0)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {view && <Instances instances={view.instances} selected={instance} onSelect={setInstance} />}
    </section>
  );
}

/** The ids the scope selector offers: every instance listed, and the selected one even once it is gone from the list. */
export function instanceOptions(instances: readonly FleetInstance[], selected: string): string[] {
  const ids = instances.map((i) => i.instanceId);
  if (selected !== '' && !ids.includes(selected)) ids.push(selected);
  return ids;
}

function Instances({ instances, selected, onSelect }: { instances: readonly FleetInstance[]; selected: string; onSelect: (id: string) => void }) {
  const { t, num } = useI18n();
  return (
    <div class="panel">
      <h2>{t('overview.instances')}</h2>
      <table class="table compact" data-testid="instances-table">
        <TableHead
          columns={[
            'overview.instanceId',
            'overview.heartbeat',
            { key: 'overview.staleness', numeric: true },
            { key: 'overview.version', numeric: true },
            'overview.state',
            { key: 'overview.accepted', numeric: true },
            { key: 'overview.rejected', numeric: true },
          ]}
        />
        <tbody>
          {instances.map((i) => (
            <tr key={i.instanceId} data-testid="instance-row" data-instance={i.instanceId} data-live={String(i.live)} class={i.instanceId === selected ? 'selected' : undefined}>
              <td>
                <code>{i.instanceId}</code>
                {i.self && <span class="badge"> {t('overview.self')}</span>}
              </td>
              <td data-testid="instance-heartbeat">{t('overview.heartbeatAgo', { n: num(Math.round(i.heartbeatAgeMs / 1000)) })}</td>
              <td class="num" data-testid="instance-staleness">
                {i.stalenessMs < 0 ? t('overview.stalenessNever') : t('unit.ms', { n: num(i.stalenessMs) })}
              </td>
              <td class="num" data-testid="instance-version">
                {num(i.version)}
              </td>
              <td>
                <span class={`badge ${i.live ? 'status-active' : 'status-revoked'}`} data-testid="instance-state">
                  {i.live ? t('overview.live') : t('overview.gone')}
                </span>
                {!i.hasStats && <span class="badge"> {t('overview.noStats')}</span>}
              </td>
              <td class="num" data-testid="instance-accepted">
                {num(i.accepted)}
              </td>
              <td class="num">{num(i.rejected)}</td>
              <td>
                <button type="button" data-testid="instance-view" disabled={i.instanceId === selected} onClick={() => onSelect(i.instanceId)}>
                  {t('overview.view')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Stat({ label, value, testid, tone }: { label: string; value: string; testid: string; tone?: 'good' | 'bad' | 'warn' }) {
  return (
    <div class={`card${tone ? ` tone-${tone}` : ''}`}>
      <div class="card-label">{label}</div>
      <div class="card-value" data-testid={testid}>
        {value}
      </div>
    </div>
  );
}
