/**
 * Adversarial training of the zoo CNNs: each training batch is replaced by the examples a
 * registered robench attack finds against the model being trained, so the step minimises
 *   E_(x,y) [ max_{||d||_inf <= eps} CE(f(x + d), y) ]
 * with the inner max approximated by the attack (Madry et al. 2018).
 * - 'pgd': PGD-k from a uniform random start in the ball, step 2.5 eps / k (Madry et al.);
 * - 'fast': FGSM from a uniform random start, step 1.25 eps (Wong, Rice & Kolter 2020, "Fast is
 *   better than free"), which is PGD with one step; their guard against catastrophic
 *   overfitting (robust accuracy collapsing within an epoch) is the held-out check below.
 * - 'trades': TRADES (Zhang et al. 2019) trains on the clean batch and its examples together,
 *   minimising CE(f(x), y) + beta KL(softmax(f(x)) || softmax(f(x'))) (trades.ts), with x' from
 *   PGD-k ascending that KL from the clean prediction (pgd's `--loss kl`), started at
 *   x + 0.001 N(0, 1) as the authors' trades.py does, step 2.5 eps / k as for 'pgd' (eps / 4 at
 *   k = 10; the authors take 0.007 at 0.031 on CIFAR-10, 0.01 at 0.3 with 40 steps on MNIST).
 *   The examples go beside the batch, not over it. The authors generate them in inference mode;
 *   here the attack sees batch statistics as in the other modes, since these steps keep no
 *   moving averages to infer with (they are recomputed after training).
 * The attack runs through the engine's guarded call (runAttack) and its output is checked like
 * any attack's, so a plugin attack can train too. It sees the model in training mode (batch
 * statistics, as Madry et al.'s and Wong et al.'s code generates its examples), with early
 * stopping off: a sample keeps its highest-loss iterate, not its first misclassified one. Its random start draws from
 * each image's own stream keyed by (seed, epoch, image index), so the examples do not depend on
 * the batch size or thread count, and a resumed run draws what an uninterrupted one would.
 *
 * Budget warm-up: eps rises linearly from 0 over the first `warmupEpochs` epochs (Gowal et al.
 * 2018's ramp): from random weights, the full budget can stall training at chance.
 *
 * Held-out check (Wong et al.): after every epoch, PGD-10 robust accuracy at eps on training
 * images kept out of training, with the model in inference mode; the shipped weights are the
 * epoch that scored best.
 */
import * as tf from '@tensorflow/tfjs';
import type { Architecture } from '../nets/architectures.js';
import { makeAttackContext } from '../core/attack-context.js';
import { checkAttackOutput, runAttack } from '../core/attack-checks.js';
import { RobenchError } from '../core/errors.js';
import { resolveParams } from '../core/parse.js';
import type { AttackPlugin, DatasetSplit, ImageShape, Params } from '../core/plugin-api.js';
import { sampleRng } from '../core/rng.js';
import { attack } from '../evaluation/attack-api.js';
import { forwardTrain } from './hah-objective.js';

export type AdversarialMethod = 'pgd' | 'fast' | 'trades';

/** TRADES' beta when none is given: the paper's (its CIFAR-10 runs; the authors' MNIST script takes 1). */
export const TRADES_BETA = 6;

export interface AdversarialSpec {
  method: AdversarialMethod;
  /** The training budget (l-inf). */
  eps: number;
  /** PGD steps of the inner attack ('pgd' and 'trades'; 'fast' takes one). */
  steps: number;
  /** TRADES' weight of the KL term ('trades' only). */
  beta?: number;
  warmupEpochs: number;
  /** Training images held out for the per-epoch check, taken from the end of the training split. */
  heldOut: number;
}

/** The attack and its params for a method at a budget. */
export function innerAttack(spec: AdversarialSpec, eps: number): { id: string; params: Record<string, unknown> } {
  const steps = spec.method === 'fast' ? 1 : spec.steps;
  const stepSize = spec.method === 'fast' ? 1.25 * eps : (2.5 * eps) / steps;
  const trades = spec.method === 'trades';
  // TRADES' start is x + 0.001 N(0, 1), as in the authors' trades.py.
  return { id: 'pgd', params: { norm: 'linf', loss: trades ? 'kl' : 'ce', steps, 'step-size': stepSize, restarts: 1, 'random-start': true, ...(trades ? { 'start-sigma': 0.001 } : {}) } };
}

/** TRADES' beta, for the gradient steps; undefined for the modes that train on the examples alone. */
export const tradesBeta = (spec: AdversarialSpec | undefined): number | undefined => (spec?.method === 'trades' ? spec.beta : undefined);

