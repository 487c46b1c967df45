/**
 * The robustness audit: the classic ways robustness numbers lie (Carlini et al.
 * 2019, "On Evaluating Adversarial Robustness"; the flags of Croce & Hein 2020's
 * AutoAttack), each checked on the same samples. Attack comparisons hold up to
 * binomial noise; gradient symptoms are shares of the clean-correct samples.
 * Every check is a row: one that cannot run is 'skipped' and one whose attack
 * failed is 'error', each with the reason, so no check disappears.
 */
import * as tf from '@tensorflow/tfjs';
import { batchTensors, evaluateCurve } from '../core/engine.js';
import { UsageError } from '../core/errors.js';
import { FLOAT32_EPSILON, gradientHealth, type GradientHealth } from './gradient-health.js';
import { checkBudgets } from '../core/parse.js';
import type { AttackPlugin, DatasetSplit, LoadedModel, Norm, Params } from '../core/plugin-api.js';
import type { Registry } from '../core/registry.js';

export type Verdict = 'pass' | 'warn' | 'error' | 'skipped';

export interface AuditCheck {
  name: string;
  verdict: Verdict;
  /** What was compared and what it means; for 'error' and 'skipped', why there is no verdict. */
  detail: string;
  /** Accuracies and shares, all fractions in [0, 1]. */
  values: Record<string, number>;
  /**
   * true on a warning the user has nothing to act on for robench's own figures: a symptom that
   * weakens attacks elsewhere (thresholded sign kernels, saturated cross-entropy) which robench's
   * attacks are built to withstand. Such a warning does not fail the audit's exit code.
   */
  informational?: true;
}

export interface AuditReport {
  model: string;
  dataset: string;
  norm: Norm;
  eps: number;
  samples: number;
  seed: number;
  checks: AuditCheck[];
  /** Robust accuracy of every attack configuration run, keyed by label. */
  accuracies: Record<string, number>;
  /** Set when PGD-20 is within noise of 0% at eps, so no attack comparison could warn: says so and suggests a budget. */
  trivialBudget?: string;
}

export interface AuditOptions {
  model: LoadedModel;
  data: DatasetSplit;
  norm: Norm;
  eps: number;
  seed: number;
  batchSize: number;
  /** Zoo model to transfer from (the row is skipped, with the reason, when absent or the audited model itself). */
  transferSource?: string;
  squareQueries: number;
  onStep?(label: string): void;
}

/** Two binomial standard errors at accuracy p on n samples: differences below this are noise. */
export const noise = (p: number, n: number): number => Math.max(2 * Math.sqrt((p * (1 - p)) / n), 1 / n);

/** Above this share of the clean-correct samples a gradient symptom is material: AutoAttack flags far fewer. */
export const MATERIAL_SHARE = 0.01;

/** Why a figure is missing: the check it feeds becomes a row with this verdict and reason. */
class Missing {
  constructor(
    readonly verdict: 'error' | 'skipped',
    readonly reason: string,
  ) {}
}
type Figure = number | Missing;

/** A usage error from an attack means it cannot run on this model (e.g. DLR on 2 classes); anything else is a failure. */
const missing = (label: string, err: unknown): Missing =>
  new Missing(err instanceof UsageError ? 'skipped' : 'error', `${label}: ${(err as Error).message ?? String(err)}`);

/** The lowest accuracy among the attacks that ran; missing only when none did. */
function strongest(...figures: Figure[]): Figure {
  const ran = figures.filter((f): f is number => typeof f === 'number');
  return ran.length > 0 ? Math.min(...ran) : (figures[0] as Missing);
}

const fmt = (x: number): number => Number(x.toPrecision(3));

