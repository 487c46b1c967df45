/**
 * train()'s tiny run in its tests: the 3-class lines task (synthetic-lines.ts) as the dataset
 * train() takes from code, a temporary out folder, and the options of a short run on them.
 * Imports no tfjs, so a suite that loads the trainer lazily can import it up front.
 */
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetSplit, ImageShape } from '../../src/core/plugin-api.js';
import type { TrainOptions } from '../../src/training/train.js';
import { syntheticLines } from './synthetic-lines.js';

/** `count` images of the 3-class task (a bright row, column or diagonal), the i-th of class (i + offset) mod 3. */
export const lines = (count: number, offset: number): DatasetSplit => syntheticLines(count, offset, { classes: 3, on: 0.9, noise: 0.2 });

/** The task as the dataset 'synthetic': `train` images from offset 0, `test` from offset 1. */
export function linesData(train: number, test: number) {
  return {
    plugin: { id: 'synthetic', imageShape: [8, 8, 1] as ImageShape, normalization: { mean: [0.2], std: [0.3] }, classNames: ['row', 'column', 'diagonal'] },
    train: lines(train, 0),
    test: lines(test, 1),
  };
}

/**
 * Two epochs of the baseline on 24 training and 12 test images of the task, in batches of 8
 * (3 steps an epoch), seed 5, written to `out`, logging nothing; `over` changes any of them.
 */
export function tinyTraining(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return { model: 'baseline', dataset: 'synthetic', epochs: 2, batch: 8, seed: 5, out, data: over.data ?? linesData(24, 12), log: () => {}, ...over };
}

/** A new empty folder under the system's temp folder, removed when the test ends. */
export async function tempFolder(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
