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
import { RobenchError } from '../core/errors.js';
import type { DatasetSplit } from '../core/plugin-api.js';
import { countsUnderNoise, type BaseClassifier } from './smoothing-counts.js';
import { certifiedRadius, certify, predict, topClass } from './smoothing.js';

export interface SmoothingSettings {
  sigma: number;
  /** Draws that choose the class. */
  n0: number;
  /** Draws that bound its probability. */
  n: number;
  alpha: number;
}

/** One noise level's certificates, as parallel arrays in evaluation order. */
export interface SmoothingRecord extends SmoothingSettings {
  /** Dataset index and true label of each sample. */
  index: number[];
  label: number[];
  /** CERTIFY's class, or -1 (abstained). */
  certified: number[];
  /** Of the certified class (the n0 draws' top class even when abstaining), how many of the n estimation draws it won. */
  topCount: number[];
  /** The one-sided Clopper-Pearson lower bound on its probability. */
  pLower: number[];
  /** The certified l2 radius, -1 where CERTIFY abstained. */
  radius: number[];
  /** PREDICT's class on the estimation draws, or -1 (abstained). */
  predicted: number[];
}

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

/** One record from the records of consecutive, disjoint slices of the samples (the shards of a certify run), in order. */
export function concatRecords(parts: readonly SmoothingRecord[]): SmoothingRecord {
  const [first] = parts;
  const settings = (r: SmoothingRecord): string => JSON.stringify([r.sigma, r.n0, r.n, r.alpha]);
  if (!first || parts.some((p) => settings(p) !== settings(first))) {
    throw new RobenchError('the slices of one certify run used different noise levels or draws', 'merge slices computed with the same sigma, n0, n and alpha');
  }
  const joined = (pick: (r: SmoothingRecord) => number[]): number[] => parts.flatMap(pick);
  return {
    sigma: first.sigma, n0: first.n0, n: first.n, alpha: first.alpha,
    index: joined((r) => r.index),
    label: joined((r) => r.label),
    certified: joined((r) => r.certified),
    topCount: joined((r) => r.topCount),
    pLower: joined((r) => r.pLower),
    radius: joined((r) => r.radius),
    predicted: joined((r) => r.predicted),
  };
}

/** Per sample, whether its certificate names the true class at radius r or more. */
export const certifiedAt = (record: SmoothingRecord, r: number): boolean[] => record.index.map((_, i) => record.certified[i] === record.label[i] && record.radius[i]! >= r);

/** How many samples are certified correct at each radius. */
export const certifiedCounts = (record: SmoothingRecord, radii: readonly number[]): number[] => radii.map((r) => certifiedAt(record, r).filter(Boolean).length);

/** How many samples CERTIFY abstained on. */
export const abstentions = (record: SmoothingRecord): number => record.certified.filter((c) => c === -1).length;

/** How many samples the smoothed classifier (PREDICT) labels correctly. */
export const smoothedCorrect = (record: SmoothingRecord): number => record.predicted.filter((p, i) => p === record.label[i]).length;

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