export async function runAudit(registry: Registry, opts: AuditOptions): Promise<AuditReport> {
  const { model, data, norm, eps, seed, batchSize } = opts;
  if (!(eps > 0)) throw new UsageError(`--eps must be a budget above 0, got ${eps}`, 'pass the budget to audit, e.g. --eps 8/255');
  checkBudgets([eps], norm, model.inputShape, '--eps');
  // A misspelt surrogate is the user's mistake, reported before any compute, not a skipped row.
  const surrogate = opts.transferSource ? registry.get('model', opts.transferSource) : undefined;
  const n = data.count;
  const accuracies: Record<string, number> = {};
  const curve = async (label: string, attackId: string, overrides: Params, grid: number[], sweep = true): Promise<number[] | Missing> => {
    opts.onStep?.(label);
    try {
      const attack: AttackPlugin = registry.get('attack', attackId);
      const params: Params = { ...Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default])), ...('norm' in attack.params ? { norm } : {}), ...overrides };
      const r = await evaluateCurve({ model, attack, params, data, grid, batchSize, seed, sweep });
      r.points.forEach((p) => (accuracies[`${label} @ ${Number(p.perturbation.toPrecision(4))}`] = p.accuracy));
      return r.points.map((p) => p.accuracy);
    } catch (err) {
      return missing(label, err);
    }
  };
  const at = async (label: string, attackId: string, overrides: Params, e = eps): Promise<Figure> => {
    const r = await curve(label, attackId, overrides, [e]);
    return r instanceof Missing ? r : r[0];
  };

  opts.onStep?.('gradients at the clean points');
  const health = await gradientHealth(model, data, batchSize);
  const varying = await varyingLogits(model, data, batchSize);
  const pgd = await at('pgd-20', 'pgd', { steps: 20, restarts: 1 });
  const pgdMargin = await at('pgd-20 margin loss', 'pgd', { steps: 20, restarts: 1, loss: 'margin' });
  const fgsm = norm === 'linf' ? await at('fgsm', 'fgsm', {}) : new Missing('skipped', 'FGSM is an l-inf attack; nothing to compare at l2');
  const pgdStrong = await at('pgd-100x3', 'pgd', { steps: 100, restarts: 3 });
  const apgd = await at('apgd-dlr', 'apgd', { loss: 'dlr', steps: 100 });
  const square = await at(`square-${opts.squareQueries}`, 'square', { queries: opts.squareQueries });
  const large = norm === 'linf' ? 0.5 : 0.5 * Math.sqrt(model.inputShape.reduce((a, b) => a * b, 1));
  const atLarge = await at('pgd-20 large budget', 'pgd', { steps: 20, restarts: 1 }, large);
  const grid = [0, eps / 4, eps / 2, eps, 2 * eps];
  const independent = await curve('pgd-20 no sweep', 'pgd', { steps: 20, restarts: 1 }, grid, false);
  const transfer = !surrogate
    ? new Missing('skipped', 'no surrogate model: name one with --transfer-from')
    : surrogate.id === model.id
      ? new Missing('skipped', `the audited model is the surrogate ${surrogate.id}: transfer from it is the white-box attack; name another with --transfer-from`)
      : !surrogate.datasets.includes(model.dataset)
        ? new Missing('skipped', `no weights of the surrogate ${surrogate.id} for ${model.dataset} (they ship for: ${surrogate.datasets.join(', ') || 'none'}); name another with --transfer-from`)
        : await at(`transfer from ${surrogate.id}`, 'transfer', { 'source-model': surrogate.id, steps: 20 });

  const whiteBox = strongest(pgd, pgdMargin, pgdStrong, apgd, fgsm);
  const tol = (p: number) => noise(p, n);
  const checks: AuditCheck[] = [];
  /** A row from its figures: the first missing one gives the verdict and reason, else `ok` decides pass or warn. */
  const check = (name: string, figures: Record<string, Figure>, ok: (v: Record<string, number>) => boolean, detail: string) => {
    const gap = Object.values(figures).find((f): f is Missing => f instanceof Missing);
    if (gap) return checks.push({ name, verdict: gap.verdict, detail: gap.reason, values: {} });
    const values = figures as Record<string, number>;
    checks.push({ name, verdict: ok(values) ? 'pass' : 'warn', detail, values });
  };

  gradientChecks(health).forEach((c) => checks.push(c));
  checks.push(
    varying.share === 0 || model.stochastic
      ? {
          name: 'logits repeat, or the model says it is random',
          verdict: 'pass',
          detail: model.stochastic
            ? 'declared stochastic: gradient attacks need --eot N to average over its randomness'
            : 'two identical calls gave identical logits',
          values: { share: varying.share },
        }
      : {
          name: 'logits repeat, or the model says it is random',
          verdict: 'warn',
          detail: `${varying.differ} of the first ${varying.checked} samples got different logits from two identical calls: a randomised model that does not say so (LoadedModel.stochastic); its gradient attacks need --eot N, and its numbers change from run to run`,
          values: { share: varying.share },
        },
  );
  const chance = 1 / model.numClasses;
  check(
    'falls to chance at a large budget',
    { accuracy: atLarge, chance },
    (v) => v.accuracy <= chance + tol(chance),
    `PGD at ${norm} ${fmt(large)} must reach chance (${(100 * chance).toFixed(0)}%); if not, gradients do not lead the attack anywhere`,
  );
  check('iterative at least as strong as FGSM', { pgd, fgsm }, (v) => v.pgd <= v.fgsm + tol(v.fgsm), 'PGD above FGSM means the iterative attack is stuck (masked or noisy gradients)');
  check(
    'cross-entropy PGD as strong as margin-loss PGD',
    { ce: pgd, margin: pgdMargin },
    (v) => v.margin >= v.ce - tol(v.ce),
    "PGD-20 on the margin max_{i!=y} z_i - z_y (scale-invariant) far below PGD-20 on cross-entropy at the same budget means cross-entropy's gradients vanished on confident samples: report the stronger attack, or use one with a scale-invariant loss (--loss margin, apgd --loss dlr)",
  );
  check(
    'more steps and restarts change little',
    { pgd20: pgd, pgd100x3: pgdStrong },
    (v) => v.pgd100x3 >= v.pgd20 - tol(v.pgd20),
    'PGD with 100 steps and 3 restarts far below 20 steps means the default attack has not converged: report the stronger numbers',
  );
  check(
    'APGD not far below PGD',
    { apgd, pgd: strongest(pgd, pgdStrong) },
    (v) => v.apgd >= v.pgd - tol(v.pgd),
    'APGD (DLR loss) far below PGD (CE) hints at a loss that is hard to optimise, e.g. saturated logits',
  );
  check('black box no stronger than white box', { square, whiteBox }, (v) => v.square >= v.whiteBox - tol(v.whiteBox), 'Square (no gradients) beating the white-box attacks means the gradients are masked');
  check(
    'transfer no stronger than white box',
    { transfer, whiteBox },
    (v) => v.transfer >= v.whiteBox - tol(v.whiteBox),
    `examples crafted on ${opts.transferSource} breaking more samples than white-box ones means masked gradients`,
  );
  check(
    'accuracy non-increasing in the budget',
    independent instanceof Missing ? { curve: independent } : Object.fromEntries(grid.map((e, i) => [`eps ${fmt(e)}`, independent[i]])),
    (v) => Object.values(v).slice(1).every((a, i) => a - Object.values(v)[i] <= tol(Object.values(v)[0])),
    'independent PGD runs at growing budgets (no sweep) must not gain accuracy',
  );
  const trivialBudget = trivialBudgetNote(pgd, n, norm, eps, independent instanceof Missing ? undefined : grid.map((e, i) => [e, independent[i]] as const));
  return { model: model.id, dataset: model.dataset, norm, eps, samples: n, seed, checks, accuracies, ...(trivialBudget ? { trivialBudget } : {}) };
}

