/**
 * What every dataset loader shares: checking `samples`, choosing between the
 * original files and the bundled test subset, and describing where a split came from.
 */
import { RobenchError, UsageError } from '../core/errors.js';
import { assetPath } from '../core/paths.js';
import type { DatasetLoadOptions, DatasetSource, ImageShape } from '../core/plugin-api.js';
import { checksumProblem, digestBytes } from './checksum.js';
import { resolveDataDir } from './data-dir.js';
import { fetchFiles, filesPresent, missingFilesError, openFiles, presentFiles, readDataFile, type StoredFile } from './files.js';
import type { DatasetManifest } from './manifests.js';

/** How many test images the package ships per dataset (the first ones of the test set). */
export const BUNDLED_COUNT = 1000;

/** A split's source; `files` lists every stored file read when there was more than one. */
export interface SplitSource extends DatasetSource {
  files?: StoredFile[];
}

/** Files to decode, by manifest name, and labels to name them by in errors. */
export interface SplitFiles {
  bytes: Map<string, Uint8Array>;
  labels: Map<string, string>;
  source: SplitSource;
}

export function checkSamples(samples: number | undefined): void {
  if (samples !== undefined && !(Number.isInteger(samples) && samples > 0)) {
    throw new UsageError(`--samples must be a positive whole number, got ${samples}`, 'Pass e.g. --samples 1000.');
  }
}

/** The number of samples to decode: all when unspecified, an error when more than there are. */
export function takeCount(samples: number | undefined, available: number, what: string): number {
  if (samples === undefined) return available;
  if (samples > available) {
    throw new UsageError(`--samples ${samples} is more than the ${available} ${what} available`, `Use --samples ${available} or fewer.`);
  }
  return samples;
}

function describe(kind: 'bundled' | 'file', stored: StoredFile[]): SplitSource {
  const first = stored[0]!;
  return { kind, path: first.path, sha256: first.sha256, ...(stored.length > 1 ? { files: stored } : {}) };
}

export const bundledPath = (m: DatasetManifest, name: string): string => assetPath('datasets', 'bundled', m.folder, name);

async function readBundled(m: DatasetManifest, names: string[]): Promise<SplitFiles> {
  const bytes = new Map<string, Uint8Array>();
  const labels = new Map<string, string>();
  const stored: StoredFile[] = [];
  for (const name of names) {
    const path = bundledPath(m, name);
    const expected = m.bundled?.find((f) => f.name === name);
    if (!expected) throw new Error(`${m.id}: no recorded checksum for the bundled file ${name}`);
    let buf: Buffer;
    try {
      buf = await readDataFile(m, path, expected);
    } catch (e) {
      throw new RobenchError(`${m.id}: the bundled test subset ${path} cannot be read (${(e as Error).message})`, 'Reinstall robench.');
    }
    const got = digestBytes(buf, false);
    const problem = checksumProblem(expected, got, buf.length);
    if (problem) throw new RobenchError(`${m.id}: the bundled test subset ${path} is not the one robench shipped: ${problem}`, 'Reinstall robench.');
    bytes.set(name, buf);
    labels.set(name, path);
    stored.push({ path, sha256: got.sha256 });
  }
  return { bytes, labels, source: describe('bundled', stored) };
}

/**
 * Opens the files of a split. Original files in the data dir win; the test split
 * falls back to the bundled subset (`bundledNames`) when `samples` fits in it;
 * otherwise the files are downloaded, unless offline.
 */
export async function openSplit(m: DatasetManifest, opts: DatasetLoadOptions, bundledNames?: string[]): Promise<SplitFiles> {
  checkSamples(opts.samples);
  const dataDir = resolveDataDir(opts.dataDir);
  const names = m.split[opts.split];
  const bundledFits = opts.split === 'test' && bundledNames !== undefined && (opts.samples ?? BUNDLED_COUNT) <= BUNDLED_COUNT;
  if (!filesPresent(dataDir, m, names)) {
    const some = presentFiles(dataDir, m, names);
    // Falling back to the bundled subset here would hide a half-copied data dir.
    if (bundledFits && some.length > 0) throw missingFilesError(dataDir, m, names, `the data dir holds only part of the ${opts.split} split (${some.join(', ')})`);
    if (bundledFits) return readBundled(m, bundledNames!);
    const needsFull = opts.split === 'test' && bundledNames !== undefined;
    // With a bundled subset, fewer samples is the quickest way out: say so first.
    const fewer = needsFull ? `Use --samples ${BUNDLED_COUNT} or fewer to run on the bundled images` : undefined;
    const what = needsFull
      ? `--samples ${opts.samples} needs the full test set (the package bundles only the first ${BUNDLED_COUNT.toLocaleString('en-US')} test images)`
      : `the ${opts.split} split needs the original files${bundledNames === undefined ? ` (no subset of ${m.id} ships with robench)` : ''}`;
    if (opts.offline) throw missingFilesError(dataDir, m, names, `${what} and offline mode forbids downloading ${needsFull ? 'it' : 'them'}`, fewer);
    try {
      await fetchFiles(dataDir, m, names);
    } catch (e) {
      // A failed download of files the user did not know were needed is reported as what is missing
      // and how to provide it, the download's own error kept; an interrupt or a usage error passes as is.
      if (!(e instanceof RobenchError) || e instanceof UsageError) throw e;
      throw missingFilesError(dataDir, m, names, `${what}, and downloading ${needsFull ? 'it' : 'them'} failed (${e.message})`, fewer);
    }
  }
  const opened = await openFiles(dataDir, m, names);
  return { bytes: opened.bytes, labels: opened.labels, source: describe('file', opened.stored) };
}

export interface DecodedSplit {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

export const splitOf = (decoded: DecodedSplit, shape: ImageShape, source: SplitSource) => ({ ...decoded, shape, source });
