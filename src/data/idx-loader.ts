/** Loads an MNIST-style split (gzip'd idx images and labels, 28x28 grey). */
import { RobenchError } from '../core/errors.js';
import type { DatasetLoadOptions, DatasetSplit, ImageShape } from '../core/plugin-api.js';
import { gunzipFile } from './gzip.js';
import { expectIdxShape, parseIdx } from './idx.js';
import type { DatasetManifest } from './manifests.js';
import { bytesToUnit } from './pixels.js';
import { openSplit, splitOf, takeCount, type DecodedSplit } from './split.js';

export const IDX_SHAPE: ImageShape = [28, 28, 1];

export function decodeIdxPair(
  images: { bytes: Uint8Array; label: string },
  labels: { bytes: Uint8Array; label: string },
  samples: number | undefined,
  numClasses = 10,
): DecodedSplit {
  const img = parseIdx(gunzipFile(images.bytes, images.label), images.label);
  const n = expectIdxShape(img, images.label, [IDX_SHAPE[0], IDX_SHAPE[1]]);
  const lab = parseIdx(gunzipFile(labels.bytes, labels.label), labels.label);
  const m = expectIdxShape(lab, labels.label, []);
  if (n !== m) {
    throw new RobenchError(`${images.label} holds ${n} images but ${labels.label} holds ${m} labels`, 'The files do not belong together; fetch them again.');
  }
  const count = takeCount(samples, n, 'images');
  const pixels = IDX_SHAPE[0] * IDX_SHAPE[1];
  const out = new Float32Array(count * pixels);
  bytesToUnit(img.data.subarray(0, count * pixels), out);
  const ys = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const y = lab.data[i]!;
    if (y >= numClasses) throw new RobenchError(`${labels.label}: label ${y} at index ${i} is outside 0..${numClasses - 1}`, 'The file is corrupt; fetch it again.');
    ys[i] = y;
  }
  return { images: out, labels: ys, count };
}

export async function loadIdxSplit(m: DatasetManifest, opts: DatasetLoadOptions): Promise<DatasetSplit> {
  const [imagesName, labelsName] = m.split[opts.split] as [string, string];
  const files = await openSplit(m, opts, m.split.test);
  const part = (name: string) => ({ bytes: files.bytes.get(name)!, label: files.labels.get(name)! });
  return splitOf(decodeIdxPair(part(imagesName), part(labelsName), opts.samples), IDX_SHAPE, files.source);
}
