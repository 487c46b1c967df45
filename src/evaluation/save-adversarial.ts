/**
 * `robench run --save-adversarial [n]`: per budget, the adversarial examples of the first n
 * evaluated samples as .npy files (float32 NHWC in [0, 1], numpy.load reads them), in
 * adversarial/<model>--<attack>/ of the output folder:
 *   eps-<k>.npy   the examples at the k-th budget of the sorted grid, one row per sample
 *   success.npy   int32 [budgets, n]: 1 where the model misclassifies the example
 *   indices.npy   int32 [n]: each row's dataset index;  labels.npy  int32 [n]: its label
 *   examples.json what each file holds (budgets, norm, model, attack, params, seed)
 * The examples are those the run scored, kept as it evaluated them (an ExampleCollector fed by
 * the engine's onExamples hook, on the main thread and in worker threads alike: the path
 * attack() and the gallery take), so saving them attacks nothing again. Only in a resumed run
 * are the saved samples an earlier process finished evaluated once more (their examples went
 * with that process); each sample's own random stream makes those the examples it scored.
 */
import { join } from 'node:path';
import { writeNpy } from '../data/npy.js';
import { safeFileName } from '../report/safe-text.js';
import { writeFileAtomic } from '../runtime/atomic.js';
import type { ExamplesOptions } from './attack-api.js';
import type { EngineExamples } from './example-collector.js';

export const ADVERSARIAL_DIR = 'adversarial';

/** Writes `found`, the examples of `opts.indices` in that order, and returns the folder they are in. */
export async function saveAdversarialExamples(found: EngineExamples, opts: Pick<ExamplesOptions, 'model' | 'attack' | 'params' | 'data' | 'seed'> & { indices: number[] }, outDir: string): Promise<string> {
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
