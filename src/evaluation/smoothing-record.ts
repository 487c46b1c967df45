/**
 * What `robench certify` records of one noise level, sample by sample, and what the record
 * implies: certified accuracy at a radius, abstentions, the smoothed classifier's clean accuracy,
 * and the record of a run from its shards'. Apart from the computation (certify.ts), which
 * brings the statistics library, so that reading or merging results.json does not load it.
 */
import { RobenchError } from '../core/errors.js';

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
