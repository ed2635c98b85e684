// Confirmation of a state-changing action: every such action needs a reason (1..500 characters,
// written to the audit log); rotation also takes a grace period, and a page may add fields of its
// own (the server-key rotation's key type).
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useI18n } from '../i18n/context.js';
import { Dialog } from './Dialog.js';
import { ErrorBox } from './ErrorBox.js';

export const REASON_MAX = 500;
export const GRACE_MAX = 604800;

export interface ConfirmInput {
  reason: string;
  graceSeconds?: number;
}

export interface ConfirmDialogProps {
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  /** Show the grace period field (seconds, default 3600). */
  grace?: boolean;
  /** More fields, shown before the reason; their state is the caller's. */
  fields?: ComponentChildren;
  onConfirm: (input: ConfirmInput) => Promise<void>;
  onClose: () => void;
}

/** Validates a reason; returns the trimmed reason or an error message key. */
export function checkReason(reason: string): { ok: true; reason: string } | { ok: false; error: 'validation.reasonRequired' | 'validation.reasonTooLong' } {
  const r = reason.trim();
  if (!r) return { ok: false, error: 'validation.reasonRequired' };
  if (r.length > REASON_MAX) return { ok: false, error: 'validation.reasonTooLong' };
  return { ok: true, reason: r };
}

export function ReasonField({ value, onInput, error, autoFocus }: { value: string; onInput: (v: string) => void; error?: string | undefined; autoFocus?: boolean }) {
  const { t } = useI18n();
  return (
    <label class="field">
      <span>{t('field.reason')}</span>
      <textarea
        data-testid="reason-input"
        required
        autofocus={autoFocus}
        maxLength={REASON_MAX}
        rows={2}
        value={value}
        placeholder={t('field.reasonPlaceholder')}
        aria-invalid={error ? 'true' : 'false'}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      {error && (
        <span class="field-error" data-testid="reason-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

export function ConfirmDialog({ title, message, confirmLabel, danger, grace, fields, onConfirm, onClose }: ConfirmDialogProps) {
  const { t } = useI18n();
  const [reason, setReason] = useState('');
  const [graceText, setGraceText] = useState('3600');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [graceError, setGraceError] = useState<string | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    const r = checkReason(reason);
    setFieldError(r.ok ? undefined : t(r.error));
    let graceSeconds: number | undefined;
    if (grace) {
      const g = Number(graceText);
      if (!/^\d+$/.test(graceText.trim()) || g < 0 || g > GRACE_MAX) {
        setGraceError(t('validation.grace', { max: GRACE_MAX }));
        return;
      }
      setGraceError(undefined);
      graceSeconds = g;
    }
    if (!r.ok) return;
    setBusy(true);
    setError(null);
    try {
      await onConfirm(graceSeconds === undefined ? { reason: r.reason } : { reason: r.reason, graceSeconds });
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={title} onClose={onClose} testid="confirm-dialog" busy={busy}>
      <form onSubmit={submit} noValidate>
        <div class="dialog-message">{message}</div>
        {grace && (
          <label class="field">
            <span>{t('field.graceSeconds')}</span>
            <input
              type="number"
              min={0}
              max={GRACE_MAX}
              step={1}
              data-testid="grace-input"
              autofocus
              value={graceText}
              aria-invalid={graceError ? 'true' : 'false'}
              onInput={(e) => setGraceText(e.currentTarget.value)}
            />
            <span class="hint">{t('field.graceHint')}</span>
            {graceError && (
              <span class="field-error" role="alert" data-testid="grace-error">
                {graceError}
              </span>
            )}
          </label>
        )}
        {fields}
        <ReasonField value={reason} onInput={setReason} error={fieldError} autoFocus={!grace} />
        <ErrorBox error={error} testid="dialog-error" />
        <div class="dialog-actions">
          <button type="button" data-testid="cancel-button" disabled={busy} onClick={onClose}>
            {t('action.cancel')}
          </button>
          <button type="submit" class={danger ? 'danger' : 'primary'} data-testid="confirm-button" disabled={busy}>
            {busy ? t('state.working') : confirmLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
