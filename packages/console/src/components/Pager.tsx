import { useI18n } from '../i18n/context.js';

export function Pager({ page, hasPrev, hasNext, onPrev, onNext, busy }: { page: number; hasPrev: boolean; hasNext: boolean; onPrev: () => void; onNext: () => void; busy?: boolean }) {
  const { t } = useI18n();
  return (
    <nav class="pager" aria-label={t('pager.label')}>
      <button type="button" data-testid="page-prev" disabled={!hasPrev || busy} onClick={onPrev}>
        {t('pager.prev')}
      </button>
      <span data-testid="page-number">{t('pager.page', { page })}</span>
      <button type="button" data-testid="page-next" disabled={!hasNext || busy} onClick={onNext}>
        {t('pager.next')}
      </button>
    </nav>
  );
}
