// Devices (一机一密): server-side prefix search, filters and keyset paging only — the list never
// loads more than one page, so it stays fast with millions of devices.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, isAbort, seg } from '../api.js';
import { ConfirmDialog, checkReason, ReasonField } from '../components/ConfirmDialog.js';
import { Dialog } from '../components/Dialog.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { TableHead } from '../components/TableHead.js';
import { Pager } from '../components/Pager.js';
import { SecretDialog, type SecretItem } from '../components/SecretDialog.js';
import { useCursorStack, useDebounced, useQuery } from '../hooks.js';
import { useI18n } from '../i18n/context.js';
import type { Device, DeviceDetails, DeviceKey, DeviceList, ImportResult, ProvisionedDevice, RevokedDevice, RotatedDevice } from '../types.js';

export const PAGE_SIZE = 50;
export const IMPORT_CHUNK = 10_000;
/** What the API accepts as a serial prefix (longer or other characters → 400). */
export const SERIAL_PREFIX = /^[A-Za-z0-9._:-]{0,64}$/;

type Action = { kind: 'revoke' | 'rotate'; serial: string };
type Shown = { title: string; items: SecretItem[] };

/** Serials pasted one per line (or separated by spaces, commas, semicolons), deduplicated. */
export function parseSerials(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).filter(Boolean))];
}

export function Devices() {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [product, setProduct] = useState('');
  const [status, setStatus] = useState<'' | 'active' | 'revoked'>('');
  const dq = useDebounced(q.trim(), 300);
  const dProduct = useDebounced(product.trim(), 300);
  const qValid = SERIAL_PREFIX.test(dq);
  const filterKey = JSON.stringify([dq, dProduct, status]);
  const pager = useCursorStack(filterKey);
  const [selected, setSelected] = useState<string | null>(null);
  const [action, setAction] = useState<Action | null>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [dialog, setDialog] = useState<'provision' | 'import' | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const { data: list, error, loading, reload, version } = useQuery(
    qValid ? (signal) => api.get<DeviceList>('/devices', { q: dq, product: dProduct, status, cursor: pager.cursor, limit: PAGE_SIZE }, signal) : null,
    [dq, dProduct, status, pager.cursor, qValid],
  );


  const showKey = (title: string, device: Device, key: DeviceKey) =>
    setShown({
      title,
      items: [
        { label: t('device.serial'), value: device.serial, testid: 'secret-serial' },
        { label: t('device.keyId'), value: key.keyId, testid: 'secret-key-id' },
        { label: t('device.keyVersion'), value: String(key.version), testid: 'secret-version' },
        { label: t('device.secret'), value: key.secret, testid: 'secret-value', secret: true },
      ],
    });

  const runAction = async (a: Action, reason: string, graceSeconds?: number) => {
    if (a.kind === 'revoke') {
      await api.post<RevokedDevice>(`/devices/${seg(a.serial)}/revoke`, { reason });
      setNotice(t('device.revoked', { serial: a.serial }));
    } else {
      const r = await api.post<RotatedDevice>(`/devices/${seg(a.serial)}/rotate`, { reason, graceSeconds: graceSeconds ?? 3600 });
      showKey(t('device.rotatedTitle', { serial: a.serial }), r.device, r.key);
    }
    reload();
  };

  const devices = list?.devices ?? [];
  // A gateway without a devices section answers every device call with ADMIN_NOT_CONFIGURED: the
  // page says so in the console's language, and offers nothing that could only fail.
  const notConfigured = error instanceof ApiError && error.code === 'ADMIN_NOT_CONFIGURED';
  return (
    <section aria-labelledby="devices-title">
      <div class="page-head">
        <h1 id="devices-title">{t('devices.title')}</h1>
        <div class="page-tools">
          <button type="button" class="primary" data-testid="device-provision" disabled={notConfigured} onClick={() => setDialog('provision')}>
            {t('devices.provision')}
          </button>
          <button type="button" data-testid="device-import" disabled={notConfigured} onClick={() => setDialog('import')}>
            {t('devices.import')}
          </button>
        </div>
      </div>
      <div class="filters" role="search">
        <label class="field inline">
          <span>{t('devices.search')}</span>
          <input
            type="search"
            data-testid="device-search"
            placeholder={t('devices.searchPlaceholder')}
            value={q}
            autocomplete="off"
            spellcheck={false}
            maxLength={64}
            disabled={notConfigured}
            aria-invalid={qValid ? 'false' : 'true'}
            aria-describedby="device-search-error"
            onInput={(e) => setQ(e.currentTarget.value)}
          />
          {!qValid && (
            <span class="field-error" id="device-search-error" role="alert" data-testid="device-search-error">
              {t('devices.searchInvalid')}
            </span>
          )}
        </label>
        <label class="field inline">
          <span>{t('devices.product')}</span>
          <input
            data-testid="device-product-filter"
            placeholder={t('devices.productPlaceholder')}
            value={product}
            autocomplete="off"
            spellcheck={false}
            disabled={notConfigured}
            onInput={(e) => setProduct(e.currentTarget.value)}
          />
        </label>
        <label class="field inline">
          <span>{t('devices.status')}</span>
          <select data-testid="device-status-filter" value={status} disabled={notConfigured} onChange={(e) => setStatus(e.currentTarget.value as '' | 'active' | 'revoked')}>
            <option value="">{t('devices.statusAll')}</option>
            <option value="active">{t('status.active')}</option>
            <option value="revoked">{t('status.revoked')}</option>
          </select>
        </label>
      </div>
      {notice && (
        <p class="notice" role="status" data-testid="notice">
          {notice}
        </p>
      )}
      {notConfigured ? (
        <div class="notice" role="status" data-testid="devices-not-configured">
          <p>
            <strong>{t('devices.notConfiguredTitle')}</strong>
          </p>
          <p>{t('devices.notConfiguredHelp')}</p>
        </div>
      ) : (
        <>
          <ErrorBox error={error} />
          <DeviceTable devices={devices} loading={loading} onOpen={setSelected} onAction={setAction} />
          <Pager
            page={pager.page}
            hasPrev={pager.hasPrev}
            hasNext={Boolean(list?.nextCursor)}
            busy={loading}
            onPrev={pager.prev}
            onNext={() => list?.nextCursor && pager.next(list.nextCursor)}
          />
        </>
      )}

      {selected && <DeviceDrawer serial={selected} reload={version} onClose={() => setSelected(null)} onAction={setAction} />}
      {action && (
        <ConfirmDialog
          title={t(action.kind === 'revoke' ? 'device.revokeTitle' : 'device.rotateTitle', { serial: action.serial })}
          message={t(action.kind === 'revoke' ? 'device.revokeMessage' : 'device.rotateMessage', { serial: action.serial })}
          confirmLabel={t(action.kind === 'revoke' ? 'device.revoke' : 'device.rotate')}
          danger={action.kind === 'revoke'}
          grace={action.kind === 'rotate'}
          onConfirm={({ reason, graceSeconds }) => runAction(action, reason, graceSeconds)}
          onClose={() => setAction(null)}
        />
      )}
      {dialog === 'provision' && (
        <ProvisionDialog
          onClose={() => setDialog(null)}
          onDone={(device, key) => {
            setDialog(null);
            showKey(t('device.provisionedTitle', { serial: device.serial }), device, key);
            reload();
          }}
        />
      )}
      {dialog === 'import' && <ImportDialog onClose={() => setDialog(null)} onImported={reload} />}
      {shown && <SecretDialog title={shown.title} items={shown.items} onClose={() => setShown(null)} />}
    </section>
  );
}

