// Language selection and message lookup. The dictionaries are plain modules (zh.ts, en.ts) so node
// can import them in tests; this module adds interpolation and formatting.
import { en } from './en.js';
import { explainCode, type Explanation } from './explanations.js';
import { zh, type MessageKey, type Messages } from './zh.js';

export type { Explanation, MessageKey, Messages };
export type Lang = 'zh-CN' | 'en';
export const LANGS: readonly Lang[] = ['zh-CN', 'en'];
export const DEFAULT_LANG: Lang = 'zh-CN';
export const dictionaries: Record<Lang, Messages> = { 'zh-CN': zh, en };

const STORAGE_KEY = 'wxseal.console.lang';

export function initialLang(): Lang {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored && (LANGS as readonly string[]).includes(stored)) return stored as Lang;
  } catch {
    // storage unavailable: default
  }
  return DEFAULT_LANG;
}

export function rememberLang(lang: Lang): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // ignore
  }
}

export type Params = Record<string, string | number>;

export function translate(lang: Lang, key: MessageKey, params?: Params): string {
  const text: string = dictionaries[lang][key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

/** A message for a value from the API (status, kind, error code) when the dictionary knows it. */
export function translateValue(lang: Lang, prefix: string, value: string): string | undefined {
  const dict = dictionaries[lang] as Record<string, string>;
  return dict[`${prefix}.${value}`];
}

export interface I18n {
  lang: Lang;
  t: (key: MessageKey, params?: Params) => string;
  /** Known value → its label; unknown value → the value itself. */
  tv: (prefix: string, value: string) => string;
  /** What an error code (WXSEAL_, ADMIN_, CONSOLE_) means and what to do, in this language. */
  explain: (code: string) => Explanation | undefined;
  time: (iso: string | undefined) => string;
  num: (n: number) => string;
}

export function makeI18n(lang: Lang): I18n {
  const dateFmt = new Intl.DateTimeFormat(lang, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  const numFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  return {
    lang,
    t: (key, params) => translate(lang, key, params),
    tv: (prefix, value) => translateValue(lang, prefix, value) ?? value,
    explain: (code) => explainCode(lang, code),
    time: (iso) => {
      if (!iso) return '—';
      const d = new Date(iso);
      return Number.isNaN(d.getTime()) ? iso : dateFmt.format(d);
    },
    num: (n) => numFmt.format(n),
  };
}
