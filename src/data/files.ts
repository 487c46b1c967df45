/**
 * Finds, verifies and fetches the original files of a dataset in the data dir
 * (`<dataDir>/<folder>/<name>`). CIFAR-10's batches are read either extracted or
 * straight out of the downloaded tarball.
 */
import { existsSync, statSync } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RobenchError, UsageError } from '../core/errors.js';
import { readRegularFile } from '../runtime/regular-file.js';
import { checksumProblem, digestBytes } from './checksum.js';
import { downloadVerified } from './download.js';
import { gunzipFile } from './gzip.js';
import type { DataFile, DatasetManifest } from './manifests.js';
import { spinnerProgress } from './progress.js';
import { extractTar, findTarMember, parseTar } from './tar.js';

export interface StoredFile {
  path: string;
  sha256: string;
}

export interface OpenedFiles {
  /** Contents by manifest name. */
  bytes: Map<string, Uint8Array>;
  /** What to name in error messages for each manifest name. */
  labels: Map<string, string>;
  /** The files as stored on disk that were read, with their sha256. */
  stored: StoredFile[];
}

export const datasetDir = (dataDir: string, m: DatasetManifest): string => join(dataDir, m.folder);
export const filePath = (dataDir: string, m: DatasetManifest, name: string): string => join(datasetDir(dataDir, m), name);

const spec = (m: DatasetManifest, name: string): DataFile => {
  const f = m.files.find((x) => x.name === name);
  if (!f) throw new Error(`${m.id}: no file ${name} in the manifest`);
  return f;
};

const fetchHint = (m: DatasetManifest): string => `delete it and run \`robench data fetch ${m.id}\` (or put the original file there)`;

function verify(m: DatasetManifest, expected: DataFile, label: string, buf: Uint8Array): string {
  const got = digestBytes(buf, !expected.sha256);
  const problem = checksumProblem(expected, got, buf.length);
  if (problem) throw new RobenchError(`${label} is not the original ${m.id} file: ${problem}`, `It is corrupt or truncated; ${fetchHint(m)}.`);
  return got.sha256;
}

const isOriginal = (expected: DataFile, buf: Uint8Array): boolean => checksumProblem(expected, digestBytes(buf, !expected.sha256), buf.length) === null;

/** Larger than any original whose size the manifest does not record (SVHN's train_32x32.mat, 182 MB). */
const MAX_DATA_FILE_BYTES = 512 * 1024 * 1024;

/** A dataset file's bytes; a non-regular file, or one larger than the original, is refused before it is read. */
export const readDataFile = (m: DatasetManifest, path: string, expected: DataFile): Promise<Buffer> =>
  readRegularFile(path, { maxBytes: expected.bytes ?? MAX_DATA_FILE_BYTES, what: `the ${m.id} file`, hint: `It is not the original; ${fetchHint(m)}.` });

/** Whether `path` holds the original; a regular file of the wrong size is not, and is not read. */
async function holdsOriginal(m: DatasetManifest, path: string, expected: DataFile): Promise<boolean> {
  if (!existsSync(path)) return false;
  const info = await stat(path);
  if (info.isFile() && expected.bytes !== undefined && info.size !== expected.bytes) return false;
  return isOriginal(expected, await readDataFile(m, path, expected));
}

/** Whether `path` exists; one that cannot be looked at (no permission, a file where a folder belongs) is an error naming it. */
function lookFor(m: DatasetManifest, path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw new RobenchError(`${m.id}: cannot look for ${path} (${code})`, `Make the data dir a readable folder holding ${m.folder}/, or point --data-dir or ROBENCH_DATA at one.`);
  }
}

/** The named files that are in the data dir, extracted. */
export const presentFiles = (dataDir: string, m: DatasetManifest, names: string[]): string[] => names.filter((n) => lookFor(m, filePath(dataDir, m, n)));

/** True when every named file is in the data dir, extracted or inside the archive. */
export function filesPresent(dataDir: string, m: DatasetManifest, names: string[]): boolean {
  if (presentFiles(dataDir, m, names).length === names.length) return true;
  return m.archive !== undefined && lookFor(m, filePath(dataDir, m, m.archive.name));
}

