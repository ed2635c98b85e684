// Modal dialog on the native <dialog> element (showModal): focus moves into it, Tab stays inside,
// Escape closes it, the page behind is inert; focus returns to where it was when it closes.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { useI18n } from '../i18n/context.js';

export interface DialogProps {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
  /** 'drawer' slides in from the right. */
  variant?: 'dialog' | 'drawer';
  /** While busy, Escape and the close button do nothing. */
  busy?: boolean;
}

export function Dialog({ title, onClose, children, testid = 'dialog', variant = 'dialog', busy = false }: DialogProps) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const busyRef = useRef(busy);
  busyRef.current = busy;
  useEffect(() => {
    const el = ref.current;
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (el && !el.open) el.showModal();
    return () => {
      if (el?.open) el.close();
      if (previous && previous.isConnected) previous.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={variant === 'drawer' ? 'drawer' : 'modal'}
      aria-labelledby={titleId}
      data-testid={testid}
      onCancel={(e) => {
        e.preventDefault();
        if (!busyRef.current) onClose();
      }}
    >
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button
          type="button"
          class="icon-button"
          aria-label={t('action.close')}
          title={t('action.close')}
          data-testid="dialog-close"
          disabled={busy}
          onClick={onClose}
        >
          ×
        </button>
      </div>
      <div class="dialog-body">{children}</div>
    </dialog>
  );
}
