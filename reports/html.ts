import { join } from 'node:path';
import { writeFileAtomic } from '../src/atomic.js';
import { defineReporter } from '../src/plugin-api.js';

/** report.html, self-contained; shows the audit.json of the output folder when there is one. */
export default defineReporter({
  id: 'html',
  description: 'report.html: manifest, accuracy tables, charts, audit verdicts and image gallery in one self-contained file',
  async write(results, ctx) {
    // Vega and Vega-Lite take about a second to load, so only commands that draw charts load them.
    const { readAudits, renderHtmlReport } = await import('../src/html-report.js');
    const file = join(ctx.outDir, 'report.html');
    await writeFileAtomic(file, await renderHtmlReport(results, readAudits(ctx.outDir)));
    return [file];
  },
});
