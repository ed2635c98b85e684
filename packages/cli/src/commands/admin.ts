/**
 * `wxseal admin hash-password`: reads a password (from the terminal without echo, asked twice, or
 * the first line of stdin when it is not a terminal) and prints its scrypt hash for the gateway's
 * `admin.auth.users[].passwordHash`. The password is never printed or logged.
 */
import { hashPassword } from '@wxseal/gateway';

export interface AdminIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: (text: string) => void;
  /** Prompts and errors. */
  stderr: (text: string) => void;
}

/** Reads one line from a terminal in raw mode, echoing nothing. */
function readHidden(io: AdminIo, prompt: string): Promise<string> {
  const input = io.stdin;
  io.stderr(prompt);
  input.setRawMode!(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const cleanup = (): void => {
      input.off('data', onData);
      input.setRawMode!(false);
      input.pause();
      io.stderr('\n');
    };
    const onData = (chunk: string | Buffer): void => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          cleanup();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          cleanup();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}

async function readFirstLine(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

export async function hashPasswordCommand(io: AdminIo): Promise<number> {
  let password: string;
  try {
    if (io.stdin.isTTY && io.stdin.setRawMode) {
      password = await readHidden(io, 'Password: ');
      const again = await readHidden(io, 'Again: ');
      if (again !== password) {
        io.stderr('wxseal: CLI_INVALID_INPUT: the two passwords differ\n');
        return 2;
      }
    } else {
      password = await readFirstLine(io.stdin);
    }
  } catch {
    io.stderr('wxseal: CLI_CANCELLED: no password read\n');
    return 130;
  }
  if (password.length === 0) {
    io.stderr('wxseal: CLI_INVALID_INPUT: the password must not be empty (the first line of stdin, or typed at the prompt)\n');
    return 2;
  }
  if (password.length < 12) io.stderr('wxseal: warning: a password under 12 characters is weak\n');
  try {
    io.stdout(`${await hashPassword(password)}\n`);
  } catch (err) {
    io.stderr(`wxseal: CLI_INVALID_INPUT: ${(err as Error).message}\n`);
    return 2;
  }
  return 0;
}
