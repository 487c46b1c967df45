/**
 * What `robench run`'s status line says about the whole command, not only the pair under way:
 * which model of how many and which attack, the budget in the units of the results table (1/255,
 * not 0.00392), and a time left over every model and attack still to come. The time left of pairs
 * not yet started comes from their planned model evaluations (per sample and budget, from each
 * attack's own settings: steps, restarts, targets, queries, draws, AutoAttack's members) at the
 * seconds per planned evaluation measured so far. Once the first clean pass has measured this
 * machine's speed, a run planned to take more than a few minutes says so, with its evaluations.
 */
import type { AttackPlugin, Params } from '../core/plugin-api.js';
import type { PairProgress, RunPlan } from '../evaluation/run-plan.js';
import { formatPerturbation } from '../report/report-format.js';
import { formatDuration } from '../report/status-line.js';

/** AutoAttack's members' evaluations per sample and budget at their defaults (autoattack.py: 100 iterations, 9 targets, 5,000 queries). */
const MEMBER_COST: Record<string, number> = { 'apgd-ce': 100, 'apgd-dlr': 100, 'apgd-t': 900, fab: 200, 'fab-t': 1800, square: 5000 };

const num = (params: Params, key: string): number | undefined => (typeof params[key] === 'number' ? (params[key] as number) : undefined);

/**
 * An upper bound on the model evaluations (forward or gradient, per sample) one budget of
 * `attack` costs, from its settings: sweeps and early stops only lower it.
 */
export function evaluationsPerSample(attack: AttackPlugin, params: Params): number {
  const eot = num(params, 'eot') ?? 1;
  if (attack.members) {
    const names = attack.members(params as never);
    return Math.max(1, names.reduce((s, m) => s + (MEMBER_COST[m.split(':')[0]!] ?? 100), 0)) * eot;
  }
  const steps = num(params, 'steps');
  const restarts = num(params, 'restarts') ?? 1;
  // A targeted attack runs once per target class; its `targets` means nothing otherwise.
  const targeted = params.loss === 'dlr-targeted' || params.targeted === true;
  const targets = targeted ? (num(params, 'targets') ?? 1) : 1;
  const queries = num(params, 'queries') ?? 0;
  const draws = num(params, 'draws') ?? 1;
  // An attack with neither steps nor queries (noise, corruptions, FGSM) costs about one evaluation.
  const iterative = steps !== undefined ? steps * restarts * targets * eot : queries > 0 ? 0 : 1;
  return Math.max(1, iterative + queries) * draws;
}

export interface PlannedCost {
  evaluations: number;
  /** "2 models x (autoattack: 20 samples x 4 budgets x 7,700)". */
  breakdown: string;
}

/** A few minutes: below this, a warning would only be noise. */
const LONG_RUN_MS = 3 * 60_000;

/** A gradient evaluation costs about this many forward passes (the backward pass is the larger part). */
const GRADIENT_COST = 3;

export class RunProgress {
  private dataset = '';
  private pair = -1;
  private pairStarted = Date.now();
  /** Seconds per planned evaluation, over the pairs finished in this process. */
  private measured: { ms: number; planned: number } = { ms: 0, planned: 0 };
  private warned = false;
  /** Forward passes per millisecond, from the first clean pass. */
  private forwardPerMs: number | undefined;

  constructor(
    private readonly plan: Pick<RunPlan, 'models' | 'attacks' | 'grid'>,
    /** Pairs an interrupted run had finished (skipped without a pairStart). */
    private finishedPairs: number,
    private readonly note: (line: string) => void,
  ) {
    this.pair = finishedPairs - 1;
  }

  private get pairs(): number {
    return this.plan.models.length * this.plan.attacks.length;
  }

  private grid(k: number): number[] {
    const { attack, params } = this.plan.attacks[k]!;
    return this.plan.grid ?? attack.defaultGrid(this.dataset, params);
  }

  /** Planned evaluations of the pair at `index` over `samples` samples (clean pass included). */
  private plannedPair(index: number, samples: number): number {
    const k = index % this.plan.attacks.length;
    const { attack, params } = this.plan.attacks[k]!;
    const budgets = this.grid(k).filter((e) => e > 0).length;
    return samples * (1 + budgets * evaluationsPerSample(attack, params));
  }

