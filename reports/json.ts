import { join } from 'node:path';
import { writeFileAtomic } from '../src/atomic.js';
import { defineReporter } from '../src/plugin-api.js';

/** results.json: one run as an object, several runs as an array. */
export default defineReporter({
  id: 'json',
  description: 'results.json: every setting, count and figure of the run, for machines and `robench check`',
  async write(results, ctx) {
    const file = join(ctx.outDir, 'results.json');
    await writeFileAtomic(file, `${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
    return [file];
  },
});
