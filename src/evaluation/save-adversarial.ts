/**
 * `robench run --save-adversarial [n]`: per budget, the adversarial examples of the first n
 * evaluated samples as .npy files (float32 NHWC in [0, 1], numpy.load reads them), in
 * adversarial/<model>--<attack>/ of the output folder:
 *   eps-<k>.npy   the examples at the k-th budget of the sorted grid, one row per sample
 *   success.npy   int32 [budgets, n]: 1 where the model misclassifies the example
 *   indices.npy   int32 [n]: each row's dataset index;  labels.npy  int32 [n]: its label
 *   examples.json what each file holds (budgets, norm, model, attack, params, seed)
 * The examples come through the engine (engineExamples, the path attack() and the gallery take)
 * for these samples with the run's grid, seed, sweep and params; each sample's own random
 * stream makes them the examples the run scored. They are evaluated once more for this, after
 * the curve: the run's own evaluation may have been spread over worker threads or an
 * interrupted run, whose examples are gone.
 */
import { join } from 'node:path';
import { writeNpy } from '../data/npy.js';
import { safeFileName } from '../report/safe-text.js';
import { writeFileAtomic } from '../runtime/atomic.js';
import { engineExamples, type ExamplesOptions } from './attack-api.js';

export const ADVERSARIAL_DIR = 'adversarial';

/** Writes the examples of `opts.indices` and returns the folder they are in. */
export async function saveAdversarialExamples(opts: ExamplesOptions & { indices: number[] }, outDir: string): Promise<string> {
  const found = await engineExamples(opts);
  const n = opts.indices.length;
  const folder = join(outDir, ADVERSARIAL_DIR, `${safeFileName(opts.model.id)}--${safeFileName(opts.attack.id)}`);
  const files = found.budgets.map((b, k) => ({ eps: b.eps, file: `eps-${k}.npy`, fooled: b.success.reduce((s, v) => s + v, 0) }));
  for (const [k, b] of found.budgets.entries()) await writeNpy(join(folder, files[k]!.file), b.pixels, [n, ...opts.data.shape]);
  const success = new Int32Array(found.budgets.length * n);
  found.budgets.forEach((b, k) => success.set(b.success, k * n));
  await writeNpy(join(folder, 'success.npy'), success, [found.budgets.length, n]);
  await writeNpy(join(folder, 'indices.npy'), Int32Array.from(opts.indices), [n]);
  await writeNpy(join(folder, 'labels.npy'), Int32Array.from(opts.indices, (p) => opts.data.labels[p]!), [n]);
  const manifest = {
    model: opts.model.id,
    attack: opts.attack.id,
    params: opts.params,
    norm: found.norm,
    seed: opts.seed,
    samples: n,
    shape: [n, ...opts.data.shape],
    budgets: files,
    success: 'success.npy',
    indices: 'indices.npy',
    labels: 'labels.npy',
  };
  await writeFileAtomic(join(folder, 'examples.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return folder;
}
