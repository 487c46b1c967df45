/** Loads a CIFAR-10 split from its binary batches, or the bundled gzip'd test subset. */
import type { DatasetLoadOptions, DatasetSplit, ImageShape } from '../core/plugin-api.js';
import { decodeCifarRecords, cifarRecordCount } from './cifar-records.js';
import { gunzipFile } from './gzip.js';
import type { DatasetManifest } from './manifests.js';
import { BUNDLED_COUNT, openSplit, splitOf, takeCount, type DecodedSplit } from './split.js';

export const CIFAR_SHAPE: ImageShape = [32, 32, 3];
export const CIFAR_BATCH_RECORDS = 10000;
export const CIFAR_BUNDLED_NAME = `test_batch.${BUNDLED_COUNT}.bin.gz`;

/** Decodes the first `samples` records (all when undefined) across batches, in order. */
export function decodeCifarBatches(batches: { bytes: Uint8Array; label: string; records: number }[], samples: number | undefined): DecodedSplit {
  const available = batches.reduce((s, b) => s + cifarRecordCount(b.bytes, b.label, b.records), 0);
  const count = takeCount(samples, available, 'images');
  const images = new Float32Array(count * 32 * 32 * 3);
  const labels = new Int32Array(count);
  let at = 0;
  for (const b of batches) {
    if (at >= count) break;
    const take = Math.min(b.records, count - at);
    decodeCifarRecords(b.bytes, b.label, take, images, labels, at);
    at += take;
  }
  return { images, labels, count };
}

export async function loadCifarSplit(m: DatasetManifest, opts: DatasetLoadOptions): Promise<DatasetSplit> {
  const files = await openSplit(m, opts, [CIFAR_BUNDLED_NAME]);
  const batches = files.source.kind === 'bundled'
    ? [{ bytes: gunzipFile(files.bytes.get(CIFAR_BUNDLED_NAME)!, files.labels.get(CIFAR_BUNDLED_NAME)!), label: files.labels.get(CIFAR_BUNDLED_NAME)!, records: BUNDLED_COUNT }]
    : m.split[opts.split].map((name) => ({ bytes: files.bytes.get(name)!, label: files.labels.get(name)!, records: CIFAR_BATCH_RECORDS }));
  return splitOf(decodeCifarBatches(batches, opts.samples), CIFAR_SHAPE, files.source);
}
