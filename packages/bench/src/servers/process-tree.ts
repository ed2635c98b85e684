/**
 * CPU time of a process and its descendants, read from Linux's /proc: what a server of several
 * processes (a primary and its cluster workers) costs as a whole, measured the same way for every
 * multi-process target. utime + stime of each live process (all its threads); USER_HZ is 100 on
 * Linux.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

const USER_HZ = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { pid: Number(pid), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** µs of CPU used so far by `root` and every live descendant. */
export function processTreeCpuMicros(root: number): number {
  const stats = readdirSync('/proc')
    .filter((name) => /^[0-9]+$/.test(name))
    .map(readStat)
    .filter((s): s is ProcStat => s !== undefined);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  let ticks = 0;
  const self = stats.find((s) => s.pid === root);
  const queue: ProcStat[] = self ? [self] : [];
  while (queue.length > 0) {
    const s = queue.pop()!;
    ticks += s.ticks;
    queue.push(...(children.get(s.pid) ?? []));
  }
  return (ticks * 1e6) / USER_HZ;
}

/** A free TCP port on 127.0.0.1 (for a server that must be told its port before it starts). */
export async function freePort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
