import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { corruptionCsvRows, csvRow, defineReporter, perImage, pointInterval, runLabels, type RunResult, writeFileAtomic } from '../src/sdk.js';

/**
 * results.csv rows: one per model, attack and perturbation point, with the point's Wilson 95%
 * interval (over images), a `setting` that tells the row's attack apart from the others' in the
 * file (src/report/run-labels.ts) and a `param_<name>` column per attack option of any run.
 */
export function resultRows(results: RunResult[]): Record<string, string | number | boolean>[] {
  const paramNames = [...new Set(results.flatMap((r) => Object.keys(r.attack.params)))];
  const labels = runLabels(results);
  return results.flatMap((r, i) => {
    const params = Object.fromEntries(paramNames.map((k) => [`param_${k}`, r.attack.params[k] ?? '']));
    return r.points.map((p) => {
      const { lo, hi } = pointInterval(p, r.dataset.samples);
      // Ids and settings are user text: neutralised so a spreadsheet never runs one as a formula.
      return csvRow({
        model: r.model.id,
        dataset: r.dataset.id,
        attack: r.attack.id,
        setting: labels[i].attack,
        modelLabel: labels[i].model,
        norm: r.attack.budget ?? '',
        perturbationLabel: r.attack.perturbation,
        perturbation: p.perturbation,
        accuracy: p.accuracy,
        wilson95Low: lo,
        wilson95High: hi,
        correct: p.correct,
        total: p.total,
        images: perImage(p, r.dataset.samples).total,
        backend: r.backend,
        seed: r.seed,
        sweep: r.sweep,
        weightsSha256: r.model.weightsSha256,
        ...params,
      });
    });
  });
}

export default defineReporter({
  id: 'csv',
  description: 'results.csv: one row per model, attack and perturbation size, with Wilson 95% intervals and the attack settings (and corruptions.csv: error per corruption and severity, CE, mCE)',
  async write(results, ctx) {
    const file = join(ctx.outDir, 'results.csv');
    // true / false rather than csv-stringify's 1 / empty, which reads as a count and a missing value.
    await writeFileAtomic(file, stringify(resultRows(results), { header: true, cast: { boolean: String } }));
    // The corruption table has other columns than the curve, so it gets a file of its own.
    const corruptionRows = corruptionCsvRows(results);
    if (corruptionRows.length === 0) return [file];
    const corruptionFile = join(ctx.outDir, 'corruptions.csv');
    await writeFileAtomic(corruptionFile, stringify(corruptionRows, { header: true }));
    return [file, corruptionFile];
  },
});
