import { join } from 'node:path';
import { writeFileAtomic } from '../src/atomic.js';
import { buildCharts, renderSvg } from '../src/charts.js';
import { defineReporter } from '../src/plugin-api.js';

/** curve-<attack>.svg per attack and sparsity.svg when the runs measured sparsity. */
export default defineReporter({
  id: 'svg',
  description: 'SVG charts: accuracy versus perturbation per attack (Wilson 95% bands), activation histograms per layer',
  async write(results, ctx) {
    const files: string[] = [];
    for (const chart of buildCharts(results)) {
      const file = join(ctx.outDir, `${chart.name}.svg`);
      await writeFileAtomic(file, await renderSvg(chart.spec));
      files.push(file);
    }
    return files;
  },
});
