// Client credentials (their secrets: add → shown once; retire) and the server's keys, RSA, X25519
// or SM2 (rotate to a key of any type; retire). Secret values are never returned by a GET, so
// nothing secret is listed.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, seg } from '../api.js';
import { ConfirmDialog, type ConfirmInput } from '../components/ConfirmDialog.js';
import { ErrorBox } from '../components/ErrorBox.js';
import { TableHead } from '../components/TableHead.js';
import { SecretDialog, type SecretItem } from '../components/SecretDialog.js';
import { useI18n } from '../i18n/context.js';
import type { Credential, CredentialList, NewSecret, NewServerKey, ServerKey, ServerKeyList, ServerKeyType } from '../types.js';

const KEY_TYPES: readonly { value: ServerKeyType; label: 'keys.typeRsa' | 'keys.typeX25519' | 'keys.typeSm2' }[] = [
  { value: 'rsa', label: 'keys.typeRsa' },
  { value: 'x25519', label: 'keys.typeX25519' },
  { value: 'sm2', label: 'keys.typeSm2' },
];

type Pending =
  | { kind: 'add-secret'; keyId: string }
  | { kind: 'retire-secret'; keyId: string; secretId: string }
  | { kind: 'rotate-key' }
  | { kind: 'retire-key'; kid: string };

function useList<T>(path: string, pick: (body: never) => T[]) {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      const body = await api.get<never>(path);
      setItems(pick(body));
      setError(null);
    } catch (err) {
      setError(err);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps -- pick is an inline function, new on every render: path says what to load
  }, [path]);
  useEffect(() => {
    void load();
  }, [load]);
  return { items, error, load };
}

