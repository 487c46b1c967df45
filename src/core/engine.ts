/**
 * The evaluation engine: batches the samples, runs the attack at every point of
 * the perturbation grid, checks what it returns and counts accuracy. Attacks
 * only do the math of one batch at one perturbation size.
 */
import * as tf from '@tensorflow/tfjs';
import { makeAttackContext, modelFunctions, type EvaluationCounters } from './attack-context.js';
import { checkAttackOutput, checkedLogits, checkSelection, checkVersionCount, evaluationStarted, runAttack } from './attack-checks.js';
import { minimalCurve } from './minimal-curve.js';
import { RobenchError } from './errors.js';
import { sampleRng } from './rng.js';
import { recordOutcomes } from './samples.js';
import type { AttackPlugin, CurvePoint, DatasetSplit, LoadedModel, Params, SampleOutcomes } from './plugin-api.js';

export interface Progress {
  phase: 'clean' | 'attack';
  perturbation: number;
  /** Samples processed so far over all points, and the total expected. */
  done: number;
  total: number;
}

export interface CurveOptions {
  model: LoadedModel;
  attack: AttackPlugin;
  params: Params;
  data: DatasetSplit;
  grid: number[];
  batchSize: number;
  seed: number;
  /**
   * Norm-ball attacks only: attack at each budget only the samples that every
   * smaller budget failed to break. A broken sample's adversarial example lies in
   * every larger ball, so this gives the same or lower accuracy at far less cost.
   * Off, every point runs independently and attacks stop no sample early (the
   * naive cost, for comparison).
   */
  sweep?: boolean;
  /** Dataset positions of the samples to evaluate (default: all of `data`). */
  indices?: number[];
  onProgress?(p: Progress): void;
  /** Called with each clean batch, e.g. to accumulate activation statistics. */
  onCleanBatch?(x: tf.Tensor4D): void;
  /**
   * Hands over the examples the engine evaluated, batch by batch, after its checks passed:
   * attack(), the gallery and --save-adversarial take their examples from here (an
   * ExampleCollector), so there is one way to run an attack. The clean pass comes first, as
   * batches at perturbation 0 whose examples are the clean images (their predictions those the
   * clean accuracy counted). Awaited before the batch's tensors are freed; the tensors are the engine's.
   */
  onExamples?(batch: EvaluatedBatch): Promise<void> | void;
}

/**
 * One attacked batch as the engine scored it. Where an attack returned several batches
 * (composite members, noise draws) each sample's example is the first batch that fooled the
 * model, else the first: the one that decided its verdict. A minimization attack's batch comes
 * once, at the grid's largest budget, with each sample's minimal example and its norm.
 */
export interface EvaluatedBatch {
  perturbation: number;
  /** Dataset positions of the batch's samples. */
  positions: number[];
  /** The clean batch and each sample's example (engine-owned; valid during the call only). */
  clean: tf.Tensor4D;
  adversarial: tf.Tensor4D;
  /** 1 where the model misclassifies the sample's example. */
  fooled: Uint8Array;
  /**
   * The class the engine's scoring predicted for each sample's example: the verdict `fooled`
   * records (fooled iff it is not the label), so a stochastic model's pictures are labelled
   * with what the run counted rather than a new draw.
   */
  predictions: Int32Array;
  /** Model evaluations this batch spent (its attack call and the engine's scoring). */
  evaluations: { forward: number; gradient: number };
  /** Minimization attacks: the batch holds minimal examples; `norms` are their sizes in the attack's norm. */
  minimal?: { norms: Float32Array };
  /** Where the attack returned several batches: per sample, which one its example is (AttackPlugin.versions may name them). */
  versions?: Int32Array;
}

export interface CurveResult {
  cleanAccuracy: number;
  points: CurvePoint[];
  outcomes: SampleOutcomes;
  gradientEvaluations: number;
  forwardEvaluations: number;
}

