import { useI18n } from '../i18n/context.js';
import { LANGS, type Lang } from '../i18n/index.js';

export function LangSwitch() {
  const { t, lang, setLang } = useI18n();
  return (
    <label class="lang-switch">
      <span class="sr-only">{t('header.language')}</span>
      <select data-testid="lang-switch" value={lang} onChange={(e) => setLang(e.currentTarget.value as Lang)}>
        {LANGS.map((l) => (
          <option key={l} value={l}>
            {t(l === 'en' ? 'lang.en' : 'lang.zh')}
          </option>
        ))}
      </select>
    </label>
  );
}
