import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { writeFileAtomic } from '../src/atomic.js';
import { defineReporter } from '../src/plugin-api.js';

/** results.csv: one row per model, attack and perturbation point. */
export default defineReporter({
  id: 'csv',
  description: 'results.csv: one row per model, attack and perturbation size',
  async write(results, ctx) {
    const rows = results.flatMap((r) =>
      r.points.map((p) => ({
        model: r.model.id,
        dataset: r.dataset.id,
        attack: r.attack.id,
        norm: r.attack.budget ?? '',
        perturbationLabel: r.attack.perturbation,
        perturbation: p.perturbation,
        accuracy: p.accuracy,
        correct: p.correct,
        total: p.total,
        backend: r.backend,
        seed: r.seed,
      })),
    );
    const file = join(ctx.outDir, 'results.csv');
    await writeFileAtomic(file, stringify(rows, { header: true }));
    return [file];
  },
});
