/**
 * The robustness audit: the classic ways robustness numbers lie (Carlini et al.
 * 2019, "On Evaluating Adversarial Robustness"), each checked by running attacks
 * on the same samples and comparing robust accuracies up to binomial noise.
 */
import { evaluateCurve } from './engine.js';
import type { AttackPlugin, DatasetSplit, LoadedModel, Norm, Params } from './plugin-api.js';
import type { Registry } from './registry.js';

export interface AuditCheck {
  name: string;
  verdict: 'pass' | 'warn';
  /** What was compared and what it means. */
  detail: string;
  values: Record<string, number>;
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
}

export interface AuditOptions {
  model: LoadedModel;
  data: DatasetSplit;
  norm: Norm;
  eps: number;
  seed: number;
  batchSize: number;
  /** Zoo model to transfer from (skipped when absent or the audited model itself). */
  transferSource?: string;
  squareQueries: number;
  onStep?(label: string): void;
}

/** Two binomial standard errors at accuracy p on n samples: differences below this are noise. */
export const noise = (p: number, n: number): number => Math.max(2 * Math.sqrt((p * (1 - p)) / n), 1 / n);

export async function runAudit(registry: Registry, opts: AuditOptions): Promise<AuditReport> {
  const { model, data, norm, eps, seed, batchSize } = opts;
  const n = data.count;
  const accuracies: Record<string, number> = {};
  const curve = async (label: string, attackId: string, overrides: Params, grid: number[], sweep = true): Promise<number[]> => {
    opts.onStep?.(label);
    const attack: AttackPlugin = registry.get('attack', attackId);
    const params: Params = { ...Object.fromEntries(Object.entries(attack.params).map(([k, s]) => [k, s.default])), norm, ...overrides };
    const r = await evaluateCurve({ model, attack, params, data, grid, batchSize, seed, sweep });
    r.points.forEach((p) => (accuracies[`${label} @ ${Number(p.perturbation.toPrecision(4))}`] = p.accuracy));
    return r.points.map((p) => p.accuracy);
  };
  const at = async (label: string, attackId: string, overrides: Params, e = eps): Promise<number> => (await curve(label, attackId, overrides, [e]))[0];

  const pgd = await at('pgd-20', 'pgd', { steps: 20, restarts: 1 });
  const fgsm = norm === 'linf' ? await at('fgsm', 'fgsm', {}) : undefined;
  const pgdStrong = await at('pgd-100x3', 'pgd', { steps: 100, restarts: 3 });
  const apgd = await at('apgd-dlr', 'apgd', { loss: 'dlr', steps: 100 });
  const square = await at(`square-${opts.squareQueries}`, 'square', { queries: opts.squareQueries });
  const large = norm === 'linf' ? 0.5 : 0.5 * Math.sqrt(model.inputShape.reduce((a, b) => a * b, 1));
  const atLarge = await at('pgd-20 large budget', 'pgd', { steps: 20, restarts: 1 }, large);
  const grid = [0, eps / 4, eps / 2, eps, 2 * eps];
  const independent = await curve('pgd-20 no sweep', 'pgd', { steps: 20, restarts: 1 }, grid, false);
  const transfer =
    opts.transferSource && opts.transferSource !== model.id && registry.has('model', opts.transferSource)
      ? await at(`transfer from ${opts.transferSource}`, 'transfer', { 'source-model': opts.transferSource, steps: 20 }).catch(() => undefined)
      : undefined;

  const whiteBox = Math.min(pgd, pgdStrong, apgd, fgsm ?? 1);
  const tol = (p: number) => noise(p, n);
  const checks: AuditCheck[] = [];
  const check = (name: string, ok: boolean, detail: string, values: Record<string, number>) =>
    checks.push({ name, verdict: ok ? 'pass' : 'warn', detail, values });

  const chance = 1 / model.numClasses;
  check(
    'falls to chance at a large budget',
    atLarge <= chance + tol(chance),
    `PGD at ${norm} ${Number(large.toPrecision(3))} must reach chance (${(100 * chance).toFixed(0)}%); if not, gradients do not lead the attack anywhere`,
    { accuracy: atLarge, chance },
  );
  if (fgsm !== undefined) {
    check('iterative at least as strong as FGSM', pgd <= fgsm + tol(fgsm), 'PGD above FGSM means the iterative attack is stuck (masked or noisy gradients)', { pgd, fgsm });
  }
  check(
    'more steps and restarts change little',
    pgdStrong >= pgd - tol(pgd),
    'PGD with 100 steps and 3 restarts far below 20 steps means the default attack has not converged: report the stronger numbers',
    { pgd20: pgd, pgd100x3: pgdStrong },
  );
  check('APGD not far below PGD', apgd >= Math.min(pgd, pgdStrong) - tol(pgd), 'APGD (DLR loss) far below PGD (CE) hints at a loss that is hard to optimise, e.g. saturated logits', { apgd, pgd: Math.min(pgd, pgdStrong) });
  check(
    'black box no stronger than white box',
    square >= whiteBox - tol(whiteBox),
    'Square (no gradients) beating the white-box attacks means the gradients are masked',
    { square, whiteBox },
  );
  if (transfer !== undefined) {
    check('transfer no stronger than white box', transfer >= whiteBox - tol(whiteBox), `examples crafted on ${opts.transferSource} breaking more samples than white-box ones means masked gradients`, {
      transfer,
      whiteBox,
    });
  }
  const rises = independent.slice(1).map((a, i) => a - independent[i]);
  check(
    'accuracy non-increasing in the budget',
    rises.every((r) => r <= tol(independent[0])),
    'independent PGD runs at growing budgets (no sweep) must not gain accuracy',
    Object.fromEntries(grid.map((e, i) => [`eps ${Number(e.toPrecision(3))}`, independent[i]])),
  );
  return { model: model.id, dataset: model.dataset, norm, eps, samples: n, seed, checks, accuracies };
}