/** The samples at `positions` as a batch of images and labels. */
export function batchTensors(data: DatasetSplit, positions: number[]): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const pixels = new Float32Array(positions.length * size);
  const labels = new Int32Array(positions.length);
  positions.forEach((p, i) => {
    pixels.set(data.images.subarray(p * size, (p + 1) * size), i * size);
    labels[i] = data.labels[p];
  });
  return { x: tf.tensor4d(pixels, [positions.length, h, w, c]), y: tf.tensor1d(labels, 'int32') };
}

/** The predicted class of each image of `x`, and 1 where it is the label; the logits checked as the clean ones are (`on`: of which images). */
async function scored(model: LoadedModel, x: tf.Tensor4D, y: tf.Tensor1D, on?: string): Promise<{ hits: Uint8Array; predictions: Int32Array }> {
  const logits = await checkedLogits(model, x, on);
  const predicted = tf.tidy(() => tf.argMax(logits, 1).toInt());
  const hits = tf.tidy(() => tf.equal(predicted, y));
  try {
    return { hits: Uint8Array.from(await hits.data()), predictions: Int32Array.from(await predicted.data()) };
  } finally {
    tf.dispose([logits, predicted, hits]);
  }
}

/** `--eot` where the attack has it (the registry gives every gradient attack one), else 1. */
const eotOf = (params: Params): number => (typeof params.eot === 'number' ? params.eot : 1);

/**
 * AutoAttack's run_standard_evaluation_individual: each member as an attack of its own on
 * the same samples, with the same sweep, seed and checks. Its evaluations count towards the run.
 */
