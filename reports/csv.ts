import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { writeFileAtomic } from '../src/atomic.js';
import { defineReporter } from '../src/plugin-api.js';
import { corruptionCsvRows } from '../src/corruption-report.js';

/** results.csv: one row per model, attack and perturbation point. */
export default defineReporter({
  id: 'csv',
  description: 'results.csv: one row per model, attack and perturbation size (and corruptions.csv: error per corruption and severity, CE, mCE)',
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
    // The corruption table has other columns than the curve, so it gets a file of its own.
    const corruptionRows = corruptionCsvRows(results);
    if (corruptionRows.length === 0) return [file];
    const corruptionFile = join(ctx.outDir, 'corruptions.csv');
    await writeFileAtomic(corruptionFile, stringify(corruptionRows, { header: true }));
    return [file, corruptionFile];
  },
});