/** Reads and verifies the named files; call after `filesPresent` is true. */
export async function openFiles(dataDir: string, m: DatasetManifest, names: string[]): Promise<OpenedFiles> {
  const opened: OpenedFiles = { bytes: new Map(), labels: new Map(), stored: [] };
  if (names.every((n) => existsSync(filePath(dataDir, m, n)))) {
    for (const name of names) {
      const path = filePath(dataDir, m, name);
      const buf = await readDataFile(m, path, spec(m, name));
      opened.stored.push({ path, sha256: verify(m, spec(m, name), path, buf) });
      opened.bytes.set(name, buf);
      opened.labels.set(name, path);
    }
    return opened;
  }
  const archive = m.archive!;
  const path = filePath(dataDir, m, archive.name);
  const tgz = await readDataFile(m, path, archive);
  opened.stored.push({ path, sha256: verify(m, archive, path, tgz) });
  const entries = parseTar(gunzipFile(tgz, path), path);
  for (const name of names) {
    const label = `${path} (member ${name})`;
    const member = findTarMember(entries, name);
    if (!member) throw new RobenchError(`${path} has no member ${name}`, `The archive is not the original; ${fetchHint(m)}.`);
    verify(m, spec(m, name), label, member.data);
    opened.bytes.set(name, member.data);
    opened.labels.set(name, label);
  }
  return opened;
}

/**
 * Missing dataset files are the user's to provide (a data dir, a fetch, fewer samples), so this
 * is a usage error (exit 2), with how to get them; `first` leads the advice when given.
 */
export function missingFilesError(dataDir: string, m: DatasetManifest, names: string[], why: string, first?: string): UsageError {
  const dir = datasetDir(dataDir, m);
  const missing = names.filter((n) => !existsSync(filePath(dataDir, m, n)));
  const sources = m.archive
    ? `${m.archive.name} from ${m.archive.url} (or its extracted contents)`
    : missing.map((n) => spec(m, n).url).join(', ');
  return new UsageError(
    `${m.id}: ${why}: ${missing.join(', ')} not found in ${dir}`,
    `${first ? `${first}; or p` : 'P'}ut the original files in ${dir} (${sources}), or run \`robench data fetch ${m.id}\` with network access, ` +
      `or point --data-dir or ROBENCH_DATA at a folder holding ${m.folder}/.`,
  );
}

/** Downloads (and for archives extracts) whichever named files are missing or not the originals. */
export async function fetchFiles(dataDir: string, m: DatasetManifest, names: string[], opts: { progress?: boolean } = {}): Promise<void> {
  const progress = opts.progress ?? true;
  const needed: string[] = [];
  for (const name of names) {
    const path = filePath(dataDir, m, name);
    if (!(await holdsOriginal(m, path, spec(m, name)))) needed.push(name);
  }
  if (needed.length === 0) return;
  if (!m.archive) {
    for (const name of needed) {
      const f = spec(m, name);
      await downloadVerified({ ...f, url: f.url!, dest: filePath(dataDir, m, name) }, progress ? spinnerProgress(`${m.id} ${name}`) : undefined);
    }
    return;
  }
  const tarPath = filePath(dataDir, m, m.archive.name);
  if (!(await holdsOriginal(m, tarPath, m.archive))) {
    await downloadVerified({ ...m.archive, dest: tarPath }, progress ? spinnerProgress(`${m.id} ${m.archive.name}`) : undefined);
  }
  const tgz = await readDataFile(m, tarPath, m.archive);
  await extractTar(gunzipFile(tgz, tarPath), tarPath, datasetDir(dataDir, m));
  for (const name of names) {
    const path = filePath(dataDir, m, name);
    try {
      verify(m, spec(m, name), path, await readDataFile(m, path, spec(m, name)));
    } catch (e) {
      await unlink(path).catch(() => undefined);
      throw e;
    }
  }
  // The extracted batches are verified against their own checksums, so the tarball is redundant.
  await unlink(tarPath);
}