/** Of the first batch, the samples whose logits differ between two identical calls. */
async function varyingLogits(model: LoadedModel, data: DatasetSplit, batchSize: number): Promise<{ checked: number; differ: number; share: number }> {
  const n = Math.min(batchSize, data.count);
  const differs = tf.tidy(() => {
    const { x } = batchTensors(data, Array.from({ length: n }, (_, i) => i));
    return tf.sum(tf.cast(tf.any(tf.notEqual(model.logits(x), model.logits(x)), 1), 'int32'));
  });
  const differ = (await differs.data())[0];
  differs.dispose();
  return { checked: n, differ, share: differ / n };
}

/**
 * The three clean-point symptoms, as shares of the clean-correct samples. A zero gradient
 * leaves every gradient attack without a direction, robench's included, so the user has to act
 * (cite the gradient-free and transfer rows). A gradient below float32 epsilon and a saturated
 * softmax only weaken attacks built on thresholded sign kernels, norm floors or the textbook
 * cross-entropy; robench's attacks use an exact sign, per-sample rescaling and an exact
 * cross-entropy, so these warnings are informational unless figures come from another tool.
 */
function gradientChecks(h: GradientHealth): AuditCheck[] {
  const rows: [string, number, string, boolean][] = [
    [
      'input gradients not zero',
      h.zeroGradient,
      'clean-correct samples whose cross-entropy input gradient is exactly zero: no gradient attack, robench\'s included, has a direction to follow there (masked gradients, or a loss that underflows). To do: report the lowest accuracy of every row, the gradient-free Square and transfer rows included, not a gradient attack\'s alone',
      true,
    ],
    [
      'input gradients above float32 epsilon',
      h.underflowGradient,
      `clean-correct samples whose largest |input gradient| is below float32 epsilon ${FLOAT32_EPSILON.toPrecision(3)}, where thresholded sign kernels (tfjs-backend-wasm's Sign) and norm floors make attacks step too short or not at all. Nothing to do for robench's figures: its attacks use an exact sign and rescale each sample's gradient; check figures from other tools or attack plugins for the same`,
      false,
    ],
    [
      'softmax not saturated',
      h.saturatedSoftmax,
      "clean-correct samples whose softmax probability of the label rounds to exactly 1 in float32 (the other classes sum to < 2^-24 of it), where the textbook cross-entropy and its gradient are 0. Nothing to do for robench's figures: its cross-entropy is computed exactly at any margin (and the margin-loss row checks it); figures from other tools should come from a scale-invariant loss (margin or DLR)",
      false,
    ],
  ];
  if (h.correct === 0) return rows.map(([name]) => ({ name, verdict: 'skipped', detail: 'no sample is classified correctly: there is nothing to attack', values: {} }));
  return rows.map(([name, count, detail, act]) => {
    const verdict: Verdict = count / h.correct > MATERIAL_SHARE ? 'warn' : 'pass';
    return { name, verdict, detail, values: { share: count / h.correct, threshold: MATERIAL_SHARE }, ...(verdict === 'warn' && !act ? { informational: true as const } : {}) };
  });
}