function StatusBadge({ status }: { status: string }) {
  const { tv } = useI18n();
  return (
    <span class={`badge status-${status}`} data-testid="status-badge">
      {tv('status', status)}
    </span>
  );
}

function DeviceTable({ devices, loading, onOpen, onAction }: { devices: Device[]; loading: boolean; onOpen: (s: string) => void; onAction: (a: Action) => void }) {
  const i18n = useI18n();
  const { t } = i18n;
  return (
    <div class="table-wrap" aria-busy={loading}>
      <table class="table" data-testid="device-table" data-loading={loading ? 'true' : 'false'}>
        <TableHead columns={['device.serial', 'device.product', 'device.status', { key: 'device.keyVersion', numeric: true }, 'device.lastSeen', 'device.updated']} />
        <tbody>
          {devices.length === 0 && !loading && (
            <tr>
              <td colSpan={7} class="empty" data-testid="devices-empty">
                {t('devices.empty')}
              </td>
            </tr>
          )}
          {devices.map((d) => (
            <tr key={d.serial} data-testid="device-row" data-serial={d.serial} data-status={d.status}>
              <td>
                <button type="button" class="link mono" data-testid="device-details" onClick={() => onOpen(d.serial)}>
                  {d.serial}
                </button>
              </td>
              <td class="mono">{d.productId}</td>
              <td>
                <StatusBadge status={d.status} />
              </td>
              <td class="num">{d.keyVersion}</td>
              <td>{i18n.time(d.lastSeenAt)}</td>
              <td>{i18n.time(d.updatedAt)}</td>
              <td class="row-actions">
                {d.status === 'active' && (
                  <>
                    <button type="button" class="small" data-testid="device-rotate" onClick={() => onAction({ kind: 'rotate', serial: d.serial })}>
                      {t('device.rotate')}
                    </button>
                    <button type="button" class="small danger" data-testid="device-revoke" onClick={() => onAction({ kind: 'revoke', serial: d.serial })}>
                      {t('device.revoke')}
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DeviceDrawer({ serial, reload, onClose, onAction }: { serial: string; reload: number; onClose: () => void; onAction: (a: Action) => void }) {
  const i18n = useI18n();
  const { t } = i18n;
  const [details, setDetails] = useState<DeviceDetails | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const c = new AbortController();
    api
      .get<DeviceDetails>(`/devices/${seg(serial)}`, undefined, c.signal)
      .then((d) => {
        setDetails(d);
        setError(null);
      })
      .catch((err: unknown) => {
        if (!isAbort(err)) setError(err);
      });
    return () => c.abort();
  }, [serial, reload]);
  const d = details?.device;
  return (
    <Dialog title={t('device.detailsTitle', { serial })} onClose={onClose} testid="device-drawer" variant="drawer">
      <ErrorBox error={error} />
      {!details && !error && <p class="muted">{t('state.loading')}</p>}
      {d && (
        <>
          <dl class="props" data-testid="device-props">
            <dt>{t('device.serial')}</dt>
            <dd class="mono">{d.serial}</dd>
            <dt>{t('device.product')}</dt>
            <dd class="mono">{d.productId}</dd>
            <dt>{t('device.status')}</dt>
            <dd>
              <StatusBadge status={d.status} />
            </dd>
            <dt>{t('device.keyVersion')}</dt>
            <dd>{d.keyVersion}</dd>
            <dt>{t('device.created')}</dt>
            <dd>{i18n.time(d.createdAt)}</dd>
            <dt>{t('device.updated')}</dt>
            <dd>{i18n.time(d.updatedAt)}</dd>
            <dt>{t('device.lastSeen')}</dt>
            <dd>{i18n.time(d.lastSeenAt)}</dd>
            {d.revokedAt && (
              <>
                <dt>{t('device.revokedAt')}</dt>
                <dd>{i18n.time(d.revokedAt)}</dd>
              </>
            )}
            {d.revokeReason && (
              <>
                <dt>{t('device.revokeReason')}</dt>
                <dd>{d.revokeReason}</dd>
              </>
            )}
          </dl>
          {d.status === 'active' && (
            <div class="dialog-actions start">
              <button type="button" data-testid="drawer-rotate" onClick={() => onAction({ kind: 'rotate', serial: d.serial })}>
                {t('device.rotate')}
              </button>
              <button type="button" class="danger" data-testid="drawer-revoke" onClick={() => onAction({ kind: 'revoke', serial: d.serial })}>
                {t('device.revoke')}
              </button>
            </div>
          )}
          <h3>{t('device.audit')}</h3>
          {details.audit.length === 0 ? (
            <p class="muted">{t('audit.empty')}</p>
          ) : (
            <ol class="timeline" data-testid="device-audit">
              {details.audit.map((e) => (
                <li key={e.id} data-testid="device-audit-row" data-action={e.action}>
                  <div>
                    <code>{e.action}</code> <span class={`badge outcome-${e.outcome}`}>{i18n.tv('outcome', e.outcome)}</span>
                  </div>
                  <div class="muted">
                    {i18n.time(e.at)} · {e.actor} · {e.client}
                  </div>
                  {e.reason && <div>{t('audit.reasonLine', { reason: e.reason })}</div>}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </Dialog>
  );
}

function ProvisionDialog({ onClose, onDone }: { onClose: () => void; onDone: (device: Device, key: DeviceKey) => void }) {
  const { t } = useI18n();
  const [serial, setSerial] = useState('');
  const [productId, setProductId] = useState('');
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const r = checkReason(reason);
    setReasonError(r.ok ? undefined : t(r.error));
    if (!r.ok || !serial.trim() || !productId.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      const res = await api.post<ProvisionedDevice>('/devices', { serial: serial.trim(), productId: productId.trim(), reason: r.reason });
      onDone(res.device, res.key);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={t('devices.provisionTitle')} onClose={onClose} testid="provision-dialog" busy={busy}>
      <form onSubmit={submit}>
        <label class="field">
          <span>{t('device.serial')}</span>
          <input data-testid="provision-serial" required autoFocus autocomplete="off" spellcheck={false} value={serial} onInput={(e) => setSerial(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>{t('device.product')}</span>
          <input data-testid="provision-product" required autocomplete="off" spellcheck={false} value={productId} onInput={(e) => setProductId(e.currentTarget.value)} />
        </label>
        <ReasonField value={reason} onInput={setReason} error={reasonError} />
        <ErrorBox error={error} testid="dialog-error" />
        <div class="dialog-actions">
          <button type="button" data-testid="cancel-button" disabled={busy} onClick={onClose}>
            {t('action.cancel')}
          </button>
          <button type="submit" class="primary" data-testid="confirm-button" disabled={busy}>
            {busy ? t('state.working') : t('devices.provision')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ImportDialog({ onClose, onImported }: { onClose: () => void; onImported: () => void }) {
  const i18n = useI18n();
  const { t } = i18n;
  const [productId, setProductId] = useState('');
  const [text, setText] = useState('');
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState<string | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<string | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  const serials = useMemo(() => parseSerials(text), [text]);

  const submit = async (e: Event) => {
    e.preventDefault();
    const r = checkReason(reason);
    setReasonError(r.ok ? undefined : t(r.error));
    if (!r.ok || !productId.trim() || serials.length === 0 || busy) return;
    setBusy(true);
    setError(null);
    const total: ImportResult = { imported: 0, skipped: 0, failed: [] };
    try {
      for (let i = 0; i < serials.length; i += IMPORT_CHUNK) {
        setProgress(t('import.progress', { done: i, total: serials.length }));
        const rows = serials.slice(i, i + IMPORT_CHUNK).map((serial) => ({ serial }));
        const res = await api.post<ImportResult>('/devices/import', { productId: productId.trim(), rows, reason: r.reason });
        total.imported += res.imported;
        total.skipped += res.skipped;
        total.failed.push(...res.failed);
      }
      setResult(total);
      setText('');
    } catch (err) {
      setError(err);
      if (total.imported || total.skipped || total.failed.length) setResult(total);
    } finally {
      setProgress(null);
      setBusy(false);
      onImported();
    }
  };

  return (
    <Dialog title={t('import.title')} onClose={onClose} testid="import-dialog" busy={busy}>
      {result ? (
        <div data-testid="import-result">
          <p role="status">{t('import.result', { imported: result.imported, skipped: result.skipped, failed: result.failed.length })}</p>
          {result.failed.length > 0 && (
            <ul class="failed-list" data-testid="import-failed">
              {result.failed.slice(0, 200).map((f) => (
                <li key={f.serial}>
                  <code>{f.serial}</code> — {f.error}
                </li>
              ))}
              {result.failed.length > 200 && <li>{t('import.more', { n: result.failed.length - 200 })}</li>}
            </ul>
          )}
          <ErrorBox error={error} testid="dialog-error" />
          <div class="dialog-actions">
            <button type="button" class="primary" data-testid="import-done" onClick={onClose}>
              {t('action.done')}
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit}>
          <label class="field">
            <span>{t('device.product')}</span>
            <input data-testid="import-product" required autoFocus autocomplete="off" spellcheck={false} value={productId} onInput={(e) => setProductId(e.currentTarget.value)} />
          </label>
          <label class="field">
            <span>{t('import.serials')}</span>
            <textarea data-testid="import-serials" rows={8} spellcheck={false} class="mono" placeholder={t('import.serialsPlaceholder')} value={text} onInput={(e) => setText(e.currentTarget.value)} />
            <span class="hint" data-testid="import-count">
              {t('import.count', { n: i18n.num(serials.length) })}
            </span>
          </label>
          <p class="hint">{t('import.keysNote')}</p>
          <ReasonField value={reason} onInput={setReason} error={reasonError} />
          {progress && (
            <p class="muted" role="status">
              {progress}
            </p>
          )}
          <ErrorBox error={error} testid="dialog-error" />
          <div class="dialog-actions">
            <button type="button" data-testid="cancel-button" disabled={busy} onClick={onClose}>
              {t('action.cancel')}
            </button>
            <button type="submit" class="primary" data-testid="confirm-button" disabled={busy || serials.length === 0}>
              {busy ? t('state.working') : t('import.submit')}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
