import { readFileSync } from 'node:fs';
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol';

/** Stable codes of the `wxseal` command's own failures (beside the codes of the libraries). */
export const CLI_ERRORS = {
  CLI_USAGE: {
    meaning: 'The command line is wrong: an unknown command or option, a missing or invalid argument.',
    action: 'Run the command with --help and fix the arguments.',
  },
  CLI_INVALID_INPUT: {
    meaning: 'A value given to an option or on stdin is invalid (the message says which and why).',
    action: 'Fix the value the message names.',
  },
  CLI_FILE_NOT_FOUND: {
    meaning: 'A file named by an option does not exist.',
    action: 'Check the path given to the option.',
  },
  CLI_FILE_UNREADABLE: {
    meaning: 'A file named by an option cannot be read (a directory, no permission).',
    action: 'Check the path and the file\'s permissions.',
  },
  CLI_FILE_EXISTS: {
    meaning: 'The command would overwrite a file that exists.',
    action: 'Give another path, or --force to overwrite.',
  },
  CLI_FILE_UNWRITABLE: {
    meaning: 'A file cannot be written (no permission, no such directory, disk full).',
    action: 'Check the directory and its permissions.',
  },
  CLI_NOT_CONFIGURED: {
    meaning: 'Something the command needs is not configured (an environment variable, the device database).',
    action: 'Set what the message names (its option or environment variable).',
  },
  CLI_PORT_IN_USE: {
    meaning: 'The port to listen on is already in use.',
    action: 'Stop what listens there, or choose another port.',
  },
  CLI_PORT_NOT_ALLOWED: {
    meaning: 'The process may not listen on the port (ports below 1024 need privileges).',
    action: 'Choose a port above 1023, or grant the privilege.',
  },
  CLI_NOTHING_TO_CHECK: {
    meaning: 'A check command was given nothing it can check (e.g. --private-key alone).',
    action: 'Give what the check needs (see the command\'s --help).',
  },
  CLI_CHECK_FAILED: {
    meaning: 'A check found a problem.',
    action: 'Fix what the report lists, then run the check again.',
  },
  CLI_CANCELLED: {
    meaning: 'The command was cancelled before it could read its input (Ctrl-C, closed stdin).',
    action: 'Run it again and give the input.',
  },
  CLI_REWRAP_INCOMPLETE: {
    meaning: '`wxseal device rewrap` left some rows under an older master key.',
    action: 'Keep the older master keys in the ring; run rewrap again (rows changed concurrently), or look into the rows that do not decrypt.',
  },
  CLI_INTERNAL_ERROR: {
    meaning: 'A failure nobody anticipated (the message gives the underlying error).',
    action: 'Run again with --debug (or WXSEAL_DEBUG=1) for the stack, and report it.',
  },
} as const satisfies ErrorCatalogue;

export type CliErrorCode = keyof typeof CLI_ERRORS;

/**
 * A failure of the command line itself: printed as one line, `wxseal: CODE: message (--option)`,
 * exit status 2. `option` names the flag or argument the failure concerns, when there is one.
 */
export class CliError extends CodedError<CliErrorCode> {
  override readonly name = 'CliError';
  readonly option: string | undefined;

  constructor(code: CliErrorCode, message: string, option?: string) {
    super(code, message);
    this.option = option;
  }
}

/** The one-line form of a CliError, as main() prints it: its display form and the option. */
export function formatCliError(err: CliError): string {
  return `wxseal: ${err.toString()}${err.option ? ` (${err.option})` : ''}`;
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
