import { join } from 'node:path';
import { defineReporter, loadCharts, writeFileAtomic } from '../src/sdk.js';

/** The SVG charts rasterised: curve-<attack>.png per attack and sparsity.png. */
export default defineReporter({
  id: 'png',
  description: 'PNG charts (the SVG charts rasterised by resvg, at twice their size)',
  async write(results, ctx) {
    // Vega and Vega-Lite take about a second to load, so only commands that draw charts load them.
    const { buildCharts, renderSvg, svgToPng } = await loadCharts();
    const files: string[] = [];
    for (const chart of buildCharts(results)) {
      const file = join(ctx.outDir, `${chart.name}.png`);
      await writeFileAtomic(file, svgToPng(await renderSvg(chart.spec)));
      files.push(file);
    }
    return files;
  },
});
