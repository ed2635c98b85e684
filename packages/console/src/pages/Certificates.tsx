// WeChat platform / WeChat Pay certificates and public keys with a live countdown to expiry.
// Rows are highlighted under 30 days (warning) and under 7 days or expired (critical).
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { TableHead } from '../components/TableHead.js';
import { useNow } from '../hooks.js';
import { useI18n } from '../i18n/context.js';
import type { I18n } from '../i18n/index.js';
import type { Certificate, CertificateList, CertificateOwner, CertificateStatus, RefreshResult } from '../types.js';

const DAY = 86_400;
const RANK: Record<CertificateStatus, number> = { ok: 0, warning: 1, critical: 2, expired: 3 };

/** Status from the seconds left: expired ≤ 0, critical < 7 days, warning < 30 days. */
export function statusFor(seconds: number): CertificateStatus {
  if (seconds <= 0) return 'expired';
  if (seconds < 7 * DAY) return 'critical';
  if (seconds < 30 * DAY) return 'warning';
  return 'ok';
}

/** The more severe of the server's status and the one the countdown has reached since. */
export function liveStatus(server: CertificateStatus, seconds: number | undefined): CertificateStatus {
  if (seconds === undefined) return server;
  const local = statusFor(seconds);
  return RANK[local] > RANK[server] ? local : server;
}

/** Expiry instant (ms) from notAfter, else from secondsToExpiry at fetch time. */
export function expiryMs(c: Certificate, fetchedAt: number): number | undefined {
  if (c.notAfter) {
    const t = Date.parse(c.notAfter);
    if (!Number.isNaN(t)) return t;
  }
  if (typeof c.secondsToExpiry === 'number') return fetchedAt + c.secondsToExpiry * 1000;
  return undefined;
}

export function formatCountdown(seconds: number, i18n: I18n): string {
  if (seconds <= 0) return i18n.t('cert.expiredAgo', { time: formatCountdown(-seconds || 1, i18n) });
  const s = Math.floor(seconds);
  const d = Math.floor(s / DAY);
  const hh = String(Math.floor((s % DAY) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return i18n.t('cert.countdown', { d, hh, mm, ss });
}

const ownerKey = (o: CertificateOwner): string => (o.kind === 'wechatpay' ? `wechatpay:${o.mchid}` : o.kind === 'mp' ? `mp:${o.appid}` : `tls:${o.name}`);

export function Certificates() {
  const i18n = useI18n();
  const { t, tv } = i18n;
  const [data, setData] = useState<{ certs: Certificate[]; fetchedAt: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [refreshOwner, setRefreshOwner] = useState<CertificateOwner | 'all' | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const now = useNow(1000);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const r = await api.get<CertificateList>('/certificates');
      setData({ certs: r.certificates, fetchedAt: Date.now() });
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  const ownerText = (o: CertificateOwner) =>
    o.kind === 'wechatpay' ? t('cert.ownerPay', { id: o.mchid }) : o.kind === 'mp' ? t('cert.ownerMp', { id: o.appid }) : t('cert.ownerTls', { id: o.name });

  return (
    <section aria-labelledby="cert-title">
      <div class="page-head">
        <h1 id="cert-title">{t('cert.title')}</h1>
        <div class="page-tools">
          <button type="button" data-testid="cert-reload" disabled={loading} onClick={() => void load()}>
            {t('action.reload')}
          </button>
          <button type="button" class="primary" data-testid="cert-refresh" onClick={() => setRefreshOwner('all')}>
            {t('cert.refreshAll')}
          </button>
        </div>
      </div>
      <p class="muted">{t('cert.legend')}</p>
      {notice && (
        <p class="notice" role="status" data-testid="notice">
          {notice}
        </p>
      )}
      <ErrorBox error={error} />
      <div class="table-wrap" aria-busy={loading}>
        <table class="table" data-testid="cert-table" data-loading={loading ? 'true' : 'false'}>
          <TableHead columns={['cert.owner', 'cert.kind', 'cert.serial', 'table.source', 'cert.notAfter', 'cert.remaining', 'table.status']} />
          <tbody>
            {data?.certs.length === 0 && (
              <tr>
                <td colSpan={8} class="empty" data-testid="cert-empty">
                  {t('cert.empty')}
                </td>
              </tr>
            )}
            {data?.certs.map((c) => {
              const exp = expiryMs(c, data.fetchedAt);
              const left = exp === undefined ? undefined : (exp - now) / 1000;
              const status = liveStatus(c.status, left);
              return (
                <tr key={`${ownerKey(c.owner)}|${c.kind}|${c.serial}`} class={`cert-${status}`} data-testid="cert-row" data-serial={c.serial} data-status={status}>
                  <td>{ownerText(c.owner)}</td>
                  <td>{tv('certKind', c.kind)}</td>
                  <td class="mono" title={c.subject}>
                    {c.serial}
                    {c.subject && <div class="muted small">{c.subject}</div>}
                  </td>
                  <td>{tv('source', c.source)}</td>
                  <td>{exp === undefined ? '—' : i18n.time(new Date(exp).toISOString())}</td>
                  <td class="mono" data-testid="cert-countdown">
                    {left === undefined ? '—' : formatCountdown(left, i18n)}
                  </td>
                  <td>
                    <span class={`badge cert-badge-${status}`}>{tv('certStatus', status)}</span>
                  </td>
                  <td class="row-actions">
                    <button type="button" class="small" data-testid="cert-refresh-owner" onClick={() => setRefreshOwner(c.owner)}>
                      {t('cert.refreshOwner')}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {refreshOwner && (
        <ConfirmDialog
          title={t('cert.refreshTitle')}
          message={refreshOwner === 'all' ? t('cert.refreshAllMessage') : t('cert.refreshOwnerMessage', { owner: ownerText(refreshOwner) })}
          confirmLabel={t('cert.refresh')}
          onConfirm={async ({ reason }) => {
            const body = refreshOwner === 'all' ? { reason } : { owner: refreshOwner, reason };
            const r = await api.post<RefreshResult>('/certificates/refresh', body);
            setNotice(t('cert.refreshed', { n: r.refreshed }));
            await load();
          }}
          onClose={() => setRefreshOwner(null)}
        />
      )}
    </section>
  );
}
