/** Issue 35: missing dataset files are a usage error (exit 2) saying how to get them, and downloads print no terminal codes into a log. */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { MNIST } from '../../src/data/manifests.js';
import { openSplit } from '../../src/data/split.js';
import { spinnerProgress } from '../../src/data/progress.js';
import svhn from '../../datasets/svhn.js';
import { robench, saveDenseModel } from '../helpers/cli.js';

const empty = () => mkdtempSync(join(tmpdir(), 'robench-missing-'));

test('svhn without its files is a usage error naming where to get them', async (t) => {
  const e = await t.throwsAsync(svhn.load({ split: 'test', dataDir: empty(), offline: true, samples: 10 }), { instanceOf: UsageError });
  t.regex(e!.message, /svhn: the test split needs the original files \(no subset of svhn ships with robench\)/);
  t.regex(e!.hint!, /robench data fetch svhn/);
});

test('--samples 5000 on a bundled dataset whose download fails says 1,000 are bundled and how to get the full set', async (t) => {
  // Port 9 (discard) refuses connections: the download fails at once, as without network.
  const unreachable = { ...MNIST, files: MNIST.files.map((f) => ({ ...f, url: `http://127.0.0.1:9/${f.name}` })) };
  const e = await t.throwsAsync(openSplit(unreachable, { split: 'test', dataDir: empty(), samples: 5000 }, MNIST.split.test), { instanceOf: UsageError });
  t.regex(e!.message, /--samples 5000 needs the full test set \(the package bundles only the first 1,000 test images\), and downloading it failed \(could not download http:\/\/127\.0\.0\.1:9\//);
  t.regex(e!.hint!, /^Use --samples 1000 or fewer to run on the bundled images; or put the original files in .* or run `robench data fetch mnist`/);
});

test('robench run --dataset svhn without its files exits 2', async (t) => {
  const model = await saveDenseModel(empty(), [32, 32, 3]);
  const r = await robench(['run', '--model', model, '--dataset', 'svhn', '--attack', 'fgsm', '--offline', '--data-dir', empty(), '--samples', '5', '--out', join(empty(), 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /robench data fetch svhn/);
});

test('download progress on a stderr that is not a terminal is plain lines: no spinner frames, no colour codes', (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const sink = spinnerProgress('mnist t10k-images', false);
    for (let i = 1; i <= 50; i++) sink.update(i * 1000, 50_000);
    sink.finish(false, 'could not download http://x (ECONNREFUSED)');
  } finally {
    process.stderr.write = write;
  }
  t.deepEqual(written, ['mnist t10k-images  downloading 49 KiB\n', 'mnist t10k-images  failed: could not download http://x (ECONNREFUSED)\n']);
  t.false(written.join('').includes('\u001b'));
});

test('robench data list says which datasets ship a bundled test subset', async (t) => {
  const r = await robench(['data', 'list', '--data-dir', empty()]);
  t.is(r.code, 0, r.stderr);
  for (const id of ['mnist', 'fashion-mnist', 'cifar10']) t.regex(r.stdout, new RegExp(`${id}: .*\\n  bundled: the first 1,000 test images`), id);
  t.regex(r.stdout, /svhn: .*\n {2}nothing bundled: `robench data fetch svhn`/);
});
