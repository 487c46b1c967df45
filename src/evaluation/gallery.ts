/**
 * A few clean images next to their perturbed versions at a few budgets, and the amplified
 * difference of each pair, for the HTML report. Each sample draws from the same random stream
 * as in the evaluation, so the pictures show exactly what was evaluated. The pictures are PNG
 * files in gallery/ beside results.json (src/report/gallery-images.ts); results.json names them.
 */
import * as tf from '@tensorflow/tfjs';
import { makeAttackContext, modelFunctions } from '../core/attack-context.js';
import { batchTensors } from '../core/engine.js';
import { amplifiedDifference, galleryPath, writeGalleryFiles } from '../report/gallery-images.js';
import type { AttackPlugin, DatasetSplit, LoadedModel, Params, RunResult } from '../core/plugin-api.js';
import { encodePng } from '../report/png-image.js';
import { sampleRng } from '../core/rng.js';

/** One sample at one budget: its pictures and what the model predicted. */
export interface GalleryItem {
  /** Dataset index of the sample. */
  sample: number;
  perturbation: number;
  trueLabel: string;
  cleanPrediction: string;
  advPrediction: string;
  /** PNG files, relative to the folder of results.json: gallery/<sha256 prefix>.png. */
  images: { clean: string; adversarial: string; difference: string };
  /** The difference picture shows 0.5 + amplification * (adversarial - clean). */
  amplification: number;
}

/** A result with the gallery `robench run` adds for the HTML report. */
export type ReportRun = RunResult & { gallery?: GalleryItem[] };

export interface GalleryOptions {
  model: LoadedModel;
  attack: AttackPlugin;
  params: Params;
  data: DatasetSplit;
  /** Dataset positions to show. */
  positions: number[];
  /** Budgets to show (a few nonzero points of the grid). */
  budgets: number[];
  seed: number;
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

export async function buildGallery(opts: GalleryOptions): Promise<GalleryItem[]> {
  const { model, attack, params, data, positions, seed, classNames } = opts;
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const name = (k: number) => classNames[k] ?? String(k);
  const files = new Map<string, Uint8Array>();
  const file = (pixels: Float32Array): string => {
    const png = encodePng(pixels, h, w, c);
    const path = galleryPath(png);
    files.set(path, png);
    return path;
  };
  const { x, y } = batchTensors(data, positions);
  const items: GalleryItem[] = [];
  try {
    const cleanPred = tf.tidy(() => tf.argMax(model.logits(x), 1));
    const clean = await cleanPred.data();
    cleanPred.dispose();
    for (const eps of opts.budgets) {
      const rng = sampleRng(seed, positions, `${attack.id}@${eps}`);
      const ctx = makeAttackContext({ ...modelFunctions(model), x, y, eps, params, rng, numClasses: model.numClasses, dataset: model.dataset, counters: { forward: 0, gradient: 0 } });
      const returned = await attack.run(ctx);
      const [first, ...rest] = Array.isArray(returned) ? returned : [returned];
      tf.dispose(rest);
      const advPred = tf.tidy(() => tf.argMax(model.logits(first), 1));
      const [adv, pixels] = await Promise.all([advPred.data(), first.data()]);
      tf.dispose([advPred, first]);
      positions.forEach((p, i) => {
        const cleanPixels = data.images.slice(p * size, (p + 1) * size);
        const advPixels = (pixels as Float32Array).slice(i * size, (i + 1) * size);
        const difference = amplifiedDifference(cleanPixels, advPixels);
        items.push({
          sample: p,
          perturbation: eps,
          trueLabel: name(data.labels[p]),
          cleanPrediction: name(clean[i]),
          advPrediction: name(adv[i]),
          images: { clean: file(cleanPixels), adversarial: file(advPixels), difference: file(difference.pixels) },
          amplification: difference.amplification,
        });
      });
    }
  } finally {
    tf.dispose([x, y]);
  }
  await writeGalleryFiles(opts.dir, files);
  return items;
}
