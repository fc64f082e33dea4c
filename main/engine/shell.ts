// Small helpers for building shell commands that run on the nodes, and for the readable scripts
// kept under provision/steps/ and provision/checks/ (plain bash, arguments passed positionally).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROVISION_DIR } from '../render/template.ts';

/** Quotes one word for a POSIX shell: `it's` → `'it'\''s'`. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** The text of provision/<name> (e.g. `checks/file-facts.sh`). */
export function provisionScript(name: string): string {
  const path = join(PROVISION_DIR, name);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the node script ${path}: ${(error as Error).message}`);
  }
}

/** Output split into `==> NAME` sections, as the fact scripts print it. */
export function parseSections(output: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (name !== undefined) sections.set(name, lines.join('\n').replace(/\n+$/, ''));
  };
  for (const line of output.split('\n')) {
    const header = /^==> (.+)$/.exec(line);
    if (header) {
      flush();
      name = header[1]!.trim();
      lines = [];
    } else if (name !== undefined) {
      lines.push(line);
    }
  }
  flush();
  return sections;
}
