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
 * The inner attack is the built-in pgd configured by the mode, or any registered norm-ball attack
 * (`--adversarial-attack id:param=value`, a --plugin or config plugin's too) with its own params,
 * which takes each step's budget as its eps. It is looked up once in the run's registry, and
 * runs through the engine's guarded call (runAttack) with its output checked like any attack's,
 * on the main thread only: the worker threads compute gradients of the examples it wrote. It sees the model in training mode (batch
 * statistics, as Madry et al.'s and Wong et al.'s code generates its examples), with early
 * stopping off: a sample keeps its highest-loss iterate, not its first misclassified one. Its random start draws from
 * each image's own stream keyed by (seed, epoch, image index), so the examples do not depend on
 * the batch size or thread count, and a resumed run draws what an uninterrupted one would.
 *
 * Budget warm-up: eps rises linearly from 0 over the first `warmupEpochs` epochs (Gowal et al.
 * 2018's ramp): from random weights, the full budget can stall training at chance.
 *
 * Held-out check (Wong et al.): after every epoch, PGD-10 robust accuracy at eps, in the inner
 * attack's norm, on training images kept out of training, with the model in inference mode; the
 * shipped weights are the epoch that scored best.
 */
import * as tf from '@tensorflow/tfjs';
import type { Architecture } from '../nets/architectures.js';
import { resolve } from 'node:path';
import { makeAttackContext } from '../core/attack-context.js';
import { checkAttackOutput, runAttack } from '../core/attack-checks.js';
import { evaluateCurve } from '../core/engine.js';
import { RobenchError, UsageError } from '../core/errors.js';
import { resolveParams } from '../core/parse.js';
import type { AttackPlugin, DatasetSplit, ImageShape, LoadedModel, Norm } from '../core/plugin-api.js';
import { isPluginFile, type Registry } from '../core/registry.js';
import { sampleRng } from '../core/rng.js';
import { intSetting, numberSetting, type Origin } from '../core/settings.js';
import { forwardTrain } from './hah-objective.js';

export type AdversarialMethod = 'pgd' | 'fast' | 'trades';

/** TRADES' beta when none is given: the paper's (its CIFAR-10 runs; the authors' MNIST script takes 1). */
export const TRADES_BETA = 6;

/** An inner attack other than the mode's pgd: a registered attack's id and the params it is given. */
export interface ChosenAttack {
  id: string;
  params: Record<string, unknown>;
}

export interface AdversarialSpec {
  method: AdversarialMethod;
  /** The training budget, in the inner attack's norm. */
  eps: number;
  /** The inner attack when it is not pgd; absent for pgd, so that the spec and the checkpoints and manifests recording it read as before. */
  attack?: ChosenAttack;
  /**
   * Steps of pgd, the inner attack ('pgd' and 'trades' with it). Absent where nothing reads it,
   * as beta is outside 'trades': 'fast' takes one step, and a chosen `attack` runs on its own
   * params; a manifest recording an unused count would mislead its reader. Checkpoints and
   * manifests written before recorded 10 there too: a resume reads such a checkpoint through
   * withoutUnusedSteps, and no reader parses a shipped manifest's record.
   */
  steps?: number;
  /** TRADES' weight of the KL term ('trades' only). */
  beta?: number;
  warmupEpochs: number;
  /** Training images held out for the per-epoch check, taken from the end of the training split. */
  heldOut: number;
}

/** The training budget when none is given: the datasets' standard l-inf budgets. */
export const TRAIN_EPS: Readonly<Record<string, number>> = { mnist: 0.3, 'fashion-mnist': 0.1, cifar10: 8 / 255, svhn: 8 / 255 };

/** Steps of the inner pgd when none are given. */
const PGD_STEPS = 10;

/** Whether the spec's inner attack is pgd with `steps` steps: 'pgd' and 'trades' without a chosen attack. */
const usesSteps = (spec: Pick<AdversarialSpec, 'method' | 'attack'>): boolean => spec.method !== 'fast' && !spec.attack;

/**
 * The spec as this version records it: `steps` dropped where nothing reads it. A checkpoint
 * written before recorded steps 10 for 'fast' and for a chosen attack; its state is read through
 * this, so it resumes rather than differing from the run in a setting nobody can give.
 */
export function withoutUnusedSteps(spec: AdversarialSpec): AdversarialSpec {
  if (usesSteps(spec) || spec.steps === undefined) return spec;
  const { steps: _unused, ...rest } = spec;
  return rest;
}

/** The settings of an AdversarialSpec that have defaults, declared once: robench train's flags, and what train()'s `adversarial` is checked by. */
export const ADVERSARIAL_SETTINGS = {
  eps: numberSetting({ name: 'trainEps', above: 0, description: "adversarial training: the budget, in the inner attack's norm (default, l-inf: mnist 0.3, fashion-mnist 0.1, cifar10 and svhn 8/255; an l2 attack needs it)" }),
  steps: intSetting({ name: 'adversarialSteps', min: 1, max: 1000, description: `adversarial training with pgd or trades: steps of pgd, the default inner attack (default ${PGD_STEPS})` }),
  beta: numberSetting({ name: 'tradesBeta', above: 0, max: 1000, description: `adversarial training with trades: beta, the weight of the KL term (default ${TRADES_BETA}, the paper's)` }),
  warmupEpochs: intSetting({ name: 'warmupEpochs', min: 0, max: 10_000, description: 'adversarial training: epochs over which the budget rises linearly from 0 (default 1)' }),
  heldOut: intSetting({ name: 'heldOut', min: 1, max: 100_000, description: 'adversarial training: training images held out for the per-epoch PGD-10 check that picks the shipped epoch (default 500)' }),
} as const;

/** Adversarial training as given, from code or robench train's flags: the method, each other setting left out taking its default. */
export type AdversarialOptions = Pick<AdversarialSpec, 'method'> & Partial<Omit<AdversarialSpec, 'method'>>;

const METHODS: readonly AdversarialMethod[] = ['pgd', 'fast', 'trades'];
/** Messages name the flags, for train()'s options too: the settings are the flags'. */
const FLAG: Origin = { source: 'flag' };

/**
 * The adversarial training of a run on `dataset`: the given settings with their defaults
 * (TRADES' beta, the dataset's standard l-inf budget, 10 steps where pgd is the inner attack,
 * 1 warm-up epoch, 500 held-out images), checked, with its inner attack looked up in
 * `registry`. The one place a spec is made, by robench train (after its flag-only checks) and
 * by train() alike, so the two accept and refuse the same settings with the same messages.
 */
export function adversarialSettings(given: AdversarialOptions, dataset: string, registry: Registry): { spec: AdversarialSpec; attacks: AdversarialAttacks } {
  if (!METHODS.includes(given.method)) throw new UsageError(`--adversarial ${given.method} is not a method of adversarial training`, 'use --adversarial pgd, fast or trades');
  if (given.beta !== undefined && given.method !== 'trades') throw new UsageError('--trades-beta applies to --adversarial trades only', 'drop --trades-beta, or train with --adversarial trades');
  // Refused rather than dropped: the spec records no steps where nothing reads them.
  if (given.steps !== undefined && given.method === 'fast') throw new UsageError('--adversarial-steps applies to --adversarial pgd and trades: fast takes one FGSM step', 'drop --adversarial-steps');
  if (given.steps !== undefined && given.attack) {
    const { id } = given.attack;
    throw new UsageError(`--adversarial-steps configures pgd, not the attack '${id}'`, `give ${id} its own params: --adversarial-attack ${id}:param=value`);
  }
  // A number is checked as its flag's text would be, so the message is the flag's.
  const checked = (key: keyof typeof ADVERSARIAL_SETTINGS): number | undefined => {
    const v: unknown = given[key];
    return v === undefined ? undefined : ADVERSARIAL_SETTINGS[key].parse(typeof v === 'number' ? String(v) : v, FLAG);
  };
  const [givenEps, steps, beta, warmupEpochs, heldOut] = (['eps', 'steps', 'beta', 'warmupEpochs', 'heldOut'] as const).map(checked);
  const eps = givenEps ?? TRAIN_EPS[dataset];
  if (eps === undefined) throw new UsageError(`there is no standard training budget for the dataset '${dataset}'`, 'pass --train-eps, e.g. --train-eps 8/255');
  // In the order the shipped manifests record (those of 'fast' hold the steps 10 it once recorded).
  const spec: AdversarialSpec = {
    method: given.method,
    eps,
    ...(usesSteps(given) ? { steps: steps ?? PGD_STEPS } : {}),
    warmupEpochs: warmupEpochs ?? 1,
    heldOut: heldOut ?? 500,
    ...(given.method === 'trades' ? { beta: beta ?? TRADES_BETA } : {}),
    ...(given.attack ? { attack: given.attack } : {}),
  };
  const attacks = adversarialAttacks(registry, spec);
  const { norm } = attacks;
  if (norm !== 'linf' && givenEps === undefined) throw new UsageError(`the attack '${spec.attack!.id}' is an ${norm} attack; the default --train-eps is the dataset's l-inf budget`, 'pass --train-eps, the l2 budget, e.g. --train-eps 0.5');
  // Bounded here, not by the setting: an l2 budget above 1 is common (MNIST's 2), an l-inf one covers every image.
  if (norm === 'linf' && eps > 1) throw new UsageError(`--train-eps ${eps} is an l-inf budget above 1, the whole pixel range`, 'e.g. --train-eps 8/255, or 0.3 on MNIST');
  return { spec, attacks };
}

/** The attack and its params for a method at a budget: a chosen attack's own, or pgd configured by the method. */
export function innerAttack(spec: AdversarialSpec, eps: number): ChosenAttack {
  if (spec.attack) return spec.attack;
  const steps = spec.method === 'fast' ? 1 : pgdSteps(spec);
  const stepSize = spec.method === 'fast' ? 1.25 * eps : (2.5 * eps) / steps;
  const trades = spec.method === 'trades';
  // TRADES' start is x + 0.001 N(0, 1), as in the authors' trades.py.
  return { id: 'pgd', params: { norm: 'linf', loss: trades ? 'kl' : 'ce', steps, 'step-size': stepSize, restarts: 1, 'random-start': true, ...(trades ? { 'start-sigma': 0.001 } : {}) } };
}

/** The steps of the inner pgd of 'pgd' and 'trades'; a spec made by hand without them takes the default, as adversarialSettings gives it. */
const pgdSteps = (spec: AdversarialSpec): number => spec.steps ?? PGD_STEPS;

/** TRADES' beta, for the gradient steps; undefined for the modes that train on the examples alone. */
export const tradesBeta = (spec: AdversarialSpec | undefined): number | undefined => (spec?.method === 'trades' ? spec.beta : undefined);

/** The budget of a step under the warm-up: eps * min(1, steps done / warm-up steps). */
export const budgetAt = (spec: AdversarialSpec, epoch: number, step: number, steps: number): number =>
  spec.warmupEpochs <= 0 ? spec.eps : spec.eps * Math.min(1, (epoch * steps + step + 1) / (spec.warmupEpochs * steps));

/** Where an inner attack's params come from, for their error messages. */
const ORIGIN: Origin = { source: 'option', api: '--adversarial-attack' };
const EXAMPLES = 'e.g. pgd, fgsm or apgd, or a plugin attack with an l-inf or l2 budget';

/** The registry's plugins a run trains with: the inner attack, its norm, pgd for the held-out check, and where a plugin attack came from. */
export interface AdversarialAttacks {
  inner: AttackPlugin;
  norm: Norm;
  pgd: AttackPlugin;
  /** A plugin attack's file (absolute) or package; absent for the built-in attacks. */
  source?: string;
}

/**
 * The inner attack looked up and checked once, before any compute: it must return one batch
 * inside a norm ball at every eps, so not an attack without a budget (noise, corruptions), a
 * minimization attack (its examples are the smallest it finds, at any distance) or an ensemble.
 */
export function adversarialAttacks(registry: Registry, spec: AdversarialSpec): AdversarialAttacks {
  const { id, params: raw } = innerAttack(spec, spec.eps);
  if (spec.attack && spec.method === 'fast') throw new UsageError(`--adversarial fast is FGSM as pgd takes it, not the attack '${id}'`, `train on ${id}'s examples with --adversarial pgd (or trades) --adversarial-attack ${id}`);
  let inner: AttackPlugin;
  try {
    inner = registry.get('attack', id);
  } catch (err) {
    throw err instanceof UsageError ? new UsageError(`--adversarial-attack: ${err.message}`, err.hint) : err;
  }
  const params = resolveParams(inner, raw, { origin: ORIGIN, strict: true });
  const norm = inner.budget(params);
  const refuse = (why: string): never => {
    throw new UsageError(`--adversarial-attack ${id}: ${why}; adversarial training takes a norm-ball attack`, EXAMPLES);
  };
  if (norm === null) refuse(`its perturbation size is a ${inner.perturbationLabel?.(params) ?? 'level'}, not a norm bound`);
  if (inner.strategy === 'minimization') refuse('a minimization attack returns the smallest examples it finds, not examples inside the training budget');
  if (inner.members) refuse('an ensemble returns a batch per member, a training step takes one');
  const origin = registry.origins.get(inner)!;
  const source = registry.isBuiltin(inner) ? undefined : isPluginFile(origin) ? resolve(origin) : origin;
  return { inner, norm: norm!, pgd: registry.get('attack', 'pgd'), ...(source ? { source } : {}) };
}

/** A chosen inner attack as --adversarial-attack spells it: `id:param=value:...`. */
export const attackFlag = ({ id, params }: ChosenAttack): string => [id, ...Object.entries(params).map(([k, v]) => `${k}=${v}`)].join(':');

/** TRADES' loss at beta: named whatever attack makes its examples. */
const tradesObjective = (beta: number | undefined): string => `TRADES, beta ${beta} (Zhang et al. 2019): CE(f(x), y) + ${beta} KL(softmax(f(x)) || softmax(f(x')))`;

const describeInner = (spec: AdversarialSpec): string =>
  spec.method === 'trades'
    ? `${tradesObjective(spec.beta)} with x' from ${spec.attack ? `the attack ${attackFlag(spec.attack)}` : `PGD-${pgdSteps(spec)} ascending the KL from x + 0.001 N(0, 1), step 2.5 eps / ${pgdSteps(spec)}`}`
    : spec.attack
      ? `the attack ${attackFlag(spec.attack)}`
      : spec.method === 'fast'
        ? 'FGSM from a random start, step 1.25 eps (Wong et al. 2020)'
        : `PGD-${pgdSteps(spec)} from a random start, step 2.5 eps / ${pgdSteps(spec)} (Madry et al. 2018)`;

const normName = (norm: Norm): string => (norm === 'linf' ? 'l-inf' : norm);

export const describeAdversarial = (spec: AdversarialSpec, norm: Norm): string =>
  `${describeInner(spec)} at ${normName(norm)} eps ${spec.eps}, in training mode, early stopping off; eps ramped linearly from 0 over ${spec.warmupEpochs} epoch${spec.warmupEpochs === 1 ? '' : 's'}; the epoch with the best ${norm === 'linf' ? '' : `${norm} `}PGD-10 accuracy on ${spec.heldOut} held-out training images is kept`;

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
  const params = resolveParams(plugin, raw, { origin: ORIGIN, strict: true });
  const x = tf.tensor4d(batch.images.subarray(0, batch.count * per), [batch.count, ...batch.shape]);
  const y = tf.tensor1d(batch.labels.subarray(0, batch.count), 'int32');
  // The attack's loss is on the logits alone: no HaH costs.
  const logits = (t: tf.Tensor4D): tf.Tensor2D => forwardTrain(model, arch, t, false).logits;
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

/**
 * PGD-10 robust accuracy at eps, in `norm`, of the model in inference mode on a split's images
 * (the held-out check): the engine's curve at one budget, as attack() would score it, with the
 * run's pgd plugin rather than a registry of its own.
 */
export async function heldOutRobustness(model: tf.LayersModel, pgd: AttackPlugin, data: { split: DatasetSplit; numClasses: number; dataset: string }, norm: Norm, eps: number, seed: number): Promise<number> {
  const { split, numClasses, dataset } = data;
  const loaded: LoadedModel = {
    id: 'held-out check',
    dataset,
    inputShape: split.shape,
    numClasses,
    weightsSha256: '',
    logits: (x) => model.apply(x, { training: false }) as tf.Tensor2D,
    dispose: () => undefined,
  };
  const params = resolveParams(pgd, { steps: 10, norm }, { origin: ORIGIN, strict: true });
  const curve = await evaluateCurve({ model: loaded, attack: pgd, params, data: split, grid: [eps], batchSize: 250, seed, sweep: true });
  const point = curve.points.find((p) => p.perturbation === eps)!;
  return point.accuracy;
}
