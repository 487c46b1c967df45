/**
 * Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with
 * an ensemble of diverse parameter-free attacks", Algorithm 1). With step size
 * eta(0) = 2 eps and momentum alpha:
 *   x(1)   = P(x(0) + eta grad f(x(0)))
 *   z(k+1) = P(x(k) + eta(k) grad f(x(k)))
 *   x(k+1) = P(x(k) + alpha (z(k+1) - x(k)) + (1 - alpha)(x(k) - x(k-1)))
 * where "grad" is the steepest ascent direction of the norm. At the checkpoints
 * w_j = ceil(p_j N), with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06),
 * a sample's step size halves and its iterate restarts from its best point x_max if
 *   1. the loss rose in fewer than rho (w_j - w_{j-1}) of the steps since w_{j-1}, or
 *   2. eta was not halved at w_{j-1} and f_max has not grown since.
 * Losses: cross-entropy, DLR, or targeted DLR against each of the `targets` most
 * likely wrong classes in turn (APGD-T). The result is each sample's worst case
 * over all iterates, targets and restarts (src/core/worst-case.ts).
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { apgd } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: apgd, eps: [0.1, 0.2], params: { loss: 'dlr', steps: 100 } });
 */
import * as tf from '@tensorflow/tfjs';
import {
  type AttackContext,
  crossEntropy,
  defaultEpsGrid,
  defineAttack,
  dlr,
  dlrTargeted,
  l2Norms,
  linfNorms,
  type Norm,
  perSample,
  type PerSampleLoss,
  project,
  rankedTargets,
  type Rng,
  steepestDirection,
  UsageError,
  WorstCase,
} from '../src/sdk.js';

type ApgdLoss = 'ce' | 'dlr' | 'dlr-targeted';
type ApgdParams = { norm: Norm; loss: ApgdLoss; steps: number; restarts: number; targets: number; rho: number; momentum: number };

/** The checkpoints w_0 = 0 < w_1 < ... < N at which step sizes are reconsidered. */
export function checkpoints(steps: number): number[] {
  // p_j in whole percent keeps ceil(p_j N) free of floating-point drift (0.41 * 100 > 41).
  const percent = [0, 22];
  while (percent[percent.length - 1] < 100) {
    const j = percent.length - 1;
    percent.push(percent[j] + Math.max(percent[j] - percent[j - 1] - 3, 6));
  }
  const w = percent.map((pj) => Math.ceil((pj * steps) / 100)).filter((wj) => wj < steps);
  return [...new Set(w)];
}

/** A random point on the boundary of the eps-ball (as in the reference implementation), clipped to [0, 1]. */
function initialPoint(norm: Norm, x: tf.Tensor4D, eps: number, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const t = norm === 'linf' ? rng.uniform(x.shape, -1, 1) : rng.normal(x.shape);
    const size = norm === 'linf' ? linfNorms(t) : l2Norms(t);
    return tf.clipByValue(tf.add(x, tf.mul(eps, tf.div(t, perSample(tf.maximum(size, 1e-12) as tf.Tensor1D)))), 0, 1) as tf.Tensor4D;
  });
}

/**
 * One run of Algorithm 1 from a random start; every iterate is offered to `worst`. Only
 * samples no earlier run fooled take part, and (with ctx.earlyStop) each leaves as soon
 * as an iterate fools it: every sample's state is its own, so the others' iterates are
 * exactly those of a run over the whole batch.
 */
