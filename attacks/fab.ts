/**
 * FAB, the Fast Adaptive Boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
 * examples with a fast adaptive boundary attack"), a minimization attack: one run gives each
 * sample's smallest adversarial example and so the whole curve. From x^(0) = x (or a random
 * point at distance eps/2 on restarts), each step linearises the classifier at x^(i):
 *   s       = argmin_{k != y} |f_k - f_y| / ||grad f_k - grad f_y||_q      (q the dual norm; FAB-T: s = the target)
 *   pi      = {z : f_s(x^(i)) - f_y(x^(i)) + <grad f_s - grad f_y, z - x^(i)> = 0}
 *   d1      = proj_p(x^(i) onto pi ∩ [0,1]^n) - x^(i),   d2 = proj_p(x onto pi ∩ [0,1]^n) - x
 *   alpha   = min(||d1|| / (||d1|| + ||d2||), alpha_max)
 *   x^(i+1) = clip((1 - alpha)(x^(i) + eta d1) + alpha (x + eta d2), 0, 1)
 * and when x^(i+1) is misclassified it is kept if smaller than the best so far, then pulled
 * back towards x: x^(i+1) = x + beta (x^(i+1) - x). The projection is src/core/box-hyperplane.ts.
 *
 * The reference (AutoAttack's fab_pt.py) reruns restarts and targets only on samples not yet
 * broken within one eps, as it scores one budget; here every restart and target runs on every
 * sample and the smallest example is kept, since every budget of the grid is scored.
 *
 * Example:
 *   robench run --model hebbian --dataset fashion-mnist --attack fab --norm l2 --samples 100
 *   robench run --model hebbian --attack fab --norm linf --targeted --targets 9 --restarts 1
 *
 * In code (x: your images, NHWC in [0, 1]; y: their labels), the examples per budget:
 *   import { attack } from 'robench';
 *   import { fab } from 'robench/attacks';
 *   const result = await attack({ model: 'baseline', dataset: 'mnist', x, y, attack: fab, eps: [0.05, 0.1], params: { norm: 'linf' } });
 */
import * as tf from '@tensorflow/tfjs';
import { type AttackContext, defaultEpsGrid, defineAttack, type Norm, projectOntoBoxHyperplane, rankedTargets } from '../src/sdk.js';

type FabParams = { norm: Norm; steps: number; restarts: number; 'alpha-max': number; eta: number; beta: number; targeted: boolean; targets: number };

/** ||v||_p of one sample's values. */
function pNorm(norm: Norm | 'l1', v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    s = norm === 'linf' ? Math.max(s, a) : norm === 'l1' ? s + a : s + a * a;
  }
  return norm === 'l2' ? Math.sqrt(s) : s;
}

/** Per sample: the logit differences f_k - f_y and their input gradients, for each candidate class k. */
interface Linearisation {
  df: number[][];
  dg: Float32Array[][];
}

async function linearise(ctx: AttackContext, x1: tf.Tensor4D, classes: tf.Tensor1D[]): Promise<Linearisation> {
  const n = x1.shape[0];
  const d = x1.size / n;
  const df: number[][] = Array.from({ length: n }, () => []);
  const dg: Float32Array[][] = Array.from({ length: n }, () => []);
  for (const k of classes) {
    const { grad, loss, logits } = ctx.inputGradient(x1, (z, y) => tf.sum(tf.mul(z, tf.sub(tf.oneHot(k, z.shape[1]), tf.oneHot(y, z.shape[1]))), 1) as tf.Tensor1D);
    const [g, l] = await Promise.all([grad.data(), loss.data()]);
    tf.dispose([grad, loss, logits]);
    for (let i = 0; i < n; i++) {
      df[i]!.push(l[i]!);
      dg[i]!.push((g as Float32Array).subarray(i * d, (i + 1) * d));
    }
  }
  return { df, dg };
}

/** One FAB step for one sample: x1 and x0 its iterate and clean image, from its linearisation. */
export function fabStep(p: Pick<FabParams, 'norm' | 'alpha-max' | 'eta'>, x1: Float32Array, x0: Float32Array, df: number[], dg: Float32Array[], exclude: number): Float32Array {
  const dual = p.norm === 'linf' ? 'l1' : 'l2';
  let s = -1;
  let nearest = Infinity;
  df.forEach((f, k) => {
    if (k === exclude) return;
    const g = pNorm(dual, dg[k]!);
    // A class whose difference has no gradient cannot be reached by a linear step.
    const dist = g > 0 ? Math.abs(f) / g : Infinity;
    if (s === -1 || dist < nearest) [s, nearest] = [k, dist];
  });
  const w = dg[s]!;
  let b = -df[s]!;
  for (let i = 0; i < w.length; i++) b += w[i]! * x1[i]!;
  const d1 = projectOntoBoxHyperplane(p.norm, x1, w, b);
  const d2 = projectOntoBoxHyperplane(p.norm, x0, w, b);
  const a1 = pNorm(p.norm, d1);
  const a2 = pNorm(p.norm, d2);
  // Both zero only when x1 and x0 lie on the plane; the reference's floors give 1/2 then.
  const alpha = Math.min(a1 + a2 > 0 ? a1 / (a1 + a2) : 0.5, p['alpha-max']);
  return Float32Array.from(x1, (v, i) => Math.min(1, Math.max(0, (1 - alpha) * (v + p.eta * d1[i]!) + alpha * (x0[i]! + p.eta * d2[i]!))));
}

