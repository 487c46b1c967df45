import { join } from 'node:path';
import { writeFileAtomic } from '../src/atomic.js';
import { defineReporter } from '../src/plugin-api.js';
import { resultsJson } from '../src/results-json.js';
import { withCorruptionErrors } from '../src/corruption-errors.js';

/** results.json: one run as an object, several runs as an array. */
export default defineReporter({
  id: 'json',
  description: 'results.json: every setting, count and figure of the run, for machines and `robench check`',
  async write(results, ctx) {
    const file = join(ctx.outDir, 'results.json');
    await writeFileAtomic(file, resultsJson(withCorruptionErrors(results)));
    return [file];
  },
});
