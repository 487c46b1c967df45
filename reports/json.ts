import { join } from 'node:path';
import { accuracyIntervals, defineReporter, resultsJson, withCorruptionErrors, writeFileAtomic } from '../src/sdk.js';

/** results.json: a versioned object holding the runs (src/report/results-file.ts reads it back). */
export default defineReporter({
  id: 'json',
  description: 'results.json: every setting, count and figure of the run (accuracies with Wilson 95% intervals), for machines and `robench check`',
  async write(results, ctx) {
    const file = join(ctx.outDir, 'results.json');
    // Recomputed from the counts, so merged shards and results of older versions carry them too.
    const withIntervals = results.map((r) => ({ ...r, intervals: accuracyIntervals(r) }));
    await writeFileAtomic(file, resultsJson(withCorruptionErrors(withIntervals)));
    return [file];
  },
});
