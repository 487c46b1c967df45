/** The similarity-matching trainer's tiny task in its tests: 8x8 images of uniform noise, 3 classes. */
import type { DatasetSplit, ImageShape } from '../../src/core/plugin-api.js';
import { scalarRng } from '../../src/core/rng.js';

/**
 * `train` then `test` images of uniform pixels from one stream (seed 4), the i-th of class i mod 3,
 * with the dataset plugin they are read as. The golden test (same-weights.test.ts) pins what a
 * run on them trains, so the draws and their order must not change.
 */
export function noiseTask(train: number, test: number) {
  const u = scalarRng(4, 'data');
  const split = (n: number): DatasetSplit => ({
    images: Float32Array.from({ length: n * 64 }, () => u()),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    count: n,
    shape: [8, 8, 1],
    source: { kind: 'bundled', path: 'memory', sha256: '' },
  });
  return { plugin: { id: 'tiny', imageShape: [8, 8, 1] as ImageShape, classNames: ['a', 'b', 'c'] }, train: split(train), test: split(test) };
}
