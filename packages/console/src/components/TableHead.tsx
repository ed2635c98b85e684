import { useI18n } from '../i18n/context.js';
import type { MessageKey } from '../i18n/index.js';

/** A column heading: a dictionary key, numeric columns right-aligned. */
export type Column = MessageKey | { key: MessageKey; numeric: true };

/** The header row every table of the console shares, ending with the (screen-reader) actions column. */
export function TableHead({ columns, actions = true }: { columns: readonly Column[]; actions?: boolean }) {
  const { t } = useI18n();
  return (
    <thead>
      <tr>
        {columns.map((c) =>
          typeof c === 'string' ? (
            <th scope="col" key={c}>
              {t(c)}
            </th>
          ) : (
            <th scope="col" class="num" key={c.key}>
              {t(c.key)}
            </th>
          ),
        )}
        {actions && (
          <th scope="col">
            <span class="sr-only">{t('table.actions')}</span>
          </th>
        )}
      </tr>
    </thead>
  );
}