async function individualCurves(opts: CurveOptions, attack: AttackPlugin, params: Params, indices: number[], counters: EvaluationCounters): Promise<{ member: string; brokeAt: number[] }[]> {
  const out: { member: string; brokeAt: number[] }[] = [];
  for (const member of await attack.individually!(params)) {
    const curve = await evaluateCurve({ ...opts, attack: member.attack, params: member.params, indices, onProgress: undefined, onCleanBatch: undefined, onExamples: undefined });
    counters.gradient += curve.gradientEvaluations;
    counters.forward += curve.forwardEvaluations;
    out.push({ member: member.name, brokeAt: curve.outcomes.brokeAt! });
  }
  return out;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const count = (flags: Uint8Array): number => flags.reduce((s, v) => s + v, 0);

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Each sample's deciding example: row k of outputs[deciding[k]], or of outputs[0] where no batch fooled it. */
function decidingExamples(outputs: tf.Tensor4D[], deciding: Int32Array): tf.Tensor4D {
  if (outputs.length === 1) return outputs[0]!;
  return tf.tidy(() => {
    const pick = tf.tensor1d(deciding, 'int32');
    let out = outputs[0]!;
    for (let v = 1; v < outputs.length; v++) out = tf.where(tf.reshape(tf.equal(pick, v), [-1, 1, 1, 1]), outputs[v]!, out);
    return out === outputs[0] ? out.clone() : out;
  });
}

export async function evaluateCurve(opts: CurveOptions): Promise<CurveResult> {
  // While two evaluations share the thread, an attack's scope also tracks the other's tensors, so
  // runAttack leaves such calls uncounted (a leak warning must name the right plugin).
  const finished = evaluationStarted();
  try {
    return await evaluate(opts);
  } finally {
    finished();
  }
}

async function evaluate(opts: CurveOptions): Promise<CurveResult> {
  const { model, attack, params, data, batchSize, seed } = opts;
  const indices = opts.indices ?? Array.from({ length: data.count }, (_, i) => i);
  const n = indices.length;
  checkSelection(model, data, indices);
  const norm = attack.budget(params);
  // A composite attack resolves its members here, so a bad cascade fails before any compute.
  const members = norm === null ? undefined : attack.members?.(params);
  const sweep = (opts.sweep ?? true) && norm !== null;
  const grid = [...opts.grid].sort((a, b) => a - b);
  const counters = { forward: 0, gradient: 0 };
  const attacked = grid.filter((e) => e > 0).length;
  const progress = { done: 0, total: n * (1 + attacked) };

  // Clean pass: which samples the model gets right before any perturbation.
  const clean = new Uint8Array(n);
  for (const [b, chunk] of chunks(indices, batchSize).entries()) {
    const { x, y } = batchTensors(data, chunk);
    try {
      const { hits, predictions } = await scored(model, x, y);
      clean.set(hits, b * batchSize);
      counters.forward += chunk.length;
      opts.onCleanBatch?.(x);
      // The clean images as their own examples: what the gallery shows as clean, and its predictions.
      await opts.onExamples?.({ perturbation: 0, positions: chunk, clean: x, adversarial: x, fooled: hits.map((h) => 1 - h), predictions, evaluations: { forward: chunk.length, gradient: 0 } });
    } finally {
      x.dispose();
      y.dispose();
    }
    progress.done += chunk.length;
    opts.onProgress?.({ phase: 'clean', perturbation: 0, ...progress });
  }
  const cleanCorrect = count(clean);

  // Each attack call is announced before it starts, as well as counted when it ends: one call can
  // take minutes (an APGD batch), and a status line would say 'clean accuracy' all that time.
  if (attack.strategy === 'minimization') {
    opts.onProgress?.({ phase: 'attack', perturbation: grid[grid.length - 1]!, ...progress });
    const onBatch = (samples: number): void => {
      progress.done += samples * attacked;
      opts.onProgress?.({ phase: 'attack', perturbation: grid[grid.length - 1]!, ...progress });
    };
    const { points, outcomes } = await minimalCurve({ model, attack, params, norm, indices, clean, grid, batchSize, seed, counters, batch: (p) => batchTensors(data, p), onBatch, onExamples: opts.onExamples });
    return { cleanAccuracy: cleanCorrect / n, points, outcomes, gradientEvaluations: counters.gradient, forwardEvaluations: counters.forward };
  }

  // robust[i]: sample i survived every budget so far (norm-ball attacks only).
  const robust = Uint8Array.from(clean);
  const points: CurvePoint[] = [];
  // Per point, the draws each sample survived (norm-ball: 1 where robust there), for the per-sample record.
  const survivedAt: Int32Array[] = [];
  const drawsAt: number[] = [];
  let versions: number | undefined;
  // Composite attacks: per attacked point, per sample, the first member whose batch fooled the model (-1: none).
  const brokenByAt: Int32Array[] = [];
  for (const eps of grid) {
    if (eps === 0) {
      points.push({ perturbation: 0, accuracy: cleanCorrect / n, correct: cleanCorrect, total: n });
      survivedAt.push(Int32Array.from(clean));
      drawsAt.push(1);
      continue;
    }
    // A sample wrong on clean data is wrong under any norm-ball attack (delta = 0 is allowed);
    // noise and corruptions can flip it either way, so they see every sample.
    const eligible = sweep ? robust : clean;
    const alive = norm === null ? indices.map((_, i) => i) : [...eligible.keys()].filter((i) => eligible[i]);
    const survived = new Uint8Array(n);
    const hitCount = new Int32Array(n);
    let correct = 0;
    let draws = 1;
    // Noise and corruptions: correct predictions per returned batch (one per corruption for `common`).
    const correctByVersion: number[] = [];
    const brokenBy = new Int32Array(n).fill(-1);
    for (const chunk of chunks(alive, batchSize)) {
      opts.onProgress?.({ phase: 'attack', perturbation: eps, ...progress });
      const positions = chunk.map((i) => indices[i]);
      const { x, y } = batchTensors(data, positions);
      const rng = sampleRng(seed, positions, `${attack.id}@${eps}`);
      const spentBefore = { ...counters };
      const ctx = makeAttackContext({ ...modelFunctions(model), x, y, eps, params, rng, numClasses: model.numClasses, dataset: model.dataset, counters, earlyStop: sweep, eot: eotOf(params) });
      const outputs = await runAttack(attack, ctx).catch((err: unknown) => {
        tf.dispose([x, y]);
        throw err;
      });
      draws = outputs.length;
      try {
        versions = checkVersionCount(attack.id, outputs.length, versions);
        const hitsPerSample = new Uint8Array(chunk.length);
        // Per sample, the first returned batch that fooled the model (-1: none), for onExamples.
        const deciding = new Int32Array(chunk.length).fill(-1);
        // Per sample, the predicted class of its deciding example (of the first batch where none fooled it).
        const predicted = new Int32Array(chunk.length);
        for (const [v, xadv] of outputs.entries()) {
          await checkAttackOutput(attack.id, x, xadv, eps, norm);
          const { hits, predictions } = await scored(model, xadv, y, `on the examples of attack '${attack.id}' at perturbation ${eps}`);
          if (v === 0) predicted.set(predictions);
          counters.forward += chunk.length;
          correctByVersion[v] = (correctByVersion[v] ?? 0) + count(hits);
          hits.forEach((h, k) => {
            hitsPerSample[k] += h;
            correct += h;
            if (h === 0 && brokenBy[chunk[k]!] === -1) brokenBy[chunk[k]!] = v;
            if (h === 0 && deciding[k] === -1) {
              deciding[k] = v;
              predicted[k] = predictions[k]!;
            }
          });
        }
        if (opts.onExamples) {
          const adversarial = decidingExamples(outputs, deciding);
          try {
            await opts.onExamples({
              perturbation: eps,
              positions,
              clean: x,
              adversarial,
              fooled: Uint8Array.from(deciding, (v) => (v >= 0 ? 1 : 0)),
              predictions: predicted,
              ...(outputs.length > 1 ? { versions: Int32Array.from(deciding, (v) => Math.max(v, 0)) } : {}),
              evaluations: { forward: counters.forward - spentBefore.forward, gradient: counters.gradient - spentBefore.gradient },
            });
          } finally {
            if (!outputs.includes(adversarial)) adversarial.dispose();
          }
        }
        chunk.forEach((i, k) => {
          survived[i] = hitsPerSample[k] === outputs.length ? 1 : 0;
          hitCount[i] = hitsPerSample[k];
        });
      } finally {
        for (const t of outputs) t.dispose();
        x.dispose();
        y.dispose();
      }
      progress.done += chunk.length;
      opts.onProgress?.({ phase: 'attack', perturbation: eps, ...progress });
      // Reads of tensor values resolve as microtasks, so without this a run on the main thread
      // would never let timers or signal handlers run: no status line, no Ctrl-C until the end.
      await yieldToEventLoop();
    }
    if (norm !== null) {
      for (let i = 0; i < n; i++) robust[i] = robust[i] & survived[i];
    }
    progress.done += n - alive.length;
    // Norm-ball attacks: a sample is robust only if it survived every returned batch (worst case).
    // Noise and corruptions: accuracy is averaged over the independent draws.
    const total = norm === null ? n * draws : n;
    const point = norm === null ? correct : count(sweep ? robust : survived);
    points.push({ perturbation: eps, accuracy: point / total, correct: point, total, ...(norm === null && draws > 1 ? { correctByVersion } : {}) });
    survivedAt.push(norm === null ? hitCount : Int32Array.from(sweep ? robust : survived));
    drawsAt.push(norm === null ? draws : 1);
    brokenByAt[points.length - 1] = brokenBy;
  }
  const outcomes = recordOutcomes(indices, clean, survivedAt, drawsAt, norm === null ? 'draws' : sweep ? 'sweep' : 'independent');
  if (members) {
    if (versions !== undefined && versions !== members.length) throw new RobenchError(`attack '${attack.id}' names ${members.length} members but returned ${versions} batches`, 'return one batch per member, in the order members() lists them');
    outcomes.members = members;
    outcomes.brokenBy = outcomes.brokeAt!.map((k, i) => brokenByAt[k]?.[i] ?? -1);
    if (params.individual === true && attack.individually) outcomes.individual = await individualCurves(opts, attack, params, indices, counters);
  }
  return {
    cleanAccuracy: cleanCorrect / n,
    points,
    outcomes,
    gradientEvaluations: counters.gradient,
    forwardEvaluations: counters.forward,
  };
}