  /** The whole command's planned evaluations, pairs already finished excluded. */
  planned(samples: number): PlannedCost {
    let evaluations = 0;
    for (let i = this.finishedPairs; i < this.pairs; i++) evaluations += this.plannedPair(i, samples);
    const perAttack = this.plan.attacks.map(({ attack, params }, k) => `${attack.id}: ${samples} samples x ${this.grid(k).filter((e) => e > 0).length} budgets x ${evaluationsPerSample(attack, params).toLocaleString('en-US')}`);
    const models = this.plan.models.length;
    return { evaluations, breakdown: `${models > 1 ? `${models} models x ` : ''}(${perAttack.join(' + ')})` };
  }

  loading(dataset: string): void {
    this.dataset = dataset;
  }

  pairStart(): void {
    this.pair++;
    this.pairStarted = Date.now();
  }

  pairDone(samples: number, durationMs: number): void {
    this.measured.ms += durationMs;
    this.measured.planned += this.plannedPair(this.pair, samples);
  }

  /** The status line's text and the time left over the whole command. */
  update(p: PairProgress): { text: string; leftMs: number } {
    const k = this.pair % this.plan.attacks.length;
    const { attack, params } = this.plan.attacks[k]!;
    const grid = this.grid(k);
    const attacked = grid.filter((e) => e > 0).length;
    const samples = Math.max(1, Math.round(p.total / (1 + attacked)));
    const label = attack.perturbationLabel?.(params as never) ?? 'eps';
    const budget = formatPerturbation(p.perturbation, label, attack.budget(params as never));
    const what = p.phase === 'clean' ? 'clean accuracy' : `${p.attack} at ${label === 'eps' ? '' : `${label} `}${budget}`;
    if (this.forwardPerMs === undefined && p.phase === 'clean' && p.done >= samples) {
      // The clean pass is one forward pass per sample: this machine's speed on this model.
      this.forwardPerMs = samples / Math.max(Date.now() - this.pairStarted, 1);
      this.warnIfLong(samples);
    }
    const pairPlanned = this.plannedPair(this.pair, samples);
    const elapsed = Date.now() - this.pairStarted;
    // Milliseconds per planned evaluation: from the pairs finished, else the clean pass's speed, else this pair's own rate.
    const perEval =
      this.measured.planned > 0
        ? this.measured.ms / this.measured.planned
        : this.forwardPerMs !== undefined
          ? GRADIENT_COST / this.forwardPerMs
          : (elapsed + ((p.total - p.done) / Math.max(p.rate, 1e-9)) * 1000) / pairPlanned;
    // This pair: its rate once the attack runs (the clean pass's rate says nothing of an attack's cost).
    const pairLeft = p.phase === 'attack' && p.done > samples ? ((p.total - p.done) / Math.max(p.rate, 1e-9)) * 1000 : Math.max(0, pairPlanned * perEval - elapsed);
    let laterMs = 0;
    for (let i = this.pair + 1; i < this.pairs; i++) laterMs += this.plannedPair(i, samples) * perEval;
    const leftMs = pairLeft + laterMs;
    const model = Math.floor(this.pair / this.plan.attacks.length) + 1;
    const where = [
      this.plan.models.length > 1 ? `model ${model} of ${this.plan.models.length}` : '',
      this.plan.attacks.length > 1 ? `attack ${k + 1} of ${this.plan.attacks.length}` : '',
    ].filter(Boolean).join(', ');
    return { text: `${p.model}${where ? ` (${where})` : ''}: ${what} · ${Math.floor((100 * p.done) / p.total)}% of this pair`, leftMs };
  }

  /** A plan over a few minutes at the clean pass's speed (a gradient evaluation about three forward passes) is said at once. */
  private warnIfLong(samples: number): void {
    if (this.warned || this.forwardPerMs === undefined) return;
    this.warned = true;
    const cost = this.planned(samples);
    const estimateMs = (cost.evaluations * GRADIENT_COST) / this.forwardPerMs;
    if (estimateMs < LONG_RUN_MS) return;
    this.note(
      `this run plans up to ${cost.evaluations.toLocaleString('en-US')} model evaluations, ${cost.breakdown}: up to about ${formatDuration(estimateMs)} at this machine's speed (less where attacks stop early); --samples or fewer budgets shorten it`,
    );
  }
}
