// The console's own codes (CONSOLE_): what the page itself concludes when the admin API could not
// answer with an ADMIN_ code. English here (the catalogue that docs/errors.md is generated from),
// zh-CN in i18n/explanations.ts. Imports only a type: this module is bundled for the browser.
import type { ErrorCatalogue } from '@wxseal/protocol/errors';

export const CONSOLE_ERRORS = {
  CONSOLE_NETWORK: {
    meaning: 'The console cannot reach the gateway\'s admin API (network failure, or the gateway stopped).',
    action: 'Check that the gateway runs and its admin listener is reachable, then reload the page.',
  },
  CONSOLE_BAD_RESPONSE: {
    meaning: 'The admin API answered something that is not JSON (a proxy\'s page, or a console and a gateway of different versions).',
    action: 'Reload the page; check any proxy in front of the admin listener.',
  },
  CONSOLE_HTTP_ERROR: {
    meaning: 'The admin API answered an HTTP error without a code (a proxy\'s error page); the status is shown.',
    action: 'Check any proxy in front of the admin listener, and the gateway\'s log.',
  },
} as const satisfies ErrorCatalogue;

export type ConsoleErrorCode = keyof typeof CONSOLE_ERRORS;
