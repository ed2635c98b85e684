import { ApiError } from '../api.js';
import type { I18n } from '../i18n/index.js';
import { useI18n } from '../i18n/context.js';

export function errorText(err: unknown, i18n: I18n): string {
  if (err instanceof ApiError) {
    const known = i18n.tv('error', err.code);
    const head = known !== err.code ? known : i18n.t('error.generic', { status: err.status });
    const parts = [head];
    if (err.message && err.message !== head) parts.push(err.message);
    if (err.retryAfterSeconds) parts.push(i18n.t('error.retryAfter', { seconds: err.retryAfterSeconds }));
    return `${parts.join(' — ')} (${err.code})`;
  }
  return `${i18n.t('error.unexpected')} — ${err instanceof Error ? err.message : String(err)}`;
}

export function ErrorBox({ error, testid = 'error' }: { error: unknown; testid?: string }) {
  const i18n = useI18n();
  if (error === null || error === undefined) return null;
  // What to do about it, from the code's explanation (ADMIN_ and CONSOLE_ codes), in the page's language.
  const why = error instanceof ApiError ? i18n.explain(error.code) : undefined;
  return (
    <div class="error" role="alert" data-testid={testid}>
      {errorText(error, i18n)}
      {why && (
        <div class="error-hint" data-testid={`${testid}-explanation`}>
          {i18n.t('error.whatToDo', { action: why.action })}
        </div>
      )}
    </div>
  );
}
