/**
 * The smoothed classifier as a model attacks run against: `robench run --smooth <sigma>` and
 * `smoothedModel()` (Cohen, Rosenfeld & Kolter 2019; src/evaluation/smoothing.ts has the maths
 * of the certificate).
 *
 * g(x) = argmax_c P(f(x + e) = c), e ~ N(0, sigma^2 I), estimated from n noisy copies:
 *
 * - The verdict logits are log((n_c + 1/K) / (n + 1)) from the hard votes n_c of the n copies
 *   (K classes): their argmax is the plurality vote and their softmax the vote frequencies,
 *   shrunk by a pseudo-count of 1 spread over the classes so no logit is -Infinity (a loss on
 *   it would be infinite). A tie between the top classes goes to the lower class index, as the
 *   engine's argmax (and numpy's) picks it. Cohen's PREDICT abstains when a binomial test does
 *   not separate the top two counts; logits cannot abstain, so the wrapper's accuracy counts
 *   the plurality vote of n draws, which is what PREDICT returns whenever it does not abstain.
 *   `robench certify` keeps the abstaining test (its abstentions count as errors there).
 * - The gradient surrogate is the soft smoothed classifier log(mean_i softmax(f(x + sigma e_i)))
 *   over `gradientDraws` draws (Salman et al. 2019, "Provably robust deep learning via
 *   adversarially trained smoothed classifiers": the attack on smoothed classifiers). Its noise
 *   changes on every repeated call, so `--eot N` averages N such estimates; the model says it is
 *   `stochastic` for that reason. Attacks take their gradients through it (BPDA) while every
 *   logit and verdict they see is the vote's.
 *
 * Noise. The wrapper sees batches, not dataset indices, so each image's draws come from a
 * stream keyed by (seed, purpose, a 32-bit hash of its pixels' float32 bits) and are read in
 * order, draw after draw: an image's logits do not depend on its batch, the batch size, the
 * chunking of the copies, the shard or the worker. The verdict's stream is the same on every
 * call, so the verdict is a fixed function of the pixels (clean accuracy is one number, and
 * repeated queries of one image agree). The surrogate's key also holds how many calls in a row
 * before this one held the same image, so the k-th EOT draw on an image uses the k-th noise;
 * that count needs only the previous call's images, so memory does not grow with the queries.
 * The verdicts and counts kept from the previous call are found by hash but held with the pixels
 * they belong to: two images whose hashes collide share noise, never a verdict or a count.
 * Hashing reads the batch synchronously (dataSync), as a model's synchronous logits must.
 *
 * Cost and memory. A verdict is n forward passes per image, `batch` noisy copies per pass (at
 * least one copy of every image of the call); the previous call's verdicts are kept per image,
 * so the repeated queries of EOT cost one. The surrogate runs its draws in one pass inside the
 * attack's gradient, so its memory is `gradientDraws` times the batch's: keep it small.
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../core/errors.js';
import type { LoadedModel } from '../core/plugin-api.js';
import { hashKey, sampleRng } from '../core/rng.js';
import { shown } from '../core/settings.js';
import { noisyCopies, votesUnderNoise } from './smoothing-counts.js';

export interface SmoothingOptions {
  /** Standard deviation of the Gaussian noise, in [0, 1] pixel units. */
  sigma: number;
  /** Noisy copies the verdict votes over (default 100). */
  n?: number;
  /** Seeds every noise stream (default 0). */
  seed?: number;
  /** Noisy copies per surrogate call, each differentiated (default 8). */
  gradientDraws?: number;
  /** Noisy copies per forward pass of the verdict (default 1000). */
  batch?: number;
}

export const DEFAULT_SMOOTHING_DRAWS = 100;
const DEFAULT_GRADIENT_DRAWS = 8;
const DEFAULT_COPIES_PER_PASS = 1000;

/**
 * The smoothed classifier of `model` as a LoadedModel: verdicts by the vote of `n` noisy copies,
 * gradients through the soft smoothed classifier. Disposing it disposes `model`.
 *
 * Example:
 *   import { attack, loadZooModel, smoothedModel } from 'robench';
 *   const smooth = smoothedModel(await loadZooModel('baseline', 'mnist'), { sigma: 0.25, n: 100 });
 *   const x = tf.zeros([4, 28, 28, 1]) as tf.Tensor4D;
 *   const result = await attack({ model: smooth, x, y: [0, 1, 2, 3], attack: 'pgd', eps: [0, 0.5], params: { norm: 'l2', eot: 4 } });
 *   console.log(result.budgets.map((b) => b.success));
 *   result.dispose();
 *   smooth.dispose();
 */
