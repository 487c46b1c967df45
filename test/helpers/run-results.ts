import type { RunResult } from '../../src/core/plugin-api.js';

/** A results.json of what tells runs apart, the bookkeeping fields filled with placeholders. */
export function runResult(fields: Pick<RunResult, 'model' | 'dataset' | 'attack' | 'cleanAccuracy' | 'points'>, over: Partial<RunResult> = {}): RunResult {
  return { robench: '0.1.0', backend: 'wasm', seed: 0, gradientEvaluations: 0, forwardEvaluations: 0, durationMs: 1, startedAt: '', command: [], ...fields, ...over } as RunResult;
}

/**
 * A CIFAR-10 corruption run of `model` on 100 images whose error at severity s of corruption c
 * is errors[c][s], with per-corruption counts as the engine records them (only for more than one).
 */
export function corruptionRun(model: string, errors: number[][], over: Partial<RunResult> = {}, choice = 'common'): RunResult {
  const n = 100;
  const points = errors[0].map((_, s) => {
    const correctByVersion = errors.map((row) => Math.round((1 - row[s]) * n));
    const correct = correctByVersion.reduce((a, b) => a + b, 0);
    return { perturbation: s + 1, accuracy: correct / (n * errors.length), correct, total: n * errors.length, ...(errors.length > 1 ? { correctByVersion } : {}) };
  });
  return runResult(
    {
      model: { id: model, dataset: 'cifar10', weightsSha256: 'x' },
      dataset: { id: 'cifar10', split: 'test', samples: n, source: { kind: 'bundled', path: '-', sha256: '-' } },
      attack: { id: 'corruption', params: { corruption: choice }, budget: null, perturbation: 'severity' },
      cleanAccuracy: 0.9,
      points: [{ perturbation: 0, accuracy: 0.9, correct: 90, total: n }, ...points],
    },
    over,
  );
}

/** Fifteen corruptions' severity rows, corruption c's from f(c). */
export const fifteen = (f: (c: number) => number[]): number[][] => Array.from({ length: 15 }, (_, c) => f(c));
