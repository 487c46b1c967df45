/**
 * The dataset plugins on the original files in ../shared/data (present in CI). Where
 * that folder is absent the file-based checks log a note and pass; the bundled
 * subsets are checked everywhere.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { packageRoot } from '../../src/core/paths.js';
import type { DatasetPlugin, DatasetSplit } from '../../src/core/plugin-api.js';
import cifar10 from '../../datasets/cifar10.js';
import fashion from '../../datasets/fashion-mnist.js';
import mnist from '../../datasets/mnist.js';
import svhn from '../../datasets/svhn.js';

// ROBENCH_DATA overrides the data dirs these tests pass.
delete process.env.ROBENCH_DATA;

const SHARED = resolve(packageRoot, '..', 'shared', 'data');
const haveShared = existsSync(SHARED);
const empty = () => mkdtempSync(join(tmpdir(), 'robench-empty-'));

// Serial: these load hundreds of megabytes, and timings logged in parallel mean little.
const withShared = (title: string, fn: (t: any) => Promise<void>) =>
  test.serial(title, async (t) => {
    if (!haveShared) {
      t.log(`${SHARED} is absent: skipped the checks on the original files`);
      t.pass();
      return;
    }
    await fn(t);
  });

/** Element-wise equality without ava's deep diffing, which is slow on millions of values. */
const sameValues = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

const FIRST_LABELS: Record<string, { train: number[]; test: number[] }> = {
  mnist: { train: [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], test: [7, 2, 1, 0, 4, 1, 4, 9, 5, 9] },
  'fashion-mnist': { train: [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], test: [9, 2, 1, 1, 6, 1, 4, 6, 5, 7] },
  cifar10: { train: [6, 9, 9, 4, 1, 1, 2, 7, 8, 3], test: [3, 8, 8, 0, 6, 6, 1, 6, 3, 1] },
};

const timed = async (plugin: DatasetPlugin, split: 'train' | 'test', t: any, samples?: number): Promise<DatasetSplit> => {
  const start = performance.now();
  const s = await plugin.load({ split, dataDir: SHARED, offline: true, samples });
  t.log(`${plugin.id} ${split}: ${s.count} images in ${(performance.now() - start).toFixed(0)} ms`);
  return s;
};

for (const plugin of [mnist, fashion]) {
  withShared(`${plugin.id}: 60,000 train and 10,000 test images from the original idx files, pixels as stored`, async (t) => {
    for (const [split, count, file] of [['train', 60000, 'train-images-idx3-ubyte.gz'], ['test', 10000, 't10k-images-idx3-ubyte.gz']] as const) {
      const s = await timed(plugin, split, t);
      t.is(s.count, count);
      t.deepEqual(s.shape, [28, 28, 1]);
      t.is(s.images.length, count * 784);
      t.is(s.labels.length, count);
      t.deepEqual([...s.labels.subarray(0, 10)], FIRST_LABELS[plugin.id]![split]);
      t.is(s.source.kind, 'file');
      t.is(s.source.path, join(SHARED, plugin.id, file));
      t.regex(s.source.sha256, /^[0-9a-f]{64}$/);
      // Independent of the parser: the idx image data starts at byte 16 of the gunzipped file.
      const raw = gunzipSync(readFileSync(s.source.path));
      for (const k of [0, 300, 783 + 784 * 7, count * 784 - 1, 12345 * 3]) t.is(s.images[k], Math.fround(raw[16 + k]! / 255), `pixel ${k}`);
      let max = 0;
      for (let i = 0; i < 784 * 50; i++) max = Math.max(max, s.images[i]!);
      t.is(max, 1, 'the brightest pixels reach 1');
    }
  });
}

withShared('cifar10: 50,000 train / 10,000 test images, exactly 1,000 of each class in the test set, NHWC from the R/G/B planes', async (t) => {
  const train = await timed(cifar10, 'train', t);
  t.is(train.count, 50000);
  t.is(train.images.length, 50000 * 3072);
  t.deepEqual([...train.labels.subarray(0, 10)], FIRST_LABELS.cifar10!.train);
  const test10k = await timed(cifar10, 'test', t);
  t.is(test10k.count, 10000);
  t.deepEqual(test10k.shape, [32, 32, 3]);
  t.deepEqual([...test10k.labels.subarray(0, 10)], FIRST_LABELS.cifar10!.test);
  const perClass = new Array(10).fill(0);
  for (const y of test10k.labels) perClass[y]++;
  t.deepEqual(perClass, new Array(10).fill(1000));
  const raw = readFileSync(join(SHARED, 'cifar-10', 'cifar-10-batches-bin', 'test_batch.bin'));
  for (const [n, r, c, ch] of [[0, 0, 0, 0], [0, 0, 0, 2], [1, 5, 17, 1], [9999, 31, 31, 2], [4321, 12, 3, 0]] as const) {
    t.is(test10k.images[((n * 32 + r) * 32 + c) * 3 + ch], Math.fround(raw[n * 3073 + 1 + ch * 1024 + r * 32 + c]! / 255), `image ${n} (${r}, ${c}) channel ${ch}`);
  }
  t.is(test10k.source.path, join(SHARED, 'cifar-10', 'cifar-10-batches-bin', 'test_batch.bin'));
  t.is(test10k.source.sha256, '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b');
});

