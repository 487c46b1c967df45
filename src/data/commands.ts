/** The data commands the CLI exposes: `robench data fetch <id>` and `robench data list`. */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../core/errors.js';
import { checksumProblem, digestBytes } from './checksum.js';
import { resolveDataDir } from './data-dir.js';
import { datasetDir, fetchFiles, filePath } from './files.js';
import { MANIFESTS, type DataFile, type DatasetManifest } from './manifests.js';
import { BUNDLED_COUNT } from './split.js';

export { resolveDataDir };

export interface DataFileStatus {
  name: string;
  present: boolean;
  /** Present and matching the published checksum. */
  verified: boolean;
  /** Size on disk, 0 when absent. */
  bytes: number;
}

export interface DatasetStatus {
  id: string;
  dir: string;
  files: DataFileStatus[];
  /** Test images shipped with robench (0: none), used when the test files are absent and --samples fits. */
  bundledTestImages: number;
}

/** The dataset `id` (or its folder) names; an unknown one is a usage error. */
export function manifest(id: string): DatasetManifest {
  const m = MANIFESTS.find((x) => x.id === id || x.folder === id);
  if (!m) throw new UsageError(`unknown dataset "${id}"`, `Choose one of: ${MANIFESTS.map((x) => x.id).join(', ')}.`);
  return m;
}

/** Downloads and verifies every original file of a dataset that is missing or corrupt. */
export async function fetchDataset(id: string, opts: { dataDir?: string }): Promise<void> {
  const m = manifest(id);
  const dataDir = resolveDataDir(opts.dataDir);
  await fetchFiles(dataDir, m, m.files.map((f) => f.name));
  process.stderr.write(`${m.id}: ${m.files.length} files verified in ${datasetDir(dataDir, m)}\n`);
}

async function fileStatus(path: string, expected: DataFile): Promise<DataFileStatus> {
  if (!existsSync(path)) return { name: expected.name, present: false, verified: false, bytes: 0 };
  const buf = await readFile(path);
  const verified = checksumProblem(expected, digestBytes(buf, !expected.sha256), buf.length) === null;
  return { name: expected.name, present: true, verified, bytes: (await stat(path)).size };
}

/** The original files of every dataset in the data dir, checked against their checksums. */
export async function listData(opts: { dataDir?: string }): Promise<DatasetStatus[]> {
  const dataDir = resolveDataDir(opts.dataDir);
  const out: DatasetStatus[] = [];
  for (const m of MANIFESTS) {
    const files: DataFileStatus[] = [];
    for (const f of m.files) files.push(await fileStatus(filePath(dataDir, m, f.name), f));
    if (m.archive && existsSync(filePath(dataDir, m, m.archive.name))) {
      files.push(await fileStatus(filePath(dataDir, m, m.archive.name), m.archive));
    }
    out.push({ id: m.id, dir: datasetDir(dataDir, m), files, bundledTestImages: m.bundled && m.bundled.length > 0 ? BUNDLED_COUNT : 0 });
  }
  return out;
}
