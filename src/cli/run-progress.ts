/**
 * What `robench run`'s status line says about the whole command, not only the pair under way:
 * which model of how many and which attack, the budget in the units of the results table (1/255,
 * not 0.00392), and a time left over every model and attack still to come. The time left of pairs
 * not yet started comes from their planned model evaluations (per sample and budget, from each
 * attack's own settings: steps, restarts, targets, queries, draws, AutoAttack's members) at the
 * seconds per planned evaluation measured so far. A run that takes more than a few minutes says so
 * near its start, with its planned evaluations: once its attack has run a few seconds, at the speed
 * measured there. Planned evaluations assume that no sample stops early, so a time from them and
 * the clean pass's speed announced check:zoo's deep PGD pair as up to 2h30m; it took minutes. Until
 * an attack's speed is measured there is no time left to give, and the line says it is estimating.
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

/** How long an attack runs before its speed, early stops included, decides whether the run is long. */
const MEASURE_MS = 5_000;

export class RunProgress {
  private dataset = '';
  private pair = -1;
  private pairStarted = Date.now();
  /** Seconds per planned evaluation, over the pairs finished in this process. */
  private measured: { ms: number; planned: number } = { ms: 0, planned: 0 };
  private warned = false;
  /** Where the first attack in this process started (the end of its clean pass), to measure its speed from. */
  private attackFrom: { ms: number; done: number; pair: number } | undefined;

  constructor(
    private readonly plan: Pick<RunPlan, 'models' | 'attacks' | 'grid'>,
    /** Pairs an interrupted run had finished (skipped without a pairStart). */
    private finishedPairs: number,
    private readonly note: (line: string) => void,
    private readonly now: () => number = Date.now,
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
    this.pairStarted = this.now();
  }

  pairDone(samples: number, durationMs: number): void {
    this.measured.ms += durationMs;
    this.measured.planned += this.plannedPair(this.pair, samples);
  }

  /** The status line's text and the time left over the whole command, once a speed is measured. */
  update(p: PairProgress): { text: string; leftMs?: number } {
    const k = this.pair % this.plan.attacks.length;
    const { attack, params } = this.plan.attacks[k]!;
    const grid = this.grid(k);
    const attacked = grid.filter((e) => e > 0).length;
    const samples = Math.max(1, Math.round(p.total / (1 + attacked)));
    const label = attack.perturbationLabel?.(params as never) ?? 'eps';
    const budget = formatPerturbation(p.perturbation, label, attack.budget(params as never));
    const what = p.phase === 'clean' ? 'clean accuracy' : `${p.attack} at ${label === 'eps' ? '' : `${label} `}${budget}`;
    const now = this.now();
    if (this.attackFrom === undefined && p.phase === 'clean' && p.done >= samples) this.attackFrom = { ms: now, done: p.done, pair: this.pair };
    const model = Math.floor(this.pair / this.plan.attacks.length) + 1;
    const where = [
      this.plan.models.length > 1 ? `model ${model} of ${this.plan.models.length}` : '',
      this.plan.attacks.length > 1 ? `attack ${k + 1} of ${this.plan.attacks.length}` : '',
    ].filter(Boolean).join(', ');
    const text = `${p.model}${where ? ` (${where})` : ''}: ${what} · ${Math.floor((100 * p.done) / p.total)}% of this pair`;
    // Milliseconds per planned evaluation: from the pairs finished, else this attack's own speed.
    // Nothing else measures what a run costs: the clean pass's speed times the planned evaluations
    // counts every step of every sample (no early stops) and overstated the time left many times over.
    const perEval = this.measured.planned > 0 ? this.measured.ms / this.measured.planned : this.attackPerEval(p, samples, now);
    if (perEval === undefined) return { text: `${text} · estimating time left` };
    // This pair: its rate once the attack runs (the clean pass's rate says nothing of an attack's cost).
    const pairLeft =
      p.phase === 'attack' && p.done > samples
        ? ((p.total - p.done) / Math.max(p.rate, 1e-9)) * 1000
        : Math.max(0, this.plannedPair(this.pair, samples) * perEval - (now - this.pairStarted));
    let laterMs = 0;
    for (let i = this.pair + 1; i < this.pairs; i++) laterMs += this.plannedPair(i, samples) * perEval;
    const leftMs = pairLeft + laterMs;
    this.warnIfLong(samples, leftMs);
    return { text, leftMs };
  }

  /**
   * Milliseconds per planned evaluation of the first attack in this process, once it has run
   * MEASURE_MS: samples it skipped or stopped early count as done, so this is what the run
   * really costs here, where the plan counts every step.
   */
  private attackPerEval(p: PairProgress, samples: number, now: number): number | undefined {
    const from = this.attackFrom;
    if (!from || from.pair !== this.pair || p.phase !== 'attack' || now - from.ms < MEASURE_MS || p.done <= from.done) return undefined;
    const k = this.pair % this.plan.attacks.length;
    const { attack, params } = this.plan.attacks[k]!;
    return (now - from.ms) / ((p.done - from.done) * evaluationsPerSample(attack, params));
  }

  /** Said once, when a measured speed first gives the time left: a run longer than a few minutes, with its planned evaluations. */
  private warnIfLong(samples: number, leftMs: number): void {
    if (this.warned) return;
    this.warned = true;
    if (leftMs < LONG_RUN_MS) return;
    const cost = this.planned(samples);
    this.note(
      `this run needs about ${formatDuration(leftMs)} more at the speed its attack has run so far (early stops included), for up to ${cost.evaluations.toLocaleString('en-US')} planned model evaluations, ${cost.breakdown}, as if no sample stopped early; --samples or fewer budgets shorten it`,
    );
  }
}
