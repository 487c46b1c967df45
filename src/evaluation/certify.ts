/**
 * `robench certify`'s evaluation: CERTIFY and PREDICT (src/evaluation/smoothing.ts) for each
 * sample at one noise level, recorded sample by sample, and the certified accuracy at a radius
 * that the record implies.
 *
 * Certified accuracy at radius r (Cohen et al.'s figure) is the fraction of samples whose
 * certificate names the true class with a radius of at least r; an abstention counts as wrong
 * at every radius. The clean accuracy of the smoothed classifier is PREDICT's, on the n
 * estimation draws (a PREDICT of n draws in its own right), abstentions counting as wrong.
 *
 * Every sigma scales the same standard normal draws of an image (its streams are keyed by seed,
 * purpose and dataset index, not by sigma): each certificate holds on its own, and the curves of
 * two noise levels differ by the noise level, not by the luck of their draws.
 */
import type { DatasetSplit } from '../core/plugin-api.js';
import { countsUnderNoise, type BaseClassifier } from './smoothing-counts.js';
import { certifiedRadius, certify, predict, topClass } from './smoothing.js';
import type { SmoothingRecord, SmoothingSettings } from './smoothing-record.js';

export interface CertifyOptions extends SmoothingSettings {
  seed: number;
  /** Noisy copies per forward pass. */
  batch: number;
  /** Called after each sample, with how many are done. */
  onSample?(done: number): void;
}

/** Certifies the samples at positions 0..count-1 of `data`, whose dataset indices are `indices`. */
export async function certifySamples(model: BaseClassifier, data: DatasetSplit, indices: readonly number[], opts: CertifyOptions): Promise<SmoothingRecord> {
  const { sigma, n0, n, alpha, seed, batch } = opts;
  const record: SmoothingRecord = { sigma, n0, n, alpha, index: [], label: [], certified: [], topCount: [], pLower: [], radius: [], predicted: [] };
  const pixels = data.shape[0] * data.shape[1] * data.shape[2];
  for (let i = 0; i < indices.length; i++) {
    const image = data.images.subarray(i * pixels, (i + 1) * pixels);
    const index = indices[i]!;
    const selection = await countsUnderNoise(model, image, data.shape, index, { seed, label: 'certify/select', sigma, count: n0, batch });
    const estimation = await countsUnderNoise(model, image, data.shape, index, { seed, label: 'certify/estimate', sigma, count: n, batch });
    const certificate = certify(selection, estimation, sigma, alpha);
    record.index.push(index);
    record.label.push(data.labels[i]!);
    record.certified.push(certificate.prediction);
    record.topCount.push(estimation[topClass(selection)]!);
    record.pLower.push(certificate.pLower);
    record.radius.push(certificate.radius);
    record.predicted.push(predict(estimation, alpha));
    opts.onSample?.(i + 1);
  }
  return record;
}

/** The largest radius n draws can certify: every one of them the chosen class gives pA_lower = alpha^(1/n). */
export const largestRadius = (sigma: number, n: number, alpha: number): number => certifiedRadius(alpha ** (1 / n), sigma);

/**
 * Radii from 0 to the largest any of the noise levels can certify, at a round step (1, 2, 2.5 or
 * 5 times a power of ten) giving at most 11 points, one grid for every noise level so that their
 * curves compare point by point.
 */
export function defaultRadii(sigmas: readonly number[], n: number, alpha: number): number[] {
  const top = Math.max(...sigmas.map((s) => largestRadius(s, n, alpha)));
  if (!(top > 0)) return [0];
  for (let e = Math.floor(Math.log10(top / 10)); ; e++) {
    const step = [1, 2, 2.5, 5].map((m) => m * 10 ** e).find((s) => top / s <= 10);
    if (step !== undefined) return Array.from({ length: Math.floor(top / step + 1e-9) + 1 }, (_, k) => Number((k * step).toPrecision(12)));
  }
}