/** Per sample, the smallest adversarial example found so far (the clean image until one is). */
class Smallest {
  readonly norms: number[];
  constructor(readonly images: Float32Array, n: number) {
    this.norms = new Array<number>(n).fill(Infinity);
  }
}

/**
 * One run of FAB from `start` (the clean images, or a random restart) against one class per
 * sample (`targets`) or the nearest boundary; every misclassified iterate is offered to `best`.
 */
async function fabRun(ctx: AttackContext<FabParams>, start: Float32Array, targets: tf.Tensor1D | undefined, best: Smallest): Promise<void> {
  const p = ctx.params;
  const [n, h, w, c] = ctx.x.shape;
  const d = h * w * c;
  const x0 = (await ctx.x.data()) as Float32Array;
  const labels = Array.from(await ctx.y.data());
  const classes = targets ? [targets] : Array.from({ length: ctx.numClasses }, (_, k) => tf.fill([n], k, 'int32') as tf.Tensor1D);
  const x1 = Float32Array.from(start);
  for (let it = 0; it < p.steps; it++) {
    const current = tf.tensor4d(x1, [n, h, w, c]);
    const { df, dg } = await linearise(ctx, current, classes);
    current.dispose();
    for (let i = 0; i < n; i++) {
      // FAB-T linearises the target only, so no class is excluded; untargeted skips the label.
      const exclude = targets ? -1 : labels[i]!;
      x1.set(fabStep(p, x1.subarray(i * d, (i + 1) * d), x0.subarray(i * d, (i + 1) * d), df[i]!, dg[i]!, exclude), i * d);
    }
    const moved = tf.tensor4d(x1, [n, h, w, c]);
    const fooled = tf.tidy(() => tf.notEqual(tf.argMax(ctx.model(moved), 1), ctx.y));
    const isAdv = await fooled.data();
    tf.dispose([moved, fooled]);
    for (let i = 0; i < n; i++) {
      if (!isAdv[i]) continue;
      const row = x1.subarray(i * d, (i + 1) * d);
      const x0i = x0.subarray(i * d, (i + 1) * d);
      const size = pNorm(p.norm, row.map((v, j) => v - x0i[j]!));
      if (size < best.norms[i]!) {
        best.norms[i] = size;
        best.images.set(row, i * d);
      }
      row.set(x0i.map((v, j) => v + p.beta * (row[j]! - v)));
    }
  }
  if (!targets) tf.dispose(classes);
}

/** A restart's start: x plus a random perturbation of norm eps/2 (the reference's init), clipped to [0, 1]. */
async function randomStart(ctx: AttackContext<FabParams>, label: string): Promise<Float32Array> {
  const rng = ctx.rng.fork(label);
  const start = tf.tidy(() => {
    const t = ctx.params.norm === 'linf' ? rng.uniform(ctx.x.shape, -1, 1) : rng.normal(ctx.x.shape);
    const flat = tf.reshape(t, [ctx.x.shape[0], -1]);
    const size = ctx.params.norm === 'linf' ? tf.max(tf.abs(flat), 1, true) : tf.sqrt(tf.sum(tf.square(flat), 1, true));
    return tf.clipByValue(tf.add(ctx.x, tf.reshape(tf.mul(0.5 * ctx.eps, tf.div(flat, size)), ctx.x.shape)), 0, 1);
  });
  const values = (await start.data()) as Float32Array;
  start.dispose();
  return values;
}


export default defineAttack<FabParams>({
  id: 'fab',
  description: 'Fast Adaptive Boundary attack (Croce & Hein 2020): minimal l-inf or l2 perturbation, untargeted or FAB-T; one run scores every budget',
  strategy: 'minimization',
  params: {
    norm: { type: 'string', description: 'the norm minimised', default: 'linf', choices: ['linf', 'l2'] },
    steps: { type: 'int', description: 'iterations per restart (and per target)', default: 100, minimum: 1 },
    restarts: { type: 'int', description: 'runs per target; each after the first starts at a random point at distance eps/2 (eps: the grid\'s largest budget)', default: 1, minimum: 1 },
    'alpha-max': { type: 'number', description: 'largest weight alpha of the step from the clean image', default: 0.1, minimum: 0, maximum: 1 },
    eta: { type: 'number', description: 'overshoot of each projection step', default: 1.05, minimum: 1 },
    beta: { type: 'number', description: 'backward step towards the clean image after a success', default: 0.9, exclusiveMinimum: 0, maximum: 1 },
    targeted: { type: 'boolean', description: 'FAB-T: linearise only towards one target class per run (the most likely wrong ones in turn)', default: false },
    targets: { type: 'int', description: 'target classes for --targeted, the most likely wrong ones first (capped at classes - 1)', default: 9, minimum: 1 },
  },
  budget: (p) => p.norm,
  perturbationLabel: () => 'eps',
  defaultGrid: (dataset, p) => defaultEpsGrid(dataset, p.norm),
  async run(ctx) {
    const p = ctx.params;
    const best = new Smallest(Float32Array.from(await ctx.x.data()), ctx.x.shape[0]);
    const targets = p.targeted ? rankedTargets(ctx, Math.min(p.targets, ctx.numClasses - 1)) : [undefined];
    for (const [t, target] of targets.entries()) {
      for (let r = 0; r < p.restarts; r++) {
        const start = r === 0 ? Float32Array.from(await ctx.x.data()) : await randomStart(ctx, `target-${t}/restart-${r}`);
        await fabRun(ctx, start, target, best);
      }
    }
    tf.dispose(targets.filter((t): t is tf.Tensor1D => t !== undefined));
    return tf.tensor4d(best.images, ctx.x.shape);
  },
});