export function smoothedModel(model: LoadedModel, options: SmoothingOptions): LoadedModel {
  const opts = checkedOptions(options);
  const verdict = new VoteCache(model.numClasses);
  const repeats = new RepeatCounter();
  const base = model.gradientSurrogate ?? model;
  return {
    id: `${model.id}+smooth(${opts.sigma},n=${opts.n})`,
    dataset: model.dataset,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    weightsSha256: model.weightsSha256,
    stochastic: true,
    logits: (x) => verdict.logits(x, pixelRows(x), (part) => voteLogits(model, part.x, part.keys, opts)),
    gradientSurrogate: {
      description: `soft smoothed classifier log mean softmax f(x + ${opts.sigma} N(0, I)) over ${opts.gradientDraws} draws (Salman et al. 2019)`,
      logits: (x) => softSmoothed(base, x, repeats.keys(pixelRows(x)), opts),
    },
    info: { ...model.info, smoothing: { base: model.id, sigma: opts.sigma, n: opts.n, seed: opts.seed, gradientDraws: opts.gradientDraws } },
    dispose: () => model.dispose(),
  };
}

type Checked = Required<SmoothingOptions>;

function checkedOptions(o: SmoothingOptions): Checked {
  const need = (name: keyof SmoothingOptions, ok: boolean, must: string, fix: string): void => {
    if (!ok) throw new UsageError(`smoothedModel() option "${name}" ${shown(o[name])} ${must}`, fix);
  };
  const whole = (v: number | undefined, min: number) => v === undefined || (Number.isInteger(v) && v >= min);
  need('sigma', typeof o.sigma === 'number' && Number.isFinite(o.sigma) && o.sigma > 0, 'must be a number greater than 0', 'e.g. sigma: 0.25 (noise in [0, 1] pixel units)');
  need('n', whole(o.n, 1), 'must be a whole number of at least 1', `e.g. n: ${DEFAULT_SMOOTHING_DRAWS}`);
  need('seed', whole(o.seed, 0), 'must be a whole number of at least 0', 'e.g. seed: 0');
  need('gradientDraws', whole(o.gradientDraws, 1), 'must be a whole number of at least 1', `e.g. gradientDraws: ${DEFAULT_GRADIENT_DRAWS}`);
  need('batch', whole(o.batch, 1), 'must be a whole number of at least 1', `e.g. batch: ${DEFAULT_COPIES_PER_PASS}`);
  return { sigma: o.sigma, n: o.n ?? DEFAULT_SMOOTHING_DRAWS, seed: o.seed ?? 0, gradientDraws: o.gradientDraws ?? DEFAULT_GRADIENT_DRAWS, batch: o.batch ?? DEFAULT_COPIES_PER_PASS };
}

/** A batch's rows as the wrapper remembers them: each row's pixels (float32 bits) and their hash, which keys its noise. */
interface Rows {
  keys: number[];
  words: Uint32Array[];
}

/**
 * Each row's hash of its pixels' float32 bits: FNV-1a over their bytes (each word's, low byte
 * first, whatever the machine's byte order), then hashKey's mix. Over bytes, not whole words:
 * FNV's multiply carries a word's differences only upwards, so word-wise it folded the
 * differences of a pixel's exponent bits alone into the hash's top 9 bits, and images that
 * differ in those shared noise streams far more often than 1 in 2^32.
 */
export const pixelKeys = (x: tf.Tensor4D): number[] => pixelRows(x).keys;

function pixelRows(x: tf.Tensor4D): Rows {
  const values = x.dataSync() as Float32Array;
  const per = values.length / x.shape[0];
  // A copy: the rows outlive the call (see ImageMemory), and a backend may hand out its own buffer.
  const words = Array.from({ length: x.shape[0] }, (_, row) => new Uint32Array(values.buffer, values.byteOffset + 4 * row * per, per).slice());
  const keys = words.map((w) => {
    let h = 0x811c9dc5;
    for (let j = 0; j < w.length; j++) {
      const word = w[j]!;
      for (let shift = 0; shift < 32; shift += 8) h = Math.imul(h ^ ((word >>> shift) & 0xff), 0x01000193);
    }
    return hashKey(h >>> 0);
  });
  return { keys, words };
}

