/**
 * The rules of the contract (src/testing.ts) that only show inside a run: what an attack does to
 * the batch it is handed, and whether it stops working on a sample once the model is fooled.
 *
 * The engine hands every attack copies of its images and labels, so nothing a caller measures
 * shows an attack that writes into or disposes them; such an attack still breaks whoever calls it
 * without the engine (a composite attack's member, a user's training loop). So the run is watched
 * from inside: the attack is decorated to compare its ctx.x and ctx.y before and after each call.
 * The decorated run is itself called by the engine's guarded path (runAttack) like any attack,
 * with the attack's own context, so the attack still runs only there.
 *
 * Early stopping is watched through the model: the fixture's logits record every image they are
 * asked about. With one sample per run, every image the model sees is that sample's, in order:
 * the engine's clean pass, the attack's evaluations, then the engine's check of each batch the
 * attack returned.
 */
import * as tf from '@tensorflow/tfjs';
import { attack } from './evaluation/attack-api.js';
import type { LogitsModel } from './evaluation/benchmark.js';
import type { AttackPlugin, Params, Plugin } from './core/plugin-api.js';

/** One evaluation of the model: each row's pixels and whether the model got it wrong. */
export interface Evaluation {
  rows: Float32Array[];
  fooled: boolean[];
}

/** What one watched run of one sample saw. */
export interface WatchedRun {
  /** Every evaluation of the model, in order. */
  evaluations: Evaluation[];
  /** The example attack() returned at the budget. */
  example: Float32Array;
}

export interface WatchOptions {
  model: LogitsModel;
  x: tf.Tensor4D;
  y: number;
  eps: number;
  earlyStop: boolean;
  params?: Record<string, unknown>;
  seed: number;
  plugins?: (string | Plugin)[];
}

const bitsOf = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/**
 * The attack decorated to report, in `broken`, every way a call leaves ctx.x or ctx.y other than
 * it found them (written into, or disposed). Its id is its own, so that attack() registers it
 * beside a built-in of the attack's id rather than finding the built-in.
 */
export function watchInputs(plugin: AttackPlugin, broken: Set<string>): AttackPlugin {
  const run = plugin.run;
  return {
    ...plugin,
    id: `${plugin.id}~watched`,
    async run(ctx) {
      // data() hands out the cpu backend's own storage, which is what a careless attack writes into.
      const before = [Buffer.from(bitsOf(await ctx.x.data() as Float32Array)), Buffer.from(bitsOf(await ctx.y.data() as Int32Array))];
      const returned = await run.call(plugin, ctx);
      for (const [k, t] of [ctx.x, ctx.y].entries()) {
        const name = k === 0 ? 'ctx.x' : 'ctx.y';
        if (t.isDisposed) broken.add(`disposed ${name}`);
        else if (!bitsOf(await t.data() as Float32Array).equals(before[k]!)) broken.add(`wrote into ${name}`);
      }
      return returned;
    },
  };
}

/** Runs the attack on one sample at one budget, recording every image the model evaluates. */
export async function watchedRun(plugin: AttackPlugin<Params>, opts: WatchOptions): Promise<WatchedRun> {
  const evaluations: Evaluation[] = [];
  const [, h, w, c] = opts.x.shape;
  const size = h * w * c;
  const model: LogitsModel = {
    ...opts.model,
    logits: (b) => {
      const z = opts.model.logits(b);
      // Synchronous reads: the logits are called synchronously (also inside gradients), on cpu or wasm.
      const pixels = b.dataSync() as Float32Array;
      const scores = z.dataSync();
      const classes = z.shape[1]!;
      const rows: Float32Array[] = [];
      const fooled: boolean[] = [];
      for (let r = 0; r < b.shape[0]; r++) {
        rows.push(Float32Array.from(pixels.subarray(r * size, (r + 1) * size)));
        const row = Array.from(scores.subarray(r * classes, (r + 1) * classes));
        fooled.push(row.indexOf(Math.max(...row)) !== opts.y);
      }
      evaluations.push({ rows, fooled });
      return z;
    },
  };
  const result = await attack({ model, x: opts.x, y: [opts.y], attack: plugin, eps: [opts.eps], params: opts.params as Partial<Params> | undefined, seed: opts.seed, batch: 1, sweep: opts.earlyStop, plugins: opts.plugins });
  try {
    return { evaluations, example: Float32Array.from(result.budgets[0]!.x.dataSync()) };
  } finally {
    result.dispose();
  }
}

/**
 * With early stopping: once an evaluation fools the model, the model sees nothing new (only the
 * engine's checks of what the attack returned, or images seen before), and the example returned
 * is one that fooled it there, the first. Undefined when the rule holds, else what broke it.
 */
export function keptWorkingAfterFooled(run: WatchedRun): string | undefined {
  const first = run.evaluations.findIndex((e) => e.fooled.some(Boolean));
  if (first < 0) return undefined;
  const seen = new Set(run.evaluations.slice(0, first + 1).flatMap((e) => e.rows.map((r) => bitsOf(r).toString('base64'))));
  const later = run.evaluations.slice(first + 1).flatMap((e) => e.rows).filter((r) => !seen.has(bitsOf(r).toString('base64'))).length;
  if (later > 0) return `evaluated ${later} new images of a sample after evaluation ${first + 1} had fooled the model`;
  const kept = run.evaluations[first]!.rows.some((r, k) => run.evaluations[first]!.fooled[k] && bitsOf(r).equals(bitsOf(run.example)));
  return kept ? undefined : `returned another example than the one that first fooled the model (evaluation ${first + 1})`;
}

/** Images the model evaluated in a run, the engine's included. */
export const work = (run: WatchedRun): number => run.evaluations.reduce((s, e) => s + e.rows.length, 0);
