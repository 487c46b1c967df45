/**
 * The first section of report.html: per attack setting, the models side by side, clean and at
 * each budget, each accuracy with its Wilson 95% interval, then each model's difference from
 * the first with its Newcombe 95% interval (src/analysis/model-comparison.ts).
 */
import { attackGroups } from './attack-groups.js';
import { escapeHtml, table } from './html-text.js';
import type { Difference } from '../core/intervals.js';
import { compareModels, type Accuracy } from '../analysis/model-comparison.js';
import type { RunResult } from '../core/plugin-api.js';
import { formatPerturbation, pct, signedPoints } from './report-format.js';

const accuracyCell = (a: Accuracy | undefined): string => (a ? `${pct(a.accuracy)}<br><small>${pct(a.lo)}–${pct(a.hi)}</small>` : '');

function differenceCell(d: Difference | undefined): string {
  if (!d) return '';
  // An interval that excludes 0 is a difference the samples resolve; it gets the colour of its sign.
  const cls = d.lo > 0 ? ' class="better"' : d.hi < 0 ? ' class="worse"' : '';
  return `<span${cls}>${signedPoints(d.estimate)} pt</span><br><small>${signedPoints(d.lo)} to ${signedPoints(d.hi)}</small>`;
}

/** How the differences of one model were computed, for its column head. */
function pairingNote(differences: (Difference | undefined)[]): string {
  const known = differences.filter((d): d is Difference => d !== undefined);
  const paired = known.every((d) => d.paired);
  const images = [...new Set(known.flatMap((d) => (d.paired ? [d.n[0]] : d.n)))].join(' / ');
  return `${paired ? 'paired' : known.some((d) => d.paired) ? 'partly paired' : 'unpaired'}, ${images} images`;
}

export function headlineSection(results: RunResult[]): string {
  const blocks = attackGroups(results).map((g) => {
    const rows = compareModels(g.runs);
    const [reference, ...others] = g.names;
    const head = [
      escapeHtml(g.perturbation),
      ...g.names.map((n, i) => `${escapeHtml(n)}<br><small>${escapeHtml(g.runs[i].dataset.samples)} images</small>`),
      ...others.map((n, j) => `${escapeHtml(n)} − ${escapeHtml(reference)}<br><small>${escapeHtml(pairingNote(rows.map((r) => r.differences[j])))}</small>`),
    ];
    const body = rows.map((r) => [
      r.perturbation === 'clean' ? 'clean' : escapeHtml(formatPerturbation(r.perturbation, g.perturbation, g.budget)),
      ...r.accuracies.map(accuracyCell),
      ...r.differences.map(differenceCell),
    ]);
    return `<h3>${escapeHtml(g.title)}${g.params ? ` <small>${escapeHtml(g.params)}</small>` : ''}</h3>\n<div class="scroll">${table(head, body, 'accuracy headline')}</div>`;
  });
  return `<section id="headline"><h2>Accuracy</h2>
<p>Each model's accuracy, clean and at each perturbation size, with its Wilson 95% interval below it; then each model's difference from the first, in percentage points, with Newcombe's 95% interval. Where both models were evaluated on the same images the difference is paired image by image, which resolves much smaller differences. A difference whose interval excludes 0 is coloured by its sign. n counts images, since the noise draws of one image are correlated.</p>
${blocks.join('\n')}
</section>`;
}
