/**
 * Scoring a minimization attack (Foolbox's MinimizationAttack: FAB, FMN): it runs once per
 * batch and returns each sample's smallest adversarial example, and every budget of the grid
 * is scored from that one run. A sample is robust at eps iff it is classified correctly clean
 * and the attack found no adversarial example of norm at most eps, which is what a
 * fixed-budget attack bounded by eps and returning that example would score, at each budget.
 */
import * as tf from '@tensorflow/tfjs';
import { makeAttackContext, modelFunctions, type EvaluationCounters } from './attack-context.js';
import { budgetLimit, checkAttackOutput, checkedLogits, runAttack } from './attack-checks.js';
import { perturbationNorms } from './norms.js';
import { RobenchError, UsageError } from './errors.js';
import { sampleRng } from './rng.js';
import { recordOutcomes } from './samples.js';
import type { AttackPlugin, CurvePoint, LoadedModel, Norm, Params, SampleOutcomes } from './plugin-api.js';
import type { EvaluatedBatch } from './engine.js';

/** minimalNorm's entry for a sample the attack found no adversarial example for. */
export const NOT_FOUND = -1;

export interface MinimalCurveOptions {
  model: LoadedModel;
  attack: AttackPlugin;
  params: Params;
  norm: Norm | null;
  /** Dataset index of each evaluated sample, and whether its clean prediction was right. */
  indices: number[];
  clean: Uint8Array;
  /** Sorted budgets, 0 included where the curve has its clean point. */
  grid: number[];
  batchSize: number;
  seed: number;
  counters: EvaluationCounters;
  batch(positions: number[]): { x: tf.Tensor4D; y: tf.Tensor1D };
  /** Called after each attacked batch with the number of samples it covered. */
  onBatch?(samples: number): void;
  /** The engine's onExamples: each batch's minimal examples as scored here. */
  onExamples?(batch: EvaluatedBatch): Promise<void> | void;
}

/**
 * Every point of the curve from each sample's minimal norm. The clean point is the clean
 * accuracy; elsewhere a sample breaks where its norm is within the budget, with the same
 * float32 slack the engine grants a fixed-budget attack's examples.
 */
export function scoreMinimalNorms(grid: number[], clean: Uint8Array, minimalNorm: number[]): { points: CurvePoint[]; survivedAt: Int32Array[] } {
  const n = clean.length;
  const survivedAt = grid.map((eps) =>
    Int32Array.from(clean, (c, i) => (c === 1 && !(eps > 0 && minimalNorm[i] !== NOT_FOUND && minimalNorm[i]! <= budgetLimit(eps)) ? 1 : 0)),
  );
  const points = grid.map((perturbation, k) => {
    const correct = survivedAt[k]!.reduce((s, v) => s + v, 0);
    return { perturbation, accuracy: correct / n, correct, total: n };
  });
  return { points, survivedAt };
}

/** Shortest decimal that reads back as the same float32: results.json stays compact and exact. */
const float32Text = (v: number): number => Number(Math.fround(v).toPrecision(9));

export async function minimalCurve(opts: MinimalCurveOptions): Promise<{ points: CurvePoint[]; outcomes: SampleOutcomes }> {
  const { model, attack, params, norm, indices, clean, grid, counters } = opts;
  if (norm === null) {
    throw new UsageError(`attack '${attack.id}' is a minimization attack without a norm (budget() returned null)`, 'a minimization attack must name the norm it minimises: linf or l2');
  }
  const eps = grid[grid.length - 1]!;
  const minimalNorm = Array.from(clean, (c): number => (c === 1 ? NOT_FOUND : 0));
  // Nothing to attack on a clean-only grid; misclassified samples need no attack (norm 0).
  const alive = eps > 0 ? [...clean.keys()].filter((i) => clean[i] === 1) : [];
  for (let start = 0; start < alive.length; start += opts.batchSize) {
    const chunk = alive.slice(start, start + opts.batchSize);
    const positions = chunk.map((i) => indices[i]!);
    const { x, y } = opts.batch(positions);
    const rng = sampleRng(opts.seed, positions, `${attack.id}@minimal`);
    const spentBefore = { ...counters };
    const ctx = makeAttackContext({ ...modelFunctions(model), x, y, eps, params, rng, numClasses: model.numClasses, dataset: model.dataset, counters, earlyStop: false });
    const outputs = await runAttack(attack, ctx).catch((err: unknown) => {
      tf.dispose([x, y]);
      throw err;
    });
    try {
      if (outputs.length !== 1) {
        throw new RobenchError(`minimization attack '${attack.id}' returned ${outputs.length} batches`, 'return one batch: each sample\'s smallest adversarial example, or its clean image');
      }
      const xadv = outputs[0]!;
      await checkAttackOutput(attack.id, x, xadv, eps, null);
      const logits = await checkedLogits(model, xadv, `on the examples of attack '${attack.id}'`);
      const predicted = tf.tidy(() => tf.argMax(logits, 1).toInt());
      const measured = tf.tidy(() => tf.stack([perturbationNorms(x, xadv, norm), tf.cast(tf.notEqual(predicted, y), 'float32')]));
      logits.dispose();
      const [sizes, fooled] = (await measured.array()) as number[][];
      const predictions = Int32Array.from(await predicted.data());
      tf.dispose([measured, predicted]);
      counters.forward += chunk.length;
      chunk.forEach((i, k) => {
        if (fooled![k] === 1) minimalNorm[i] = float32Text(sizes![k]!);
        else if (sizes![k]! > 0) {
          throw new RobenchError(
            `minimization attack '${attack.id}' returned a perturbed example (${norm} size ${sizes![k]}) that the model classifies correctly, for dataset sample ${indices[i]}`,
            'return the clean image for a sample the attack did not fool: a perturbed one would be counted as broken at its norm',
          );
        }
      });
      await opts.onExamples?.({
        perturbation: eps,
        positions,
        clean: x,
        adversarial: xadv,
        fooled: Uint8Array.from(fooled!),
        predictions,
        evaluations: { forward: counters.forward - spentBefore.forward, gradient: counters.gradient - spentBefore.gradient },
        minimal: { norms: Float32Array.from(sizes!) },
      });
    } finally {
      for (const t of outputs) t.dispose();
      tf.dispose([x, y]);
    }
    opts.onBatch?.(chunk.length);
  }
  opts.onBatch?.(clean.length - alive.length);
  const { points, survivedAt } = scoreMinimalNorms(grid, clean, minimalNorm);
  const outcomes = recordOutcomes(indices, clean, survivedAt, grid.map(() => 1), 'sweep');
  return { points, outcomes: { ...outcomes, minimalNorm } };
}
