/**
 * `robench/testing`: the contract an attack plugin must keep, as a function a plugin author runs
 * in their own tests (Foolbox's table of attacks over fixtures is the model).
 *
 * The fixture is a two-class linear model on 4x4 images whose attacks are known in closed form:
 *   f(x) = k w.(x - 1/2) (logit of class 1; class 0's is 0),  images x_i = 1/2 + 0.1 c_i sign(w),
 * so sample i's margin is m_i = 0.1 k |c_i| ||w||_1 (c_i in +-[0.5, 1], margins 24 to 48: softmax
 * saturates in float32, which defeats attacks with a naive cross-entropy gradient). The smallest
 * perturbation that flips it is m_i / (k ||w||_q) with q the dual norm:
 *   l-inf: 0.1 |c_i|  (0.05 to 0.1),   l2: 0.1 |c_i| ||w||_1 / ||w||_2,
 * inside [0, 1] in both cases. Every attack runs through attack() (the engine's one path, which
 * refuses examples outside [0, 1] or the budget), and checkAttackContract reports:
 * - it ran at every budget within the engine's checks;
 * - it is deterministic for a seed (bit-equal examples from two runs);
 * - it does not depend on the batch size (batch 5 and 24 give bit-equal examples);
 * - it leaves no tensor behind (tf.memory().numTensors flat across a call; a first call may build a cache);
 * - it breaks no sample below its minimal perturbation (half the smallest), a check of the fixture;
 * - it breaks, above every minimal perturbation (1.25 times the largest), at least `mustBreak`
 *   of the samples (all by default; attacks without a norm are not held to it);
 * - it leaves its inputs untouched: ctx.x and ctx.y hold what they held, live, after every call;
 * - it honours early stopping (norm-ball attacks that run at each budget; a minimization attack
 *   runs once, without it): with ctx.earlyStop, once an iterate fools the model on a sample the
 *   attack evaluates nothing new for it and returns that first fooling iterate; without it, it
 *   spends the same evaluations on the sample nearest the boundary as on the farthest, its full
 *   budget, rather than stopping where it fooled the model.
 * The last two are watched from inside the run (src/contract-watch.ts), one sample at a time.
 *
 * Example (in a plugin's own test):
 *   import { checkAttackContract } from 'robench/testing';
 *   import myAttack from './my-attack.js';
 *   const report = await checkAttackContract(myAttack, { params: { steps: 20 } });
 *   assert.ok(report.ok, report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('\n'));
 */
import * as tf from '@tensorflow/tfjs';
import { attack, type AttackResult } from './evaluation/attack-api.js';
import { registryFor, type LogitsModel } from './evaluation/benchmark.js';
import { keptWorkingAfterFooled, watchedRun, watchInputs, work, type WatchedRun } from './contract-watch.js';
import type { AttackPlugin, Norm, Params, Plugin } from './core/plugin-api.js';

export interface ContractOptions {
  /** The attack's params, as attack() takes them. */
  params?: Record<string, unknown>;
  seed?: number;
  /** Fraction of the samples the attack must break above every minimal perturbation (default 1). */
  mustBreak?: number;
  /** Plugins the attack needs (files, packages or objects), as attack() takes them. */
  plugins?: (string | Plugin)[];
}

export interface ContractCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ContractReport {
  attack: string;
  norm: Norm | null;
  ok: boolean;
  checks: ContractCheck[];
}

const SAMPLES = 24;

/** The closed-form fixture (see the file header); dispose() frees its weights. */
export function linearContractFixture(): { model: LogitsModel; x: tf.Tensor4D; y: Int32Array; minimal: Record<Norm, number[]>; dispose(): void } {
  const k = 40;
  const w = Array.from({ length: 16 }, (_, i) => Math.cos(3 * i + 2) - Math.sin(i + 1));
  const weights = tf.tensor2d(w.flatMap((wi) => [0, k * wi]), [16, 2]);
  const bias = tf.tensor1d([0, (-k * w.reduce((s, v) => s + v, 0)) / 2]);
  const c = Array.from({ length: SAMPLES }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + (0.5 * i) / (SAMPLES - 1)));
  const x = tf.tensor4d(c.flatMap((ci) => w.map((wi) => 0.5 + 0.1 * ci * Math.sign(wi))), [SAMPLES, 4, 4, 1]);
  const l1 = w.reduce((s, v) => s + Math.abs(v), 0);
  const l2 = Math.sqrt(w.reduce((s, v) => s + v * v, 0));
  return {
    model: { id: 'contract-linear', inputShape: [4, 4, 1], numClasses: 2, logits: (b) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(b, [b.shape[0], 16]), weights), bias)) },
    x,
    y: Int32Array.from(c, (ci) => (ci > 0 ? 1 : 0)),
    minimal: { linf: c.map((ci) => 0.1 * Math.abs(ci)), l2: c.map((ci) => (0.1 * Math.abs(ci) * l1) / l2) },
    dispose: () => tf.dispose([weights, bias, x]),
  };
}

