/**
 * Ids (model ids, paths, attack ids) come from the command line, from plugins and from
 * results files, so they can hold anything. Where they become a file name, a CSV cell or
 * terminal text, they go through one of these helpers, each making one kind of sink safe.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';

/**
 * An id as one file name that cannot leave its folder: every character outside
 * [A-Za-z0-9._-] becomes '_' (so no '/', '\\', ':', control character or NUL), and a name
 * made of dots only, or starting with one, is prefixed so it is neither '.', '..' nor hidden.
 * Where the name had to change (or is long), a short hash of the id is appended, so two ids
 * that differ only in such characters ('a/b' and 'a_b') still get different names.
 */
export function safeFileName(id: string, opts: { distinct?: boolean } = {}): string {
  let name = id.replace(/[^A-Za-z0-9._-]/g, '_');
  if (name.startsWith('.') || name.length === 0) name = `_${name}`;
  const changed = name !== id;
  if (name.length > 100) name = name.slice(0, 100);
  // distinct: false where the caller numbers clashing names itself (chart names: curve-<id>-2).
  if ((opts.distinct ?? true) && (changed || id.length > 100)) name = `${name}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
  return name;
}

/**
 * `parts` joined under `root`, refused when the result is not inside it: the last line of
 * defence behind safeFileName, for every path an export builds from ids.
 */
export function pathInside(root: string, ...parts: string[]): string {
  const file = resolve(root, ...parts);
  const rel = relative(resolve(root), file);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new UsageError(`${JSON.stringify(parts.join('/'))} would be written outside ${root}`, 'ids are mapped to safe file names; report this id as a robench bug');
  }
  return file;
}

/**
 * A CSV cell neutralised against formula injection (OWASP "CSV Injection"): a text cell
 * starting with = + - @, a tab or a carriage return is prefixed with a single quote, so a
 * spreadsheet shows it as text instead of evaluating it. Numbers and booleans are left as
 * they are (a negative accuracy difference stays a number); only strings are touched.
 */
export function csvCell<T>(value: T): T | string {
  return typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** Every value of a CSV row passed through csvCell. */
export const csvRow = <T extends Record<string, unknown>>(row: T): T => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, csvCell(v)])) as T;

// The terminal's helper lives in src/core, so that errors can use it too.
export { terminalText } from '../core/terminal-text.js';