async function apgdRun(ctx: AttackContext, p: ApgdParams, target: tf.Tensor1D | undefined, rng: Rng, worst: WorstCase): Promise<void> {
  const { eps } = ctx;
  const a = await worst.remaining(ctx.x, initialPoint(p.norm, ctx.x, eps, rng));
  if (a.size === 0) {
    a.dispose();
    return;
  }
  let targets = target && tf.gather(target, a.rows);
  const lossOf = (): PerSampleLoss => (targets ? dlrTargeted(targets) : p.loss === 'dlr' ? dlr : crossEntropy);
  // Losses are read with await data(), the only read the webgpu backend supports.
  const evaluate = async (xk: tf.Tensor4D, withGradient: boolean): Promise<{ grad?: tf.Tensor4D; values: number[] }> => {
    const loss = lossOf();
    const out = tf.tidy(() => {
      if (withGradient) return ctx.inputGradient(xk, loss, a.y);
      const logits = ctx.model(xk);
      return { logits, loss: loss(logits, a.y), grad: undefined };
    });
    worst.update(xk, out.loss, out.logits, a.rows);
    const values = Array.from(await out.loss.data());
    tf.dispose([out.loss, out.logits]);
    return { grad: out.grad, values };
  };

  let xk = a.xadv.clone();
  const start = await evaluate(xk, true);
  let grad = start.grad!;
  let xPrev = xk.clone();
  let f = start.values;
  let xMax = xk.clone();
  let gradMax = grad.clone();
  let fMax = f.slice();
  let eta = new Array<number>(a.size).fill(2 * eps);
  const w = checkpoints(p.steps);
  let next = 1;
  let increases = new Array<number>(a.size).fill(0);
  let fMaxAtCheckpoint = fMax.slice();
  let halvedAtCheckpoint = new Array<boolean>(a.size).fill(false);

  /** Drops the samples the last evaluation fooled from every piece of per-sample state. */
  const dropFooled = async (): Promise<void> => {
    const kept = await a.advance(xk.clone());
    if (kept === undefined) return;
    const rows = tf.tensor1d(kept, 'int32');
    const gathered = [xk, xPrev, grad, xMax, gradMax].map((t) => tf.gather(t, rows));
    const targetsKept = targets && tf.gather(targets, rows);
    tf.dispose([xk, xPrev, grad, xMax, gradMax, rows, ...(targets ? [targets] : [])]);
    [xk, xPrev, grad, xMax, gradMax] = gathered as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    targets = targetsKept;
    const pick = <T>(values: T[]): T[] => kept.map((i) => values[i]!);
    [f, fMax, eta, increases, fMaxAtCheckpoint] = [pick(f), pick(fMax), pick(eta), pick(increases), pick(fMaxAtCheckpoint)];
    halvedAtCheckpoint = pick(halvedAtCheckpoint);
  };
  await dropFooled();

  for (let k = 0; k < p.steps && a.size > 0; k++) {
    const m = k === 0 ? 1 : p.momentum;
    const xNext = tf.tidy(() => {
      const step = tf.mul(tf.tensor(eta, [a.size, 1, 1, 1]), steepestDirection(p.norm, grad));
      const z = project(p.norm, a.x, tf.add(xk, step), eps);
      const moved: tf.Tensor4D = tf.add(tf.add(xk, tf.mul(m, tf.sub(z, xk))), tf.mul(1 - m, tf.sub(xk, xPrev)));
      return project(p.norm, a.x, moved, eps);
    });
    xPrev.dispose();
    xPrev = xk;
    xk = xNext;
    grad.dispose();
    // The last iterate's gradient would never be used: a forward pass suffices.
    const { grad: g, values } = await evaluate(xk, k < p.steps - 1);
    grad = g ?? tf.zerosLike(xk);
    const improved = values.map((v, i) => v > fMax[i]!);
    values.forEach((v, i) => {
      if (v > f[i]!) increases[i]!++;
      if (improved[i]) fMax[i] = v;
    });
    f = values;
    [xMax, gradMax] = select(improved, [xk, grad], [xMax, gradMax]);

    if (k + 1 === w[next]) {
      const span = w[next]! - w[next - 1]!;
      const halve = increases.map((c, i) => c < p.rho * span || (!halvedAtCheckpoint[i] && fMax[i]! <= fMaxAtCheckpoint[i]!));
      halve.forEach((h, i) => {
        if (h) {
          eta[i]! /= 2;
          f[i] = fMax[i]!;
        }
      });
      if (halve.some(Boolean)) {
        [xk, grad] = select(halve, [xMax, gradMax], [xk, grad]);
      }
      halvedAtCheckpoint = halve;
      fMaxAtCheckpoint = fMax.slice();
      increases = increases.map(() => 0);
      next++;
    }
    await dropFooled();
  }
  tf.dispose([xk, xPrev, grad, xMax, gradMax]);
  if (targets) targets.dispose();
  a.dispose();
}

/** Per sample, `chosen` where mask is true else `other`; the tensors of `other` are disposed. */
function select(mask: boolean[], chosen: tf.Tensor4D[], other: tf.Tensor4D[]): tf.Tensor4D[] {
  const out = tf.tidy(() => {
    const m = tf.tensor4d(mask.map(Number), [mask.length, 1, 1, 1]).cast('bool');
    return chosen.map((c, i) => tf.where(m, c, other[i]) as tf.Tensor4D);
  });
  tf.dispose(other);
  return out;
}


export default defineAttack<ApgdParams>({
  id: 'apgd',
  description: 'Auto-PGD (Croce & Hein 2020): step-size schedule from the loss trace, momentum, CE/DLR/targeted-DLR loss, l-inf or l2',
  params: {
    norm: { type: 'string', description: 'threat model', default: 'linf', choices: ['linf', 'l2'] },
    loss: { type: 'string', description: 'loss to maximise (dlr-targeted is APGD-T)', default: 'ce', choices: ['ce', 'dlr', 'dlr-targeted'] },
    steps: { type: 'int', description: 'iterations N per restart', default: 100, minimum: 1 },
    restarts: { type: 'int', description: 'random restarts (per target class for dlr-targeted)', default: 1, minimum: 1 },
    targets: { type: 'int', description: 'target classes for dlr-targeted, the most likely wrong ones first (capped at classes - 1)', default: 9, minimum: 1 },
    rho: { type: 'number', description: 'fraction of loss increases below which the step size halves', default: 0.75, exclusiveMinimum: 0, maximum: 1 },
    momentum: { type: 'number', description: 'momentum alpha', default: 0.75, minimum: 0, maximum: 1 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  async run(ctx) {
    const p = ctx.params;
    if (!Number.isInteger(p.steps) || p.steps < 1) throw new UsageError(`apgd: steps must be a positive integer, got ${p.steps}`, 'pass --steps 100');
    if (!Number.isInteger(p.targets) || p.targets < 1) throw new UsageError(`apgd: targets must be a positive integer, got ${p.targets}`, 'pass --targets 9');
    const worst = new WorstCase(ctx.x, ctx.y, ctx.earlyStop);
    const targets = p.loss === 'dlr-targeted' ? rankedTargets(ctx, Math.min(p.targets, ctx.numClasses - 1)) : [undefined];
    for (const [t, target] of targets.entries()) {
      for (let r = 0; r < p.restarts; r++) await apgdRun(ctx, p, target, ctx.rng.fork(`target-${t}/restart-${r}`), worst);
    }
    tf.dispose(targets.filter((t): t is tf.Tensor1D => t !== undefined));
    return worst.result();
  },
});
