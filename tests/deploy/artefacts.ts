// Readers of the deployment artefacts in deploy/ for the tests beside this file: a line-based
// Dockerfile reader, the compose file and the Kubernetes manifests as YAML, .dockerignore patterns.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const deployDir = join(root, 'deploy');
export const read = (path: string): string => readFileSync(join(root, path), 'utf8');

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, … */
  name: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** The `AS name` of its FROM, if any. */
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/**
 * Reads a Dockerfile into instructions: comment lines dropped (also inside a continued
 * instruction, as Docker does), lines ending in a backslash joined with the next, the first word
 * the instruction. Heredocs are not used in deploy/Dockerfile, so they are not handled.
 */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('#')) return;
    if (line === '' && pending === undefined) return;
    const continued = line.endsWith('\\');
    const part = continued ? line.slice(0, -1).trim() : line;
    pending ??= { parts: [], line: index + 1 };
    if (part !== '') pending.parts.push(part);
    if (continued) return;
    const joined = pending.parts.join(' ');
    const space = joined.search(/\s/);
    out.push({ name: (space < 0 ? joined : joined.slice(0, space)).toUpperCase(), args: space < 0 ? '' : joined.slice(space + 1).trim(), line: pending.line });
    pending = undefined;
  });
  if (pending !== undefined) throw new Error('the Dockerfile ends inside a continued instruction');
  return out;
}

/** The instructions grouped by FROM (instructions before the first FROM, such as ARG, are dropped). */
export function stagesOf(instructions: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const i of instructions) {
    if (i.name === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      if (!m) throw new Error(`line ${i.line}: cannot read FROM ${i.args}`);
      stages.push({ from: m[1]!, name: m[2], instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(i);
    }
  }
  return stages;
}

/** The JSON (exec) form of CMD, ENTRYPOINT, HEALTHCHECK … CMD: the array, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  const start = args.indexOf('[');
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(args.slice(start)) as unknown;
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

// Loosely typed views of what the tests read from the YAML files: only the fields they look at.
export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string> | string[];
  volumes?: string[];
  secrets?: (string | { source: string; target?: string })[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[] };
  stop_grace_period?: string;
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  ports?: string[];
}

export interface Compose {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

export function loadCompose(): Compose {
  return parseYaml(read('deploy/compose.yaml'), { merge: true }) as Compose;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** Every object of every .yaml file in deploy/k8s, as `kubectl apply -f deploy/k8s` would read them. */
export function loadK8s(): K8sObject[] {
  const dir = join(deployDir, 'k8s');
  const out: K8sObject[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, name), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`deploy/k8s/${name}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as K8sObject | null;
      if (value !== null) out.push(value);
    }
  }
  return out;
}

/**
 * A .dockerignore pattern as a test of a context-relative path: Go's filepath.Match per segment
 * (`*`, `?`), `**` for any number of segments, and a match of a directory excludes what is in it.
 */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!'))) throw new Error('exceptions (!) are not handled by this reader');
  const regexes = patterns.map((p) => {
    const clean = p.replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < clean.length; i++) {
      const ch = clean[i]!;
      if (ch === '*' && clean[i + 1] === '*') {
        // `**/` matches zero or more whole segments.
        re += clean[i + 2] === '/' ? '(?:.*/)?' : '.*';
        i += clean[i + 2] === '/' ? 2 : 1;
      } else if (ch === '*') re += '[^/]*';
      else if (ch === '?') re += '[^/]';
      else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`^${re}(?:/.*)?$`);
  });
  return (path) => regexes.some((r) => r.test(path));
}

/** Every `/run/secrets/<name>` a text names. */
export function secretPathsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/\/run\/secrets\/([A-Za-z0-9._-]+)/g)].map((m) => m[1]!))].sort();
}
