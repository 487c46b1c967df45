import { join } from 'node:path';
import { defineReporter, loadHtmlReport, writeFileAtomic } from '../src/sdk.js';

/** report.html, self-contained (the gallery's pictures embedded); shows the audit.json of the output folder when there is one. */
export default defineReporter({
  id: 'html',
  description: 'report.html: accuracies with intervals and differences between models, charts, audit verdicts, an image gallery and the manifest in one self-contained file',
  async write(results, ctx) {
    // Vega and Vega-Lite take about a second to load, so only commands that draw charts load them.
    const { readAudits, renderHtmlReport } = await loadHtmlReport();
    const file = join(ctx.outDir, 'report.html');
    // The gallery's pictures are files of the output folder (robench run writes them, robench report gathers them there).
    await writeFileAtomic(file, await renderHtmlReport(results, readAudits(ctx.outDir), ctx.outDir));
    return [file];
  },
});
