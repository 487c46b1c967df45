/**
 * Reads tar archives (POSIX ustar, GNU long names, pax path records) from memory,
 * and extracts them without letting an entry write outside the target folder.
 */
import { mkdir } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../runtime/atomic.js';
import { RobenchError } from '../core/errors.js';

const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  name: string;
  type: TarEntryType;
  size: number;
  linkname: string;
  /** The entry's bytes, a view into the archive. */
  data: Uint8Array;
}

const fail = (file: string, what: string): never => {
  throw new RobenchError(`${file}: ${what}`, 'The archive is corrupt or truncated; delete it and fetch it again.');
};

const text = (b: Uint8Array): string => {
  const end = b.indexOf(0);
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString('utf8');
};

function octal(b: Uint8Array, file: string, at: number, field: string): number {
  const s = text(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) fail(file, `tar header at byte ${at}: ${field} field "${s}" is not an octal number`);
  return parseInt(s, 8);
}

function typeOf(flag: string): TarEntryType {
  if (flag === '0' || flag === '\0' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  if (flag === '1') return 'hardlink';
  return 'other';
}

/** pax extended header records: "<length> <key>=<value>\n". */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const s = Buffer.from(data).toString('utf8');
  let i = 0;
  while (i < s.length) {
    const space = s.indexOf(' ', i);
    const len = parseInt(s.slice(i, space), 10);
    if (space < 0 || !(len > 0)) break;
    const rec = s.slice(space + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

export function parseTar(buf: Uint8Array, file: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    if (off + BLOCK > buf.length) fail(file, `truncated: the archive ends at byte ${buf.length} without an end-of-archive block`);
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((x) => x === 0)) return entries;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    const stored = octal(h.subarray(148, 156), file, off, 'checksum');
    if (stored !== sum) fail(file, `bad tar header checksum at byte ${off} (not a tar archive, or corrupt)`);
    const size = octal(h.subarray(124, 136), file, off, 'size');
    const flag = String.fromCharCode(h[156]!);
    const dataStart = off + BLOCK;
    if (dataStart + size > buf.length) {
      fail(file, `truncated: entry at byte ${off} declares ${size} bytes but only ${buf.length - dataStart} remain`);
    }
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L') {
      longName = text(data);
      continue;
    }
    if (flag === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (flag === 'g') continue;
    const isUstar = text(h.subarray(257, 262)) === 'ustar';
    const prefix = isUstar ? text(h.subarray(345, 500)) : '';
    const base = text(h.subarray(0, 100));
    const name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${base}` : base);
    const linkname = pax.get('linkpath') ?? text(h.subarray(157, 257));
    entries.push({ name, type: typeOf(flag), size, linkname, data });
    longName = undefined;
    pax = new Map();
  }
}

/** The absolute path an entry would be written to; throws when it would leave `targetDir`. */
export function entryTarget(targetDir: string, entry: TarEntry, file: string): string {
  const refuse = (why: string): never => {
    throw new RobenchError(`${file}: refusing to extract "${entry.name}": ${why}`, 'The archive is not the original; delete it and fetch it again.');
  };
  if (entry.type === 'symlink' || entry.type === 'hardlink') refuse(`it is a link (to "${entry.linkname}")`);
  if (entry.type === 'other') refuse('it is not a regular file or folder');
  const name = entry.name;
  if (name === '' || isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.startsWith('\\')) refuse('absolute path');
  if (name.split(/[\\/]/).includes('..')) refuse('the path climbs out of the target folder ("..")');
  const root = resolve(targetDir);
  const target = resolve(root, name);
  if (target !== root && !target.startsWith(root + sep)) refuse('the path leaves the target folder');
  return target;
}

/**
 * Extracts every entry under `targetDir`. All entries are checked before anything is
 * written, so a hostile archive leaves nothing behind. Returns the files written.
 */
export async function extractTar(buf: Uint8Array, file: string, targetDir: string): Promise<string[]> {
  const entries = parseTar(buf, file);
  const targets = entries.map((e) => entryTarget(targetDir, e, file));
  const written: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.type === 'directory') {
      await mkdir(targets[i]!, { recursive: true });
    } else {
      await writeFileAtomic(targets[i]!, e.data);
      written.push(targets[i]!);
    }
  }
  return written;
}

/** Finds a member by name, ignoring a leading "./" that some tar writers add. */
export function findTarMember(entries: TarEntry[], name: string): TarEntry | undefined {
  return entries.find((e) => e.type === 'file' && e.name.replace(/^(\.\/)+/, '') === name);
}
