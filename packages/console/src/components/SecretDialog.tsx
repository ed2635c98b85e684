// Shows a secret once (a device key, a client secret). The values live only in the parent's state
// while this is open; the parent drops them when it closes.
import { useRef, useState } from 'preact/hooks';
import { useI18n } from '../i18n/context.js';
import { Dialog } from './Dialog.js';

export interface SecretItem {
  label: string;
  value: string;
  testid: string;
  /** A secret value: gets the copy button and the "shown once" styling. */
  secret?: boolean;
}

export function CopyButton({ value, testid }: { value: string; testid: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const copy = async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(value);
      ok = true;
    } catch {
      ok = false;
    }
    setState(ok ? 'copied' : 'failed');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 2000);
  };
  return (
    <button type="button" class="copy" data-testid={testid} onClick={copy} aria-live="polite">
      {state === 'copied' ? t('action.copied') : state === 'failed' ? t('action.copyFailed') : t('action.copy')}
    </button>
  );
}

export function SecretDialog({ title, intro, items, onClose, once = true }: { title: string; intro?: string; items: SecretItem[]; onClose: () => void; once?: boolean }) {
  const { t } = useI18n();
  return (
    <Dialog title={title} onClose={onClose} testid="secret-dialog">
      {intro && <p>{intro}</p>}
      {once && (
        <p class="warning-note" role="note">
          {t('secret.once')}
        </p>
      )}
      <dl class="secret-list">
        {items.map((item) => (
          <div key={item.testid} class="secret-item">
            <dt>{item.label}</dt>
            <dd>
              <code class={item.secret ? 'secret' : undefined} data-testid={item.testid}>
                {item.value}
              </code>
              {item.secret && <CopyButton value={item.value} testid={`copy-${item.testid}`} />}
            </dd>
          </div>
        ))}
      </dl>
      <div class="dialog-actions">
        <button type="button" class="primary" data-testid="secret-done" onClick={onClose}>
          {t('action.done')}
        </button>
      </div>
    </Dialog>
  );
}