/**
 * What the previous call held, per image. Looked up by hash but kept for the pixels it was
 * made for: 32-bit hashes collide, rarely, and another image must not be handed this one's
 * verdict or repeat count.
 */
class ImageMemory<T> {
  private entries = new Map<number, { words: Uint32Array; value: T }>();

  get(rows: Rows, i: number): T | undefined {
    const e = this.entries.get(rows.keys[i]!);
    const w = rows.words[i]!;
    return e && e.words.length === w.length && e.words.every((v, j) => v === w[j]) ? e.value : undefined;
  }

  replace(rows: Rows, values: T[]): void {
    this.entries = new Map(rows.keys.map((k, i) => [k, { words: rows.words[i]!, value: values[i]! }]));
  }
}

/** log((n_c + 1/K) / (n + 1)) from each row's hard votes over n noisy copies, as one Float32Array per row. */
function voteLogits(model: LoadedModel, x: tf.Tensor4D, keys: number[], opts: Checked): Float32Array[] {
  const rows = x.shape[0];
  const K = model.numClasses;
  const rng = sampleRng(opts.seed, keys, 'smooth/verdict');
  const perPass = Math.max(1, Math.floor(opts.batch / rows));
  const counts = new Float64Array(rows * K);
  for (let done = 0; done < opts.n; done += perPass) {
    const draws = Math.min(perPass, opts.n - done);
    const votes = votesUnderNoise(model, x, rng, draws, opts.sigma);
    const v = votes.dataSync();
    votes.dispose();
    for (let i = 0; i < v.length; i++) counts[i]! += v[i]!;
  }
  return Array.from({ length: rows }, (_, r) => Float32Array.from({ length: K }, (_, c) => Math.log((counts[r * K + c]! + 1 / K) / (opts.n + 1))));
}

/** log(mean_i softmax(f(x + sigma e_i))) over the draws, differentiable in x; each row's draws keyed by `keys`. */
function softSmoothed(model: Pick<LoadedModel, 'logits'>, x: tf.Tensor4D, keys: number[], opts: Checked): tf.Tensor2D {
  const rng = sampleRng(opts.seed, keys, 'smooth/gradient');
  const m = opts.gradientDraws;
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(model.logits(noisyCopies(x, rng, m, opts.sigma)));
    const perDraw = tf.reshape(logProbs, [m, x.shape[0], -1]);
    return tf.sub(tf.logSumExp(perDraw, 0), Math.log(m)) as tf.Tensor2D;
  });
}

/**
 * The verdict rows of the previous call, per image: EOT asks for the logits of one batch
 * once per draw, and the verdict of an image is the same every time, so only new images are voted on.
 */
class VoteCache {
  private readonly previous = new ImageMemory<Float32Array>();

  constructor(private readonly numClasses: number) {}

  logits(x: tf.Tensor4D, rows: Rows, vote: (part: { x: tf.Tensor4D; keys: number[] }) => Float32Array[]): tf.Tensor2D {
    const out = rows.keys.map((_, i) => this.previous.get(rows, i));
    const missing = out.flatMap((row, i) => (row ? [] : [i]));
    if (missing.length > 0) {
      const part = missing.length === out.length ? x : tf.gather(x, missing);
      const voted = vote({ x: part, keys: missing.map((i) => rows.keys[i]!) });
      if (part !== x) part.dispose();
      missing.forEach((i, j) => (out[i] = voted[j]!));
    }
    this.previous.replace(rows, out as Float32Array[]);
    const K = this.numClasses;
    const flat = new Float32Array(out.length * K);
    out.forEach((row, i) => flat.set(row!, i * K));
    return tf.tensor2d(flat, [out.length, K]);
  }
}

/** How many calls in a row before this one held each image, folded into its key: the k-th repeat draws the k-th noise. */
class RepeatCounter {
  private readonly previous = new ImageMemory<number>();

  keys(rows: Rows): number[] {
    const repeats = rows.keys.map((_, i) => {
      const before = this.previous.get(rows, i);
      return before === undefined ? 0 : before + 1;
    });
    this.previous.replace(rows, repeats);
    return rows.keys.map((k, i) => hashKey(k, repeats[i]!));
  }
}
