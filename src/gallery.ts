/**
 * A few clean images next to their perturbed versions at a few budgets, for the
 * HTML report. Each sample draws from the same random stream as in the
 * evaluation, so the pictures show exactly what was evaluated.
 */
import * as tf from '@tensorflow/tfjs';
import { makeAttackContext, modelFunctions } from './attack-context.js';
import { batchTensors } from './engine.js';
import type { AttackPlugin, DatasetSplit, LoadedModel, Params, RunResult } from './plugin-api.js';
import { imageToPngDataUrl } from './png-data-url.js';
import { sampleRng } from './rng.js';

/** One clean image and its perturbed version at one budget, with what the model predicted. */
export interface GalleryItem {
  /** What the pair shows, e.g. "sample 17". */
  label: string;
  perturbation: number;
  /** data:image/png;base64 URLs (see imageToPngDataUrl). */
  cleanPng: string;
  advPng: string;
  cleanPrediction: string;
  advPrediction: string;
  trueLabel: string;
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
        items.push({
          label: `sample ${p}`,
          perturbation: eps,
          cleanPng: imageToPngDataUrl(data.images.slice(p * size, (p + 1) * size), h, w, c),
          advPng: imageToPngDataUrl(pixels.slice(i * size, (i + 1) * size) as Float32Array, h, w, c),
          cleanPrediction: name(clean[i]),
          advPrediction: name(adv[i]),
          trueLabel: name(data.labels[p]),
        });
      });
    }
  } finally {
    tf.dispose([x, y]);
  }
  return items;
}
