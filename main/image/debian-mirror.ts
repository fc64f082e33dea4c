// Which Debian mirror the image builder downloads from: the host's own apt mirror when it has one
// (so a host behind a local mirror or proxy keeps working offline from the internet), else Debian's.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** Debian suite names an archive mirror carries (security and -updates suites are not the main archive). */
const DEBIAN_SUITES = new Set([
  'buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'sid', 'unstable', 'testing', 'stable', 'oldstable', 'experimental',
]);

interface AptSource {
  uri: string;
  suites: string[];
}

/** The first main-archive Debian mirror in the host's apt sources, or undefined. */
export function hostDebianMirror(aptDir = '/etc/apt'): string | undefined {
  for (const source of readAptSources(aptDir)) {
    if (!/^https?:\/\//.test(source.uri)) continue;
    if (source.suites.some((s) => DEBIAN_SUITES.has(s))) return source.uri.replace(/\/+$/, '');
  }
  return undefined;
}

export function defaultDebianMirror(aptDir = '/etc/apt'): string {
  return hostDebianMirror(aptDir) ?? DEFAULT_DEBIAN_MIRROR;
}

/** Every enabled `deb` source in sources.list and sources.list.d, in apt's order. */
export function readAptSources(aptDir = '/etc/apt'): AptSource[] {
  const sources: AptSource[] = [];
  sources.push(...parseOneLineSources(readText(join(aptDir, 'sources.list'))));
  let names: string[] = [];
  try {
    names = readdirSync(join(aptDir, 'sources.list.d')).sort();
  } catch {
    // No sources.list.d: fine.
  }
  for (const name of names) {
    const text = readText(join(aptDir, 'sources.list.d', name));
    if (name.endsWith('.list')) sources.push(...parseOneLineSources(text));
    else if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
  }
  return sources;
}

export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line.startsWith('deb ') && !line.startsWith('deb\t')) continue;
    // deb [opt=val ...] URI SUITE [COMPONENT...]
    const rest = line.slice(3).trim().replace(/^\[[^\]]*\]\s*/, '');
    const [uri, suite] = rest.split(/\s+/);
    if (uri && suite) out.push({ uri, suites: [suite] });
  }
  return out;
}

export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      }
    }
    const types = (fields.get('types') ?? '').split(/\s+/);
    if (!types.includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suites });
  }
  return out;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
