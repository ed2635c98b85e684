import { readFileSync } from 'node:fs';

/** Stable codes of the `wxseal` command's own failures (beside the WXSEAL_* codes of the libraries). */
export type CliErrorCode =
  | 'CLI_USAGE'
  | 'CLI_FILE_NOT_FOUND'
  | 'CLI_FILE_UNREADABLE'
  | 'CLI_FILE_EXISTS'
  | 'CLI_FILE_UNWRITABLE'
  | 'CLI_INVALID_INPUT'
  | 'CLI_NOTHING_TO_CHECK'
  | 'CLI_CHECK_FAILED'
  | 'CLI_PORT_IN_USE'
  | 'CLI_PORT_NOT_ALLOWED'
  | 'CLI_NOT_CONFIGURED'
  | 'CLI_CANCELLED'
  | 'CLI_INTERNAL_ERROR';

/**
 * A failure of the command line itself: printed as one line, `wxseal: CODE: message (--option)`,
 * exit status 2. `option` names the flag or argument the failure concerns, when there is one.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;
  readonly option: string | undefined;

  constructor(code: CliErrorCode, message: string, option?: string) {
    super(message);
    this.code = code;
    this.option = option;
  }
}

/** The one-line form of a CliError, as main() prints it. */
export function formatCliError(err: CliError): string {
  return `wxseal: ${err.code}: ${err.message}${err.option ? ` (${err.option})` : ''}`;
}

/**
 * Reads a file named by an option; a missing or unreadable file is a CliError naming the option
 * instead of a bare ENOENT.
 */
export function readOptionFile(path: string, option: string): Buffer;
export function readOptionFile(path: string, option: string, encoding: 'utf8'): string;
export function readOptionFile(path: string, option: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding ? readFileSync(path, encoding) : readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError('CLI_FILE_NOT_FOUND', `no such file: ${path}`, option);
    if (code === 'EISDIR') throw new CliError('CLI_FILE_UNREADABLE', `${path} is a directory`, option);
    throw new CliError('CLI_FILE_UNREADABLE', `cannot read ${path}: ${code ?? (err as Error).message}`, option);
  }
}
