/**
 * The gallery of report.html: per attack setting one grid, a row per sample and model, so the
 * models are compared on the same images: the clean image, then at each budget the perturbed
 * image and the amplified difference, each with what the model predicted, and where the attack
 * names its batches, which one the picture is (a corruption run's corruption). The pictures are
 * read from gallery/ of the result folder and embedded, so the page stands alone, enlarged by a
 * whole factor so that a 28x28 digit is not a thumbnail (issue 35: they showed about 45 px wide).
 */
import { attackGroups } from './attack-groups.js';
import { readGalleryFile } from './gallery-images.js';
import type { GalleryItem, ReportRun } from '../evaluation/gallery.js';
import { escapeHtml } from './html-text.js';
import { pngDataUrl, upscalePng } from './png-image.js';
import { formatPerturbation } from './report-format.js';

/** Pictures show at least this many CSS pixels wide: 28x28 MNIST at 4x (112 px), 32x32 CIFAR-10 at 3x (96 px). */
const SHOWN_PX = 96;

/** A gallery picture as an <img> at its enlarged size: the same size wherever it appears. */
function embedded(png: Uint8Array): string {
  const large = upscalePng(png, SHOWN_PX);
  return `src="${pngDataUrl(large.png)}" width="${large.width}" height="${large.height}"`;
}

export function gallerySection(results: ReportRun[], dir: string | undefined): string {
  const pictures = new Map<string, string>();
  const image = (path: string, alt: string): string => {
    if (dir === undefined) throw new Error('report.html: the runs have a gallery, but no result folder was given to read its pictures from');
    if (!pictures.has(path)) pictures.set(path, embedded(readGalleryFile(dir, path)));
    return `<img ${pictures.get(path)} alt="${escapeHtml(alt)}">`;
  };
  const prediction = (predicted: string, item: GalleryItem): string =>
    `<span class="${predicted === item.trueLabel ? 'held' : 'fooled'}">→ ${escapeHtml(predicted)}</span>`;
  const grids = attackGroups(results).flatMap((g) => {
    const members = g.runs.map((r, i) => ({ items: (r as ReportRun).gallery ?? [], name: g.names[i] })).filter((m) => m.items.length > 0);
    if (members.length === 0) return [];
    const items = members.flatMap((m) => m.items);
    const samples = [...new Set(items.map((it) => it.sample))];
    const budgets = [...new Set(items.map((it) => it.perturbation))].sort((a, b) => a - b);
    const budgetText = (eps: number): string => `${escapeHtml(g.perturbation)} ${escapeHtml(formatPerturbation(eps, g.perturbation, g.budget))}`;
    const head = `<tr><th>sample</th><th>model</th><th>clean</th>${budgets.map((eps) => `<th colspan="2">${budgetText(eps)}<br><small>perturbed · difference</small></th>`).join('')}</tr>`;
    const rows = samples.flatMap((sample) => {
      const shown = members.map((m) => ({ ...m, at: m.items.filter((it) => it.sample === sample) })).filter((m) => m.at.length > 0);
      return shown.map((m, k) => {
        const [any] = m.at;
        const cells = budgets.map((eps) => {
          const it = m.at.find((x) => x.perturbation === eps);
          if (!it) return '<td></td><td></td>';
          const budget = `${g.perturbation} ${formatPerturbation(eps, g.perturbation, g.budget)}`;
          const what = `sample ${sample}, ${m.name}, ${it.version === undefined ? '' : `${it.version}, `}${budget}`;
          const version = it.version === undefined ? '' : `<small>${escapeHtml(`${it.version}, ${budget}`)}</small><br>`;
          return `<td>${image(it.images.adversarial, `perturbed ${what}`)}<br>${version}${prediction(it.advPrediction, it)}</td><td>${image(it.images.difference, `difference ${what}`)}<br><small>×${escapeHtml(it.amplification)}</small></td>`;
        });
        const label = k === 0 ? `<th rowspan="${shown.length}">${escapeHtml(sample)}<br><small>true ${escapeHtml(any.trueLabel)}</small></th>` : '';
        return `<tr>${label}<td>${escapeHtml(m.name)}</td><td>${image(any.images.clean, `clean sample ${sample}`)}<br>${prediction(any.cleanPrediction, any)}</td>${cells.join('')}</tr>`;
      });
    });
    return [`<h3>${escapeHtml(g.title)}</h3>\n<div class="scroll"><table class="gallery"><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`];
  });
  if (grids.length === 0) return '';
  return `<section id="gallery"><h2>Clean and perturbed images</h2>
<p>Each row is one model on one test image: the clean image, then at each budget the perturbed image and their difference, amplified (by the factor below it) so that its largest pixel spans the grey range; mid-grey is no change. Where an attack applies several corruptions, each perturbed image names the one it shows: the first that fooled the model, else the first. Each prediction is green where it is the true class, red where the model was fooled.</p>
${grids.join('\n')}
</section>`;
}
