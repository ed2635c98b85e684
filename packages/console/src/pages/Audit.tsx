import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { Pager } from '../components/Pager.js';
import { useCursorStack, useDebounced, useQuery } from '../hooks.js';
import { TableHead } from '../components/TableHead.js';
import { useI18n } from '../i18n/context.js';
import type { AuditPage } from '../types.js';

export const AUDIT_PAGE_SIZE = 50;

export function Audit() {
  const i18n = useI18n();
  const { t, tv } = i18n;
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const dActor = useDebounced(actor.trim(), 300);
  const dAction = useDebounced(action.trim(), 300);
  const pager = useCursorStack(JSON.stringify([dActor, dAction]));
  const { data, error, loading, reload } = useQuery(
    (signal) => api.get<AuditPage>('/audit', { actor: dActor, action: dAction, cursor: pager.cursor, limit: AUDIT_PAGE_SIZE }, signal),
    [dActor, dAction, pager.cursor],
  );

  const entries = data?.entries ?? [];
  return (
    <section aria-labelledby="audit-title">
      <div class="page-head">
        <h1 id="audit-title">{t('audit.title')}</h1>
        <div class="page-tools">
          <button type="button" data-testid="audit-reload" onClick={reload}>
            {t('action.reload')}
          </button>
        </div>
      </div>
      <div class="filters" role="search">
        <label class="field inline">
          <span>{t('audit.actor')}</span>
          <input data-testid="audit-actor-filter" autocomplete="off" spellcheck={false} value={actor} onInput={(e) => setActor(e.currentTarget.value)} />
        </label>
        <label class="field inline">
          <span>{t('audit.action')}</span>
          <input
            data-testid="audit-action-filter"
            autocomplete="off"
            spellcheck={false}
            placeholder={t('audit.actionPlaceholder')}
            value={action}
            onInput={(e) => setAction(e.currentTarget.value)}
          />
        </label>
      </div>
      <ErrorBox error={error} />
      <div class="table-wrap" aria-busy={loading}>
        <table class="table" data-testid="audit-table" data-loading={loading ? 'true' : 'false'}>
          <TableHead actions={false} columns={['audit.at', 'audit.actor', 'audit.action', 'audit.target', 'audit.reason', 'audit.outcome', 'audit.client']} />
          <tbody>
            {entries.length === 0 && !loading && (
              <tr>
                <td colSpan={7} class="empty" data-testid="audit-empty">
                  {t('audit.empty')}
                </td>
              </tr>
            )}
            {entries.map((e) => (
              <tr key={e.id} data-testid="audit-row" data-id={e.id} data-action={e.action} data-outcome={e.outcome}>
                <td class="nowrap">{i18n.time(e.at)}</td>
                <td>{e.actor}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td class="mono">{e.target ?? '—'}</td>
                <td class="wrap">
                  {e.reason ?? '—'}
                  {e.detail !== undefined && (
                    <details>
                      <summary>{t('audit.detail')}</summary>
                      <pre class="pem">{JSON.stringify(e.detail, null, 2)}</pre>
                    </details>
                  )}
                </td>
                <td>
                  <span class={`badge outcome-${e.outcome}`}>{tv('outcome', e.outcome)}</span>
                </td>
                <td class="mono">{e.client}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={pager.page} hasPrev={pager.hasPrev} hasNext={Boolean(data?.nextCursor)} busy={loading} onPrev={pager.prev} onNext={() => data?.nextCursor && pager.next(data.nextCursor)} />
    </section>
  );
}
