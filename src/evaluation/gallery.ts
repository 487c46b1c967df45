/**
 * A few clean images next to their perturbed versions at a few budgets, and the amplified
 * difference of each pair, for the HTML report. The examples are those the run scored, kept as
 * it evaluated them (an ExampleCollector fed by the engine's onExamples hook, the path attack()
 * and --save-adversarial take), so drawing them attacks nothing again, and the picture under
 * "eps e" is misclassified exactly when the run counts the sample broken at e (a minimization
 * attack's minimal example appears only at budgets it fits in). The predictions under them are
 * the engine's too, those it scored (the clean pass's and each example's), not a new call of
 * the model, so a stochastic model's labels agree with the run's verdicts. The pictures are PNG files in
 * gallery/ beside results.json, written by the report side (src/report/gallery-images.ts);
 * results.json names them.
 */
import { writeGalleryPictures } from '../report/gallery-images.js';
import type { AttackPlugin, DatasetSplit, Params, RunResult } from '../core/plugin-api.js';
import type { EngineExamples } from './example-collector.js';

/** One sample at one budget: its pictures and what the model predicted. */
export interface GalleryItem {
  /** Dataset index of the sample. */
  sample: number;
  perturbation: number;
  trueLabel: string;
  cleanPrediction: string;
  advPrediction: string;
  /** Which of the attack's batches the picture is, where the attack names them (AttackPlugin.versions): the corruption. */
  version?: string;
  /** PNG files, relative to the folder of results.json: gallery/<sha256 prefix>.png. */
  images: { clean: string; adversarial: string; difference: string };
  /** The difference picture shows 0.5 + amplification * (adversarial - clean). */
  amplification: number;
}

/** A result with the gallery `robench run` adds for the HTML report. */
export type ReportRun = RunResult & { gallery?: GalleryItem[] };

export interface GalleryOptions {
  attack: AttackPlugin;
  params: Params;
  data: DatasetSplit;
  /** Dataset positions to show. */
  positions: number[];
  /** The run's examples of these samples, in the order of `positions` (ExampleCollector.examples). */
  found: EngineExamples;
  /** Budgets to show (a few nonzero points of the grid). */
  budgets: number[];
  classNames: string[];
  /** The result folder the pictures are written into. */
  dir: string;
}

/** Up to `count` nonzero budgets spread over the grid, largest included. */
export function galleryBudgets(grid: number[], count = 3): number[] {
  const nonzero = grid.filter((e) => e > 0);
  if (nonzero.length <= count) return nonzero;
  return Array.from({ length: count }, (_, i) => nonzero[Math.round(((i + 1) * (nonzero.length - 1)) / count)]);
}

/** One sample at one budget as the engine evaluated it: its pixels and the predictions it scored (class indices). */
export interface GalleryExample {
  sample: number;
  perturbation: number;
  label: number;
  cleanPrediction: number;
  advPrediction: number;
  version?: string;
  clean: Float32Array;
  adversarial: Float32Array;
}

/** The gallery's samples at its budgets, taken from the engine's evaluation. */
export async function galleryExamples(opts: Omit<GalleryOptions, 'classNames' | 'dir'>): Promise<GalleryExample[]> {
  const { data, positions, found } = opts;
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const cleanPixels = Float32Array.from(positions.flatMap((p) => Array.from(data.images.subarray(p * size, (p + 1) * size))));
  const clean = found.cleanPredictions;
  const names = opts.attack.versions?.(opts.params as never);
  // One name names every picture; several, the batch each picture came from.
  const versionOf = (versions: Int32Array | undefined, i: number): string | undefined =>
    names?.length === 1 ? names[0] : versions && versions[i]! >= 0 ? names?.[versions[i]!] : undefined;
  const items: GalleryExample[] = [];
  for (const eps of opts.budgets) {
    const at = found.budgets.find((b) => b.eps === eps);
    if (!at) throw new RangeError(`gallery budget ${eps} is not a point of the grid [${found.budgets.map((b) => b.eps)}]`);
    const adv = at.predictions;
    positions.forEach((p, i) => {
      const version = versionOf(at.versions, i);
      items.push({
        sample: p,
        perturbation: eps,
        label: data.labels[p]!,
        cleanPrediction: clean[i]!,
        advPrediction: adv[i]!,
        ...(version === undefined ? {} : { version }),
        clean: cleanPixels.slice(i * size, (i + 1) * size),
        adversarial: at.pixels.slice(i * size, (i + 1) * size),
      });
    });
  }
  return items;
}

/** The gallery of a run: the engine's examples, drawn as PNG files into `dir`. */
export async function buildGallery(opts: GalleryOptions): Promise<GalleryItem[]> {
  return writeGalleryPictures(opts.dir, await galleryExamples(opts), opts.classNames, opts.data.shape);
}