for (const plugin of [mnist, fashion, cifar10]) {
  test.serial(`${plugin.id}: with no data dir files the test split is the bundled first 1,000 images; more is a clear error`, async (t) => {
    const dataDir = empty();
    const bundled = await plugin.load({ split: 'test', dataDir, offline: true });
    t.is(bundled.count, 1000);
    t.is(bundled.source.kind, 'bundled');
    t.true(bundled.source.path.startsWith(join(packageRoot, 'datasets', 'bundled')));
    t.is(bundled.source.sha256, (await import('node:crypto')).createHash('sha256').update(readFileSync(bundled.source.path)).digest('hex'));
    t.deepEqual([...bundled.labels.subarray(0, 10)], FIRST_LABELS[plugin.id]!.test);
    t.is((await plugin.load({ split: 'test', dataDir, offline: true, samples: 10 })).count, 10);
    const e = await t.throwsAsync(plugin.load({ split: 'test', dataDir, offline: true, samples: 1001 }), { instanceOf: RobenchError });
    t.regex(e!.message, /--samples 1001 needs the full test set/);
    t.regex(e!.message, new RegExp(`not found in ${join(dataDir, plugin.id === 'cifar10' ? 'cifar-10' : plugin.id)}`));
    t.regex((e as RobenchError).hint!, /robench data fetch/);
    await t.throwsAsync(plugin.load({ split: 'train', dataDir, offline: true }), { instanceOf: RobenchError, message: /the train split needs the original files/ });
    await t.throwsAsync(plugin.load({ split: 'test', dataDir, offline: true, samples: 0 }), { instanceOf: UsageError, message: /--samples must be a positive whole number/ });
    if (!haveShared) return;
    const full = await plugin.load({ split: 'test', dataDir: SHARED, offline: true });
    t.true(sameValues(bundled.labels, full.labels.subarray(0, 1000)), 'bundled labels are the first 1,000 of the test set');
    t.true(sameValues(bundled.images, full.images.subarray(0, bundled.images.length)), 'bundled images are the first 1,000 of the test set');
    t.is((await plugin.load({ split: 'test', dataDir: SHARED, offline: true, samples: 2500 })).count, 2500);
    await t.throwsAsync(plugin.load({ split: 'test', dataDir: SHARED, offline: true, samples: 10001 }), { instanceOf: UsageError, message: /--samples 10001 is more than the 10000 images available/ });
  });
}

test('svhn has no bundled subset: offline without the .mat files says where to get them', async (t) => {
  const dataDir = empty();
  const e = await t.throwsAsync(svhn.load({ split: 'test', dataDir, offline: true, samples: 10 }), { instanceOf: RobenchError });
  t.regex(e!.message, /svhn: .*test_32x32\.mat not found in .*svhn/);
  t.regex((e as RobenchError).hint!, /http:\/\/ufldl\.stanford\.edu\/housenumbers\/test_32x32\.mat/);
});

test('plugin metadata: ids, shapes, ten class names, per-channel normalisation', (t) => {
  t.deepEqual([mnist, fashion, cifar10, svhn].map((p) => [p.kind, p.id]), [['dataset', 'mnist'], ['dataset', 'fashion-mnist'], ['dataset', 'cifar10'], ['dataset', 'svhn']]);
  for (const p of [mnist, fashion, cifar10, svhn]) {
    t.is(p.classNames.length, 10);
    t.is(p.normalization.mean.length, p.imageShape[2]);
    t.is(p.normalization.std.length, p.imageShape[2]);
    for (const v of [...p.normalization.mean, ...p.normalization.std]) t.true(v > 0 && v < 1);
  }
  t.deepEqual(cifar10.imageShape, [32, 32, 3]);
  t.is(fashion.classNames[9], 'Ankle boot');
  t.is(cifar10.classNames[3], 'cat');
});

withShared('an explicit --data-dir takes precedence over ROBENCH_DATA, which applies without one', async (t) => {
  process.env.ROBENCH_DATA = empty();
  try {
    const s = await mnist.load({ split: 'test', dataDir: SHARED, offline: true });
    t.is(s.source.kind, 'file');
    t.is(s.count, 10000);
    process.env.ROBENCH_DATA = SHARED;
    t.is((await mnist.load({ split: 'test', offline: true })).count, 10000);
  } finally {
    delete process.env.ROBENCH_DATA;
  }
});
