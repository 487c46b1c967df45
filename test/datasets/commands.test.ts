import test from 'ava';
import { cpSync, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { fetchDataset, listData, resolveDataDir } from '../../src/data/commands.js';
import { packageRoot } from '../../src/core/paths.js';

const SHARED = resolve(packageRoot, '..', 'shared', 'data');

/** Runs `fn` with the given environment variables set (undefined unsets), restoring them after. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

test.serial('resolveDataDir: --data-dir, then ROBENCH_DATA, then $XDG_CACHE_HOME/robench, then ~/.cache/robench', (t) => {
  t.is(withEnv({ ROBENCH_DATA: '/data/env', XDG_CACHE_HOME: '/xdg' }, () => resolveDataDir('/flag')), '/flag');
  t.is(withEnv({ ROBENCH_DATA: '/data/env', XDG_CACHE_HOME: '/xdg' }, () => resolveDataDir()), '/data/env');
  t.is(withEnv({ ROBENCH_DATA: undefined, XDG_CACHE_HOME: '/xdg' }, () => resolveDataDir('rel/flag')), resolve('rel/flag'));
  t.is(withEnv({ ROBENCH_DATA: undefined, XDG_CACHE_HOME: '/xdg' }, () => resolveDataDir()), join('/xdg', 'robench'));
  t.is(withEnv({ ROBENCH_DATA: undefined, XDG_CACHE_HOME: undefined }, () => resolveDataDir()), join(homedir(), '.cache', 'robench'));
});

test.serial('listData reports presence, checksum verification and size of every original file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-list-'));
  mkdirSync(join(dir, 'mnist'));
  writeFileSync(join(dir, 'mnist', 't10k-labels-idx1-ubyte.gz'), 'not the original');
  const list = await withEnv({ ROBENCH_DATA: undefined }, () => listData({ dataDir: dir }));
  t.deepEqual(list.map((d) => d.id), ['mnist', 'fashion-mnist', 'cifar10', 'svhn']);
  const mnist = list[0]!;
  t.is(mnist.dir, join(dir, 'mnist'));
  t.deepEqual(mnist.files.find((f) => f.name === 't10k-labels-idx1-ubyte.gz'), { name: 't10k-labels-idx1-ubyte.gz', present: true, verified: false, bytes: 16 });
  t.deepEqual(mnist.files.find((f) => f.name === 'train-images-idx3-ubyte.gz'), { name: 'train-images-idx3-ubyte.gz', present: false, verified: false, bytes: 0 });
  t.deepEqual(list[2]!.files.map((f) => f.name).slice(-1), ['cifar-10-batches-bin/test_batch.bin']);
  t.deepEqual(list[3]!.files.map((f) => f.name), ['train_32x32.mat', 'test_32x32.mat']);
});

test.serial('listData on the original files verifies them all', async (t) => {
  if (!existsSync(SHARED)) {
    t.log(`${SHARED} is absent: skipped`);
    t.pass();
    return;
  }
  const list = await withEnv({ ROBENCH_DATA: undefined }, () => listData({ dataDir: SHARED }));
  for (const d of list.filter((x) => x.id !== 'svhn')) {
    t.true(d.files.length > 0);
    t.true(d.files.every((f) => f.present && f.verified && f.bytes > 0), d.id);
  }
});

test.serial('fetchDataset refuses unknown ids and does not download files that are present and verified', async (t) => {
  await t.throwsAsync(fetchDataset('imagenet', {}), { instanceOf: UsageError, message: /unknown dataset "imagenet"/ });
  if (!existsSync(SHARED)) return;
  const dir = mkdtempSync(join(tmpdir(), 'robench-fetch-'));
  cpSync(join(SHARED, 'mnist'), join(dir, 'mnist'), { recursive: true });
  const stamps = () => ['train-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => statSync(join(dir, 'mnist', f)).mtimeMs);
  const before = stamps();
  await withEnv({ ROBENCH_DATA: undefined }, () => fetchDataset('mnist', { dataDir: dir }));
  t.deepEqual(stamps(), before, 'no file was downloaded again');
  const status = (await withEnv({ ROBENCH_DATA: undefined }, () => listData({ dataDir: dir })))[0]!;
  t.true(status.files.every((f) => f.verified));
});