/** The budget of a step under the warm-up: eps * min(1, steps done / warm-up steps). */
export const budgetAt = (spec: AdversarialSpec, epoch: number, step: number, steps: number): number =>
  spec.warmupEpochs <= 0 ? spec.eps : spec.eps * Math.min(1, (epoch * steps + step + 1) / (spec.warmupEpochs * steps));

const describeInner = (spec: AdversarialSpec): string =>
  spec.method === 'fast'
    ? 'FGSM from a random start, step 1.25 eps (Wong et al. 2020)'
    : spec.method === 'pgd'
      ? `PGD-${spec.steps} from a random start, step 2.5 eps / ${spec.steps} (Madry et al. 2018)`
      : `TRADES, beta ${spec.beta} (Zhang et al. 2019): CE(f(x), y) + ${spec.beta} KL(softmax(f(x)) || softmax(f(x'))) with x' from PGD-${spec.steps} ascending the KL from x + 0.001 N(0, 1), step 2.5 eps / ${spec.steps}`;

export const describeAdversarial = (spec: AdversarialSpec): string =>
  `${describeInner(spec)} at l-inf eps ${spec.eps}, in training mode, early stopping off; eps ramped linearly from 0 over ${spec.warmupEpochs} epoch${spec.warmupEpochs === 1 ? '' : 's'}; the epoch with the best PGD-10 accuracy on ${spec.heldOut} held-out training images is kept`;

/**
 * Writes the inner attack's examples at `eps` of the first `count` images of `images` (NHWC,
 * [0, 1]) into `into`: `images` itself for the modes that train on the examples alone, the
 * buffer beside it for TRADES, whose loss needs the clean images too.
 */
export async function perturbBatch(
  plugin: AttackPlugin,
  model: tf.LayersModel,
  arch: Architecture,
  batch: { images: Float32Array; into: Float32Array; labels: Int32Array; positions: ArrayLike<number>; count: number; shape: ImageShape },
  at: { spec: AdversarialSpec; eps: number; seed: number; epoch: number; numClasses: number; dataset: string },
): Promise<void> {
  const per = batch.shape[0] * batch.shape[1] * batch.shape[2];
  // No budget: the examples are the images.
  if (at.eps <= 0) return void batch.into.set(batch.images.subarray(0, batch.count * per));
  const { id, params: raw } = innerAttack(at.spec, at.eps);
  const params = resolveParams(id, plugin.params, raw, { origin: { source: 'option', api: 'adversarial training' }, strict: true }) as Params;
  const x = tf.tensor4d(batch.images.subarray(0, batch.count * per), [batch.count, ...batch.shape]);
  const y = tf.tensor1d(batch.labels.subarray(0, batch.count), 'int32');
  const logits = (t: tf.Tensor4D): tf.Tensor2D => {
    const { logits: z, hah } = forwardTrain(model, arch, t);
    tf.dispose(hah);
    return z;
  };
  const rng = sampleRng(at.seed, Array.from(batch.positions), `adversarial-training/${at.epoch}`);
  const ctx = makeAttackContext({ logits, x, y, eps: at.eps, params, rng, numClasses: at.numClasses, dataset: at.dataset, counters: { forward: 0, gradient: 0 }, earlyStop: false });
  let outputs: tf.Tensor4D[] = [];
  try {
    outputs = await runAttack(plugin, ctx);
    if (outputs.length !== 1) throw new RobenchError(`attack '${id}' returned ${outputs.length} versions of a training batch`, 'adversarial training takes an attack that returns one batch');
    await checkAttackOutput(id, x, outputs[0]!, at.eps, plugin.budget(params));
    batch.into.set(await outputs[0]!.data(), 0);
  } finally {
    tf.dispose([x, y, ...outputs]);
  }
}

/** PGD-10 robust accuracy at eps of the model in inference mode on a split's first `count` images (the held-out check). */
export async function heldOutRobustness(model: tf.LayersModel, split: DatasetSplit, count: number, eps: number, seed: number): Promise<number> {
  const per = split.shape[0] * split.shape[1] * split.shape[2];
  const x = tf.tensor4d(split.images.subarray(0, count * per), [count, ...split.shape]);
  try {
    const result = await attack({ model, modelId: 'held-out check', x, y: split.labels.subarray(0, count), attack: 'pgd', eps, params: { steps: 10 }, seed, batch: 250 });
    try {
      const fooled = result.budgets[0]!.success.reduce((s, v) => s + v, 0);
      return 1 - fooled / count;
    } finally {
      result.dispose();
    }
  } finally {
    x.dispose();
  }
}