const sameBits = (a: AttackResult, b: AttackResult): boolean =>
  a.budgets.length === b.budgets.length && a.budgets.every((p, k) => Buffer.from(p.x.dataSync().buffer).equals(Buffer.from(b.budgets[k]!.x.dataSync().buffer)));

/** Runs the contract on an attack plugin (or a registered id); `ok` when every check holds. */
export async function checkAttackContract(plugin: AttackPlugin | string, opts: ContractOptions = {}): Promise<ContractReport> {
  const fixture = linearContractFixture();
  const checks: ContractCheck[] = [];
  const check = (name: string, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });
  const id = typeof plugin === 'string' ? plugin : plugin.id;
  let norm: Norm | null = null;
  const held: AttackResult[] = [];
  try {
    // The budgets: half the smallest minimal perturbation, and 1.25 times the largest, in the attack's norm.
    const run = (batch: number, eps: number[]): Promise<AttackResult> =>
      attack({ model: fixture.model, x: fixture.x, y: fixture.y, attack: plugin as AttackPlugin<Params>, eps, params: opts.params as Partial<Params> | undefined, seed: opts.seed ?? 0, batch, plugins: opts.plugins }).then((r) => (held.push(r), r));
    let first: AttackResult;
    try {
      first = await run(SAMPLES, [0.01]);
      norm = first.budget;
      const minimal = fixture.minimal[first.norm];
      const grid = [Math.min(...minimal) / 2, 1.25 * Math.max(...minimal)];
      first.dispose();
      first = await run(SAMPLES, grid);
    } catch (err) {
      check('runs within the engine\'s checks at every budget', false, (err as Error).message);
      return { attack: id, norm, ok: false, checks };
    }
    check('runs within the engine\'s checks at every budget', true, `${first.budgets.length} budgets, every example in [0, 1] and within its ${first.norm} budget`);
    const grid = first.budgets.map((b) => b.eps);
    const before = tf.memory().numTensors;
    const again = await run(SAMPLES, grid);
    check('deterministic for a seed', sameBits(first, again), 'two runs with the same seed give bit-equal examples');
    again.dispose();
    const leaked = tf.memory().numTensors - before;
    check('leaves no tensor behind', leaked === 0, leaked === 0 ? 'tf.memory().numTensors flat across a call' : `${leaked} tensors more after a call than before it`);
    const batched = await run(5, grid);
    check('independent of the batch size', sameBits(first, batched), 'batch 5 gives the examples of batch 24');
    const broken = first.budgets.map((b) => b.success.reduce((s, v) => s + v, 0));
    check('breaks nothing below the minimal perturbation', broken[0] === 0, `${broken[0]} of ${SAMPLES} broken at ${first.norm} ${grid[0]!.toPrecision(3)}, below every sample's minimal perturbation`);
    // Noise and corruptions have no budget to break within.
    if (first.budget !== null) {
      const need = Math.ceil((opts.mustBreak ?? 1) * SAMPLES);
      check('breaks what the closed form says it must', broken[1]! >= need, `${broken[1]} of ${SAMPLES} broken at ${first.norm} ${grid[1]!.toPrecision(3)}, above every minimal perturbation (${need} required)`);
    }
    const resolved = typeof plugin === 'string' ? (await registryFor(opts.plugins ?? [])).get('attack', plugin) : plugin;
    const touched = new Set<string>();
    const watched = watchInputs(resolved, touched);
    // The samples nearest to and farthest from the boundary, at the budget that breaks both.
    const minimal = fixture.minimal[first.norm];
    const ends = [minimal.indexOf(Math.min(...minimal)), minimal.indexOf(Math.max(...minimal))];
    const watch = async (sample: number, earlyStop: boolean): Promise<WatchedRun> => {
      const x = tf.slice(fixture.x, [sample, 0, 0, 0], [1, -1, -1, -1]);
      try {
        return await watchedRun(watched, { model: fixture.model, x, y: fixture.y[sample]!, eps: grid[1]!, earlyStop, params: opts.params, seed: opts.seed ?? 0, plugins: opts.plugins });
      } finally {
        x.dispose();
      }
    };
    const stopping: WatchedRun[] = [];
    for (const sample of ends) stopping.push(await watch(sample, true));
    if (first.budget !== null && resolved.strategy !== 'minimization') {
      const kept = stopping.map(keptWorkingAfterFooled).find((why) => why !== undefined);
      check('stops working on a sample once it is fooled, with early stopping', kept === undefined, kept ?? 'evaluated nothing new for a sample once it fooled the model, and returned that first fooling example');
      const full: number[] = [];
      for (const sample of ends) full.push(work(await watch(sample, false)));
      check('runs its full budget without early stopping', full[0] === full[1], `without early stopping the model evaluated ${full[0]} images for the sample nearest the boundary and ${full[1]} for the farthest`);
    }
    check('leaves its inputs untouched', touched.size === 0, touched.size === 0 ? 'ctx.x and ctx.y held their values, live, after every call' : [...touched].join(', '));
    return { attack: id, norm, ok: checks.every((c) => c.ok), checks };
  } finally {
    for (const r of held) r.dispose();
    fixture.dispose();
  }
}
