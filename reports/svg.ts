import { join } from 'node:path';
import { defineReporter, loadCharts, writeFileAtomic } from '../src/sdk.js';

/** curve-<attack>.svg per attack and sparsity.svg when the runs measured sparsity. */
export default defineReporter({
  id: 'svg',
  description: 'SVG charts: accuracy versus perturbation per attack (Wilson 95% bands), activation histograms per layer',
  async write(results, ctx) {
    // Vega and Vega-Lite take about a second to load, so only commands that draw charts load them.
    const { buildCharts, renderSvg } = await loadCharts();
    const files: string[] = [];
    for (const chart of buildCharts(results)) {
      const file = join(ctx.outDir, `${chart.name}.svg`);
      await writeFileAtomic(file, await renderSvg(chart.spec));
      files.push(file);
    }
    return files;
  },
});
