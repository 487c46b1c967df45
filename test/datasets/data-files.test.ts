/** Dataset files are untrusted input: their kind and size are checked before reading, and a broken data dir is never papered over. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR_BUNDLED_NAME } from '../../src/data/cifar-loader.js';
import type { RobenchError } from '../../src/core/errors.js';
import { gunzipFile } from '../../src/data/gzip.js';
import { CIFAR10, FASHION_MNIST, MNIST } from '../../src/data/manifests.js';
import { bundledPath, openSplit } from '../../src/data/split.js';
import mnist from '../../datasets/mnist.js';

const IMAGES = 't10k-images-idx3-ubyte.gz';
const LABELS = 't10k-labels-idx1-ubyte.gz';

/** A data dir whose mnist folder holds `files` (name -> contents, or 'fifo'). */
function dataDir(files: Record<string, Buffer | 'fifo'>): string {
  const dir = mkdtempSync(join(tmpdir(), 'robench-datafiles-'));
  mkdirSync(join(dir, 'mnist'));
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, 'mnist', name);
    if (content === 'fifo') execFileSync('mkfifo', [path]);
    else writeFileSync(path, content);
  }
  return dir;
}

test('a FIFO in the data dir is refused at once, not waited on', async (t) => {
  t.timeout(10_000);
  const dir = dataDir({ [IMAGES]: 'fifo', [LABELS]: Buffer.alloc(4542) });
  await t.throwsAsync(mnist.load({ split: 'test', dataDir: dir, offline: true }), { message: /the mnist file .*t10k-images-idx3-ubyte\.gz is not a regular file/ });
});

test('a data file larger than the original is refused before it is read', async (t) => {
  const dir = dataDir({ [IMAGES]: Buffer.alloc(1648878), [LABELS]: Buffer.alloc(4542) });
  const err = await t.throwsAsync<RobenchError>(mnist.load({ split: 'test', dataDir: dir, offline: true }), { message: /t10k-images-idx3-ubyte\.gz is 1648878 bytes, more than the 1648877 accepted/ });
  t.regex(err!.hint!, /robench data fetch mnist/);
});

test('decompression is bounded: a gzip stream that inflates past the limit is an error naming the file', (t) => {
  const bomb = gzipSync(Buffer.alloc(100_000));
  t.is(gunzipFile(bomb, 'x.gz', 100_000).length, 100_000);
  t.throws(() => gunzipFile(bomb, 'x.gz', 99_999), { message: /^x\.gz: decompresses to more than 99999 bytes/ });
});

test('the bundled subsets match their recorded sha256, and one that does not is refused', async (t) => {
  for (const [m, names] of [[MNIST, MNIST.split.test], [FASHION_MNIST, FASHION_MNIST.split.test], [CIFAR10, [CIFAR_BUNDLED_NAME]]] as const) {
    for (const name of names) {
      const recorded = m.bundled!.find((f) => f.name === name)!;
      t.is(createHash('sha256').update(readFileSync(bundledPath(m, name))).digest('hex'), recorded.sha256!, `${m.id} ${name}`);
    }
  }
  const empty = mkdtempSync(join(tmpdir(), 'robench-datafiles-'));
  const tampered = { ...MNIST, bundled: MNIST.bundled!.map((f) => (f.name === LABELS ? { ...f, sha256: '0'.repeat(64) } : f)) };
  await t.throwsAsync(openSplit(tampered, { split: 'test', dataDir: empty, offline: true }, MNIST.split.test), {
    message: /mnist: the bundled test subset .*t10k-labels-idx1-ubyte\.gz is not the one robench shipped: its sha256 is 23a794b9/,
  });
});

test('a data dir holding part of the test split says so instead of falling back to the bundled subset', async (t) => {
  const dir = dataDir({ [IMAGES]: Buffer.alloc(10) });
  const err = await t.throwsAsync<RobenchError>(mnist.load({ split: 'test', samples: 100, dataDir: dir }), {
    message: /mnist: the data dir holds only part of the test split \(t10k-images-idx3-ubyte\.gz\): t10k-labels-idx1-ubyte\.gz not found in /,
  });
  t.regex(err!.hint!, /robench data fetch mnist/);
});

test('a data dir that cannot be looked into says so instead of falling back to the bundled subset', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'robench-datafiles-')), 'not-a-folder');
  writeFileSync(file, 'x');
  await t.throwsAsync(mnist.load({ split: 'test', samples: 100, dataDir: file }), { message: /mnist: cannot look for .*not-a-folder\/mnist\/t10k-images-idx3-ubyte\.gz \(ENOTDIR\)/ });
});

test('a data dir holding only the train split still falls back to the bundled test subset', async (t) => {
  const dir = dataDir({ 'train-images-idx3-ubyte.gz': Buffer.alloc(10), 'train-labels-idx1-ubyte.gz': Buffer.alloc(10) });
  const split = await mnist.load({ split: 'test', samples: 100, dataDir: dir, offline: true });
  t.is(split.source.kind, 'bundled');
  t.is(split.source.sha256, MNIST.bundled![0]!.sha256!);
  t.is(split.count, 100);
});
