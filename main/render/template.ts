// The template engine for files under provision/: deliberately tiny and strict.
//
//   {{name}}   is replaced by values[name]. Names are letters and digits, starting with a letter.
//
// Strict on purpose, because a half-filled unit file fails late and far away on a VM:
// - a placeholder without a value is an error, and so is a value no placeholder uses (a typo);
// - any other `{{` or `}}` is an error (a mistyped placeholder would otherwise ship verbatim);
// - a value with several lines may only fill a placeholder that stands alone on its line; every
//   line is then indented like the placeholder, and an empty value removes the line.
// Lists (haproxy servers, etcd members, /etc/hosts entries) are computed in TypeScript and filled
// as one value, so templates have no loops or conditions.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, normalize } from 'node:path';

export const PROVISION_DIR = fileURLToPath(new URL('../../provision/', import.meta.url));

const PLACEHOLDER = /\{\{([A-Za-z][A-Za-z0-9]*)\}\}/g;
const WHOLE_LINE = /^([ \t]*)\{\{([A-Za-z][A-Za-z0-9]*)\}\}[ \t]*$/;

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(`template provision/${template}: ${message}`);
    this.name = 'TemplateError';
  }
}

/** Absolute path of a template; refuses names that leave provision/. */
export function templatePath(name: string): string {
  const path = normalize(join(PROVISION_DIR, name));
  if (!path.startsWith(PROVISION_DIR) || name.includes('\0')) {
    throw new TemplateError(name, `the name must be a path inside ${PROVISION_DIR}`);
  }
  return path;
}

export function readTemplate(name: string): string {
  const path = templatePath(name);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TemplateError(
      name,
      code === 'ENOENT'
        ? `no such template (${path}); the file plan names a template that provision/ does not have — add the file or fix main/plan/file-plan.ts`
        : `cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

/** The placeholder names a template uses, in order of first use. */
export function templatePlaceholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/** Fills template text; `name` is only used in error messages. */
export function fillTemplate(name: string, text: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const problems: string[] = [];
  const lines = text.split('\n');
  const out: string[] = [];

  lines.forEach((line, i) => {
    const at = `line ${i + 1}`;
    const stripped = line.replace(PLACEHOLDER, '');
    if (stripped.includes('{{') || stripped.includes('}}')) {
      problems.push(`${at}: malformed placeholder in ${JSON.stringify(line.trim())} (write {{name}}: letters and digits, no spaces)`);
      return;
    }
    const whole = WHOLE_LINE.exec(line);
    if (whole) {
      const [, indent = '', key = ''] = whole;
      used.add(key);
      const value = values[key];
      if (value === undefined) {
        problems.push(`${at}: no value for {{${key}}}`);
        return;
      }
      if (value === '') return;
      for (const valueLine of value.split('\n')) out.push(valueLine === '' ? '' : indent + valueLine);
      return;
    }
    out.push(
      line.replace(PLACEHOLDER, (_match, key: string) => {
        used.add(key);
        const value = values[key];
        if (value === undefined) {
          problems.push(`${at}: no value for {{${key}}}`);
          return '';
        }
        if (value.includes('\n')) {
          problems.push(`${at}: {{${key}}} has several lines, so it must stand alone on its line`);
          return '';
        }
        return value;
      }),
    );
  });

  const unused = Object.keys(values).filter((key) => !used.has(key));
  if (unused.length > 0) {
    problems.push(`value(s) given that the template never uses: ${unused.join(', ')} (a misspelt placeholder?)`);
  }
  if (problems.length > 0) throw new TemplateError(name, problems.join('; '));
  return out.join('\n');
}

/** Reads provision/<name> and fills it. Throws TemplateError for a missing file or any placeholder problem. */
export function renderTemplate(name: string, values: Record<string, string>): string {
  return fillTemplate(name, readTemplate(name), values);
}