/**
 * Every attack comparison warns only when an attack's accuracy lies above PGD-20's (FGSM; PGD
 * itself, the reference) or below it by more than noise (more steps, the margin loss, APGD,
 * Square, transfer against the white box, itself at most PGD-20): once PGD-20 is within noise of
 * 0% none can warn, and passing says nothing. The suggestion is the largest smaller budget of
 * the no-sweep curve where PGD-20 still leaves samples.
 */
function trivialBudgetNote(pgd: Figure, n: number, norm: Norm, eps: number, curve?: (readonly [number, number])[]): string | undefined {
  if (pgd instanceof Missing || pgd > noise(pgd, n)) return undefined;
  const informative = (curve ?? []).filter(([e, a]) => e > 0 && e < eps && a > noise(a, n)).map(([e]) => e);
  const suggestion = informative.length > 0 ? Math.max(...informative) : eps / 8;
  return `PGD-20 leaves ${(100 * pgd).toFixed(1)}% at ${norm} ${fmt(eps)}, within noise of 0% on ${n} samples: every attack comparison is measured against it, so none can warn at this budget; audit again at a smaller one, e.g. --eps ${fmt(suggestion)}`;
}

/**
 * Budgets to try, largest first, when --eps is not given: from the literature's standard one per
 * dataset down by halves. Models without adversarial training (robench's zoo) fall to 0% at the
 * standard MNIST 0.3 or CIFAR-10 8/255, where the audit can prove nothing (see trivialBudgetNote).
 */
export const BUDGET_LADDER: Record<Norm, Record<string, number[]>> = {
  linf: { mnist: [0.3, 0.2, 0.1, 0.05, 0.025], 'fashion-mnist': [0.1, 0.05, 0.025, 0.0125], cifar10: [8 / 255, 4 / 255, 2 / 255, 1 / 255], svhn: [8 / 255, 4 / 255, 2 / 255, 1 / 255] },
  l2: { mnist: [2, 1, 0.5, 0.25], 'fashion-mnist': [1.5, 0.75, 0.375, 0.1875], cifar10: [0.5, 0.25, 0.125, 0.0625], svhn: [0.5, 0.25, 0.125, 0.0625] },
};

export interface ChosenBudget {
  eps: number;
  /** PGD-20's accuracy (swept) at each budget tried, smallest first. */
  tried: { eps: number; accuracy: number }[];
  /** Why this budget, in a sentence for the terminal and audit.json. */
  reason: string;
}

/**
 * The largest budget of the dataset's ladder at which PGD-20 (swept, so one pass over the
 * survivors per budget: about one PGD-20 run) leaves accuracy above noise, so that the audit's
 * comparisons can warn; the smallest when every one is trivial.
 */
export async function chooseBudget(registry: Registry, opts: { model: LoadedModel; data: DatasetSplit; norm: Norm; seed: number; batchSize: number; ladder?: number[] }): Promise<ChosenBudget> {
  const ladder = [...(opts.ladder ?? BUDGET_LADDER[opts.norm][opts.model.dataset] ?? BUDGET_LADDER[opts.norm].cifar10!)].sort((a, b) => a - b);
  const attack = registry.get('attack', 'pgd');
  const params: Params = { ...Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default])), norm: opts.norm, steps: 20, restarts: 1 };
  const r = await evaluateCurve({ model: opts.model, attack, params, data: opts.data, grid: [0, ...ladder], batchSize: opts.batchSize, seed: opts.seed, sweep: true });
  const tried = r.points.filter((p) => p.perturbation > 0).map((p) => ({ eps: p.perturbation, accuracy: p.accuracy }));
  const n = opts.data.count;
  const informative = tried.filter((t) => t.accuracy > noise(t.accuracy, n));
  const largest = ladder[ladder.length - 1]!;
  const list = tried.map((t) => `${fmt(t.eps)}: ${(100 * t.accuracy).toFixed(1)}%`).join(', ');
  if (informative.length === 0) {
    return { eps: ladder[0]!, tried, reason: `PGD-20 reaches 0% at every default budget for ${opts.model.dataset} (${list}); auditing at the smallest, ${fmt(ladder[0]!)}: pass a smaller --eps for comparisons that can warn` };
  }
  const eps = informative[informative.length - 1]!.eps;
  return {
    eps,
    tried,
    reason: `${opts.norm} ${fmt(eps)}: the largest of the default budgets for ${opts.model.dataset} where PGD-20 leaves accuracy above noise (${list})${eps < largest ? `; the standard ${fmt(largest)} would let no comparison warn` : ''}`,
  };
}