export function Credentials() {
  const i18n = useI18n();
  const { t, tv } = i18n;
  const creds = useList<Credential>('/credentials', (b: CredentialList) => b.credentials);
  const keys = useList<ServerKey>('/server-keys', (b: ServerKeyList) => b.keys);
  const [pending, setPending] = useState<Pending | null>(null);
  const [shown, setShown] = useState<{ title: string; intro?: string; once: boolean; items: SecretItem[] } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [keyType, setKeyType] = useState<ServerKeyType>('rsa');

  const run = async (p: Pending, { reason }: ConfirmInput) => {
    switch (p.kind) {
      case 'add-secret': {
        const r = await api.post<NewSecret>(`/credentials/${seg(p.keyId)}/secrets`, { reason });
        setShown({
          title: t('cred.addedTitle', { keyId: p.keyId }),
          once: true,
          items: [
            { label: t('cred.keyId'), value: p.keyId, testid: 'secret-key-id' },
            { label: t('cred.secretId'), value: r.secretId, testid: 'secret-id' },
            { label: t('cred.secret'), value: r.secret, testid: 'secret-value', secret: true },
          ],
        });
        await creds.load();
        return;
      }
      case 'retire-secret':
        await api.post(`/credentials/${seg(p.keyId)}/secrets/${seg(p.secretId)}/retire`, { reason });
        setNotice(t('cred.retired', { secretId: p.secretId }));
        await creds.load();
        return;
      case 'rotate-key': {
        const r = await api.post<NewServerKey>('/server-keys/rotate', { type: keyType, reason });
        setShown({
          title: t('keys.rotatedTitle'),
          intro: t('keys.rotatedIntro'),
          once: false,
          items: [
            { label: t('keys.kid'), value: r.kid, testid: 'key-kid' },
            { label: t('keys.type'), value: tv('keyType', r.type), testid: 'key-type' },
            { label: t('keys.publicKey'), value: r.publicKeyPem, testid: 'key-public-pem' },
          ],
        });
        await keys.load();
        return;
      }
      case 'retire-key':
        await api.post(`/server-keys/${seg(p.kid)}/retire`, { reason });
        setNotice(t('keys.retired', { kid: p.kid }));
        await keys.load();
        return;
    }
  };

  const confirmText = (p: Pending): { title: string; message: string; label: string; danger: boolean } => {
    switch (p.kind) {
      case 'add-secret':
        return { title: t('cred.addTitle', { keyId: p.keyId }), message: t('cred.addMessage'), label: t('cred.add'), danger: false };
      case 'retire-secret':
        return { title: t('cred.retireTitle', { secretId: p.secretId }), message: t('cred.retireMessage', { keyId: p.keyId }), label: t('cred.retire'), danger: true };
      case 'rotate-key':
        return { title: t('keys.rotateTitle'), message: t('keys.rotateMessage'), label: t('keys.rotate'), danger: false };
      case 'retire-key':
        return { title: t('keys.retireTitle', { kid: p.kid }), message: t('keys.retireMessage'), label: t('keys.retire'), danger: true };
    }
  };

  return (
    <section aria-labelledby="cred-title">
      <div class="page-head">
        <h1 id="cred-title">{t('cred.title')}</h1>
      </div>
      {notice && (
        <p class="notice" role="status" data-testid="notice">
          {notice}
        </p>
      )}

      <div class="panel">
        <div class="panel-head">
          <h2>{t('cred.clientTitle')}</h2>
          <button type="button" data-testid="credentials-reload" onClick={() => void creds.load()}>
            {t('action.reload')}
          </button>
        </div>
        <ErrorBox error={creds.error} />
        {creds.items?.length === 0 && <p class="muted">{t('cred.empty')}</p>}
        {creds.items?.map((c) => (
          <div class="credential" key={c.keyId} data-testid="credential" data-key-id={c.keyId}>
            <div class="panel-head">
              <h3 class="mono">{c.keyId}</h3>
              <button type="button" class="small" data-testid="secret-add" onClick={() => setPending({ kind: 'add-secret', keyId: c.keyId })}>
                {t('cred.add')}
              </button>
            </div>
            <table class="table compact">
              <TableHead columns={['cred.secretId', 'table.source', 'table.status', 'table.created']} />
              <tbody>
                {c.secrets.map((s) => (
                  <tr key={s.secretId} data-testid="secret-row" data-secret-id={s.secretId} data-status={s.status}>
                    <td class="mono">{s.secretId}</td>
                    <td>{tv('source', s.source)}</td>
                    <td>
                      <span class={`badge status-${s.status}`}>{tv('status', s.status)}</span>
                    </td>
                    <td>{i18n.time(s.createdAt)}</td>
                    <td class="row-actions">
                      {s.status === 'active' && (
                        <button
                          type="button"
                          class="small danger"
                          data-testid="secret-retire"
                          onClick={() => setPending({ kind: 'retire-secret', keyId: c.keyId, secretId: s.secretId })}
                        >
                          {t('cred.retire')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </div>

      <div class="panel">
        <div class="panel-head">
          <h2>{t('keys.title')}</h2>
          <div class="page-tools">
            <button type="button" data-testid="server-keys-reload" onClick={() => void keys.load()}>
              {t('action.reload')}
            </button>
            <button
              type="button"
              class="primary"
              data-testid="server-key-rotate"
              onClick={() => {
                setKeyType('rsa');
                setPending({ kind: 'rotate-key' });
              }}
            >
              {t('keys.rotate')}
            </button>
          </div>
        </div>
        <ErrorBox error={keys.error} />
        {keys.items?.length === 0 && <p class="muted">{t('keys.empty')}</p>}
        {keys.items && keys.items.length > 0 && (
          <table class="table compact">
            <TableHead columns={['keys.kid', 'keys.type', 'table.status', 'table.source', 'table.created', 'keys.publicKey']} />
            <tbody>
              {keys.items.map((k) => (
                <tr key={k.kid} data-testid="server-key-row" data-kid={k.kid} data-status={k.status} data-type={k.type}>
                  <td class="mono">{k.kid}</td>
                  <td data-testid="server-key-type" title={k.suite}>
                    {tv('keyType', k.type)}
                  </td>
                  <td>
                    <span class={`badge status-${k.status}`}>{tv('status', k.status)}</span>
                  </td>
                  <td>{tv('source', k.source)}</td>
                  <td>{i18n.time(k.createdAt)}</td>
                  <td>
                    <details>
                      <summary>{t('keys.show')}</summary>
                      <pre class="pem">{k.publicKeyPem}</pre>
                    </details>
                  </td>
                  <td class="row-actions">
                    {k.status === 'decrypt-only' && (
                      <button type="button" class="small danger" data-testid="server-key-retire" onClick={() => setPending({ kind: 'retire-key', kid: k.kid })}>
                        {t('keys.retire')}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>

      {pending && (
        <ConfirmDialog
          {...(() => {
            const c = confirmText(pending);
            return { title: c.title, message: c.message, confirmLabel: c.label, danger: c.danger };
          })()}
          {...(pending.kind === 'rotate-key'
            ? {
                fields: (
                  <label class="field">
                    <span>{t('field.keyType')}</span>
                    <select data-testid="key-type-select" value={keyType} onChange={(e) => setKeyType(e.currentTarget.value as ServerKeyType)}>
                      {KEY_TYPES.map((o) => (
                        <option key={o.value} value={o.value}>
                          {t(o.label)}
                        </option>
                      ))}
                    </select>
                    <span class="hint">{t('field.keyTypeHint')}</span>
                  </label>
                ),
              }
            : {})}
          onConfirm={(input) => run(pending, input)}
          onClose={() => setPending(null)}
        />
      )}
      {shown && <SecretDialog title={shown.title} {...(shown.intro ? { intro: shown.intro } : {})} items={shown.items} once={shown.once} onClose={() => setShown(null)} />}
    </section>
  );
}
