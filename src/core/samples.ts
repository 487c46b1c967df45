/**
 * Per-sample outcomes: what happened to each evaluated sample, stored compactly in
 * results.json (parallel integer arrays) so that every point of the curve can be
 * recomputed exactly, shards can be merged sample by sample, and `robench check`
 * can pair two runs on the same samples.
 */
import { RobenchError, UsageError } from './errors.js';
import type { CurvePoint, SampleOutcomes } from './plugin-api.js';

/**
 * How the engine's per-point survival maps to a record: a swept norm-ball curve is
 * monotone, so the first budget that broke a sample says everything; independent
 * budgets (--no-sweep) need each point's survivors; noise and corruptions need the
 * number of draws each sample survived.
 */
export type OutcomeMode = 'sweep' | 'independent' | 'draws';

/**
 * `survivedAt[k][i]`: how many of point k's `drawsAt[k]` draws the sample at position i
 * survived (norm-ball attacks: 1 when it counts as robust at point k, else 0).
 */
export function recordOutcomes(indices: number[], clean: Uint8Array, survivedAt: Int32Array[], drawsAt: number[], mode: OutcomeMode): SampleOutcomes {
  const base = { index: [...indices], clean: Array.from(clean) };
  if (mode === 'draws') return { ...base, draws: [...drawsAt], survivedDraws: survivedAt.map((s) => Array.from(s)) };
  const brokeAt = indices.map((_, i) => survivedAt.findIndex((s) => s[i] === 0));
  if (mode === 'sweep') return { ...base, brokeAt };
  return { ...base, brokeAt, survivors: survivedAt.map((s) => indices.filter((_, i) => s[i] > 0)) };
}

/** Draws per sample at point k: several for noise and corruptions, one otherwise. */
export const drawsAt = (o: SampleOutcomes, k: number): number => o.draws?.[k] ?? 1;

/** Per point, per sample (parallel to `o.index`): how many of the point's draws the sample survived. */
export function survivedFromRecord(o: SampleOutcomes, pointCount: number): number[][] {
  if (o.survivedDraws) return o.survivedDraws;
  if (o.survivors) return o.survivors.map((list) => {
    const kept = new Set(list);
    return o.index.map((d) => (kept.has(d) ? 1 : 0));
  });
  const broke = o.brokeAt ?? [];
  return Array.from({ length: pointCount }, (_, k) => broke.map((b) => (b === -1 || b > k ? 1 : 0)));
}

/** The curve the record implies, point for point as the engine counts it. */
export function pointsFromOutcomes(o: SampleOutcomes, perturbations: number[]): CurvePoint[] {
  const survived = survivedFromRecord(o, perturbations.length);
  return perturbations.map((perturbation, k) => {
    const correct = (survived[k] ?? []).reduce((s, v) => s + v, 0);
    const total = o.index.length * drawsAt(o, k);
    return { perturbation, accuracy: correct / total, correct, total };
  });
}

/**
 * Refuses a record that does not reproduce its run's curve, so that a corrupted or
 * hand-edited results.json cannot pair or merge wrongly.
 */
export function checkOutcomes(o: SampleOutcomes, points: CurvePoint[], samples: number, where: string): void {
  const lengths = [o.clean.length, o.brokeAt?.length, o.minimalNorm?.length, o.brokenBy?.length, ...(o.individual ?? []).map((m) => m.brokeAt.length), ...(o.survivedDraws ?? []).map((s) => s.length)].filter((l) => l !== undefined);
  const recomputed = lengths.every((l) => l === o.index.length) && o.index.length === samples ? pointsFromOutcomes(o, points.map((p) => p.perturbation)) : undefined;
  const agrees = recomputed?.every((p, k) => p.correct === points[k].correct && p.total === points[k].total);
  if (!agrees) {
    throw new UsageError(`${where}: the per-sample outcomes do not reproduce the recorded curve`, 'the file was edited or truncated: rerun robench run to write it again');
  }
}

/** One record from the records of consecutive, disjoint slices (chunks, shards), in order. */
export function concatOutcomes(parts: SampleOutcomes[]): SampleOutcomes {
  const [first] = parts;
  const perPoint = (pick: (o: SampleOutcomes) => number[][] | undefined): number[][] | undefined =>
    pick(first)?.map((_, k) => parts.flatMap((p) => pick(p)![k]));
  const draws = first.draws;
  if (draws && parts.some((p) => JSON.stringify(p.draws) !== JSON.stringify(draws))) {
    throw new RobenchError('the slices of one run drew different numbers of noise samples per image', 'merge slices computed with the same attack settings');
  }
  const brokeAt = first.brokeAt && parts.flatMap((p) => p.brokeAt!);
  const minimalNorm = first.minimalNorm && parts.flatMap((p) => p.minimalNorm!);
  const members = first.members;
  if (parts.some((p) => JSON.stringify(p.members) !== JSON.stringify(members) || JSON.stringify(p.individual?.map((m) => m.member)) !== JSON.stringify(first.individual?.map((m) => m.member)))) {
    throw new RobenchError('the slices of one run ran different ensemble members', 'merge slices computed with the same attack settings');
  }
  const brokenBy = first.brokenBy && parts.flatMap((p) => p.brokenBy!);
  const individual = first.individual?.map(({ member }, m) => ({ member, brokeAt: parts.flatMap((p) => p.individual![m]!.brokeAt) }));
  const survivors = perPoint((o) => o.survivors);
  const survivedDraws = perPoint((o) => o.survivedDraws);
  return {
    index: parts.flatMap((p) => p.index),
    clean: parts.flatMap((p) => p.clean),
    ...(brokeAt ? { brokeAt } : {}),
    ...(survivors ? { survivors } : {}),
    ...(draws ? { draws } : {}),
    ...(survivedDraws ? { survivedDraws } : {}),
    ...(minimalNorm ? { minimalNorm } : {}),
    ...(members ? { members } : {}),
    ...(brokenBy ? { brokenBy } : {}),
    ...(individual ? { individual } : {}),
  };
}

/**
 * A point counted per image: the draws of one image are correlated (one image, one
 * model), so the unit is the image and its survived fraction, n = images. Since a
 * fraction in [0, 1] with mean p has variance at most p(1 - p), binomial intervals and
 * tests on (correct / draws, images) are valid, if conservative. With one draw per
 * image (norm-ball attacks) this is the point itself.
 */
export function perImage(point: CurvePoint, images: number): { correct: number; total: number } {
  if (!(images > 0) || point.total === images) return { correct: point.correct, total: point.total };
  return { correct: (point.correct * images) / point.total, total: images };
}
