/**
 * `robench run --save-adversarial [n]`: each budget's examples of the first n samples as .npy
 * files, bit-equal to attack()'s for the same samples and settings, their successes the run's
 * verdicts (results.json's outcomes), and readable by numpy.load (where python3 has numpy).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import mnist from '../../datasets/mnist.js';
import { readNpy } from '../../src/data/npy.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { benchmark } from '../../src/evaluation/benchmark.js';
import { UsageError } from '../../src/core/errors.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { robench, robenchOk, saveDenseModel } from '../helpers/cli.js';
import { testBackend } from '../helpers/backend.js';

const hasNumpy = (() => {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('run --save-adversarial 4 writes per budget the examples attack() gives for those samples, with the run\'s verdicts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-save-adv-'));
  const modelPath = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 2 });
  const out = join(dir, 'run');
  const grid = [0, 0.05, 0.1];
  await robenchOk(['run', '--model', modelPath, '--dataset', 'mnist', '--attack', 'pgd', '--steps', '3', '--eps', grid.join(','), '--samples', '6', '--batch', '4', '--seed', '7', '--backend', testBackend, '--workers', '1', '--format', 'json', '--out', out, '--no-progress', '--save-adversarial', '4']);
  const [name] = readdirSync(join(out, 'adversarial'));
  t.regex(name!, /^model\.json.*--pgd$|--pgd$/);
  const folder = join(out, 'adversarial', name!);
  const manifest = JSON.parse(readFileSync(join(folder, 'examples.json'), 'utf8')) as { budgets: { eps: number; file: string }[]; shape: number[]; norm: string };
  t.deepEqual(manifest.budgets.map((b) => b.eps), grid);
  t.deepEqual(manifest.shape, [4, 28, 28, 1]);
  const indices = await readNpy(join(folder, 'indices.npy'));
  t.deepEqual(Array.from(indices.data as Int32Array), [0, 1, 2, 3]);

  const data = await mnist.load({ split: 'test', samples: 4, offline: true });
  t.deepEqual(Array.from((await readNpy(join(folder, 'labels.npy'))).data as Int32Array), Array.from(data.labels));
  const x = tf.tensor4d(data.images, [4, 28, 28, 1]);
  const inMemory = await attack({ model: modelPath, x, y: data.labels, attack: 'pgd', eps: grid, params: { steps: 3 }, seed: 7, batch: 3, backend: testBackend });
  const [result] = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: RunResult[] }).runs;
  const success = await readNpy(join(folder, 'success.npy'));
  t.deepEqual(success.shape, [3, 4]);
  for (const [k, b] of manifest.budgets.entries()) {
    const file = await readNpy(join(folder, b.file));
    t.deepEqual(file.shape, [4, 28, 28, 1]);
    t.deepEqual(new Uint8Array((file.data as Float32Array).buffer), new Uint8Array(Float32Array.from(inMemory.budgets[k]!.x.dataSync()).buffer), `budget ${b.eps} bit-equal`);
    const verdicts = Array.from((success.data as Int32Array).slice(k * 4, (k + 1) * 4));
    t.deepEqual(verdicts, Array.from(inMemory.budgets[k]!.success));
    // The run's own record: broken at k when misclassified clean or brokeAt <= k.
    const runBroken = [0, 1, 2, 3].map((i) => (result!.outcomes!.clean[i] === 0 || (result!.outcomes!.brokeAt![i]! !== -1 && result!.outcomes!.brokeAt![i]! <= k) ? 1 : 0));
    t.deepEqual(verdicts, runBroken, `budget ${b.eps}: the run's verdicts`);
  }
  inMemory.dispose();
  x.dispose();
  if (!hasNumpy) {
    t.log('python3 with numpy is not installed here: the numpy.load check is skipped (CI installs python3-numpy)');
    return;
  }
  const seen = JSON.parse(execFileSync('python3', ['-c', `import json, numpy as np; a = np.load(${JSON.stringify(join(folder, 'eps-2.npy'))}); print(json.dumps([list(a.shape), str(a.dtype), float(a.min()), float(a.max())]))`], { encoding: 'utf8' })) as [number[], string, number, number];
  t.deepEqual(seen[0], [4, 28, 28, 1]);
  t.is(seen[1], 'float32');
  t.true(seen[2] >= 0 && seen[3] <= 1);
});

test('a bare --save-adversarial saves every evaluated sample', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-save-adv-'));
  const out = join(dir, 'run');
  await robenchOk(['run', '--model', await saveDenseModel(join(dir, 'model'), [28, 28, 1]), '--dataset', 'mnist', '--attack', 'fgsm', '--eps', '0.1', '--samples', '3', '--backend', testBackend, '--workers', '1', '--format', 'json', '--out', out, '--save-adversarial', '--no-progress']);
  const [name] = readdirSync(join(out, 'adversarial'));
  const file = await readNpy(join(out, 'adversarial', name!, 'eps-0.npy'));
  t.deepEqual(file.shape, [3, 28, 28, 1]);
  t.deepEqual(Array.from((await readNpy(join(out, 'adversarial', name!, 'indices.npy'))).data as Int32Array), [0, 1, 2]);
});

test('--save-adversarial takes a count of at least 1', async (t) => {
  const r = await robench(['run', '--model', 'baseline', '--save-adversarial', '0', '--out', mkdtempSync(join(tmpdir(), 'robench-save-adv-'))]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--save-adversarial '0' must be a whole number from 1/);
});

test('benchmark({ saveAdversarial, out }) writes the same files, its successes the result\'s verdicts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-save-adv-'));
  const base = { model: 'baseline', dataset: 'mnist', attack: 'fgsm', eps: [0, 0.1, 0.3], samples: 5, backend: testBackend } as const;
  const err = await t.throwsAsync(benchmark({ ...base, saveAdversarial: 2 }), { instanceOf: UsageError });
  t.regex(err!.message, /"saveAdversarial" needs "out"/);
  const result = await benchmark({ ...base, saveAdversarial: 2, out: join(dir, 'adv') });
  const [name] = readdirSync(join(dir, 'adv', 'adversarial'));
  const folder = join(dir, 'adv', 'adversarial', name!);
  const success = await readNpy(join(folder, 'success.npy'));
  t.deepEqual(success.shape, [3, 2]);
  for (let k = 0; k < 3; k++) {
    t.deepEqual((await readNpy(join(folder, `eps-${k}.npy`))).shape, [2, 28, 28, 1]);
    const runBroken = [0, 1].map((i) => (result.outcomes!.clean[i] === 0 || (result.outcomes!.brokeAt![i]! !== -1 && result.outcomes!.brokeAt![i]! <= k) ? 1 : 0));
    t.deepEqual(Array.from((success.data as Int32Array).slice(2 * k, 2 * k + 2)), runBroken);
  }
  t.true(result.outcomes!.clean[0] === 1 && result.outcomes!.clean[1] === 1, 'the zoo model gets both right clean: the verdicts are not all 1');
});
