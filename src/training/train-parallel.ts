/**
 * `robench train --workers N`: data-parallel training steps. A batch is cut into fixed
 * micro-batches (consecutive slices of `microBatch` images, the last one shorter); the main
 * thread and N - 1 worker threads, each with its own backend and copy of the model, claim
 * micro-batches from a shared counter, and each writes the gradient of its micro-batch (its
 * loss weighted by its share of the batch) into that micro-batch's own slot. The main thread
 * then sums the slots in micro-batch order. A micro-batch's gradient is the same computation
 * on the same weights and images whichever thread takes it, and the order of the sum does not
 * depend on who took what, so the same seed gives bit-identical weights for any N.
 *
 * Batch norm normalises each micro-batch by its own statistics ("ghost batches"): the
 * micro-batch size, unlike N, changes the result and is part of a run's settings.
 *
 * TRADES' loss needs each image's adversarial example beside it: those runs share a second
 * image buffer, `examples`, sliced into micro-batches as the images are.
 */
import type { Worker } from 'node:worker_threads';
import type { Architecture } from '../nets/architectures.js';
import type { BackendName } from '../runtime/backends.js';
import { RobenchError, UsageError } from '../core/errors.js';
import type { ImageShape } from '../core/plugin-api.js';
import { spawnWorker } from '../runtime/worker-pool.js';

export interface MicroBatch {
  start: number;
  size: number;
}

/** The micro-batches of a batch of `count` images. */
export const microBatches = (count: number, microBatch: number): MicroBatch[] =>
  Array.from({ length: Math.ceil(count / microBatch) }, (_, m) => ({ start: m * microBatch, size: Math.min(microBatch, count - m * microBatch) }));

/**
 * One micro-batch's training step without the update: its gradient, computed on `weight`
 * times its loss, into `gradient` (the trainable weights' gradients one after another, in
 * the model's order), and its loss terms into `stats`. `examples`: TRADES' examples of the images.
 */
export type MicroBatchGradient = (images: Float32Array, labels: Int32Array, count: number, weight: number, gradient: Float32Array, stats: Float32Array, examples?: Float32Array) => Promise<void>;

/** What every thread shares: the weights, the batch, a gradient and stats slot per micro-batch, and the claim counter. */
export interface SharedStep {
  claimed: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /** TRADES: the batch's adversarial examples, image for image. */
  examples?: SharedArrayBuffer;
  gradients: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** Trainable parameters in all, and floats of stats per micro-batch. */
  params: number;
  statsSize: number;
  imageShape: ImageShape;
  microBatch: number;
}

/** What a training worker builds its model from. */
export interface TrainWorkerTask extends SharedStep {
  backend: BackendName;
  architecture: Architecture;
  numClasses: number;
  normalization: { mean: number[]; std: number[] };
  /** TRADES' beta: the workers train with its loss. */
  tradesBeta?: number;
}

export type TrainWorkerMessage = { type: 'ready'; params: number } | { type: 'done' } | { type: 'error'; message: string; hint?: string; exitCode: number; stack?: string };

export interface StepViews {
  claimed: Int32Array;
  weights: Float32Array;
  images: Float32Array;
  labels: Int32Array;
  examples?: Float32Array;
  gradients: Float32Array;
  stats: Float32Array;
}

export const stepViews = (s: SharedStep): StepViews => ({
  claimed: new Int32Array(s.claimed),
  weights: new Float32Array(s.weights),
  images: new Float32Array(s.images),
  labels: new Int32Array(s.labels),
  ...(s.examples ? { examples: new Float32Array(s.examples) } : {}),
  gradients: new Float32Array(s.gradients),
  stats: new Float32Array(s.stats),
});

/** Computes the micro-batches of a batch of `count` images that this thread claims, until none is left; returns how many it took. */
export async function computeClaimed(s: SharedStep, v: StepViews, count: number, gradientOf: MicroBatchGradient): Promise<number> {
  const parts = microBatches(count, s.microBatch);
  let taken = 0;
  const per = s.imageShape[0] * s.imageShape[1] * s.imageShape[2];
  for (let m = Atomics.add(v.claimed, 0, 1); m < parts.length; m = Atomics.add(v.claimed, 0, 1)) {
    const { start, size } = parts[m]!;
    // Copies: the shared batch is rewritten for the next step while tfjs may still hold these.
    await gradientOf(
      v.images.slice(start * per, (start + size) * per),
      v.labels.slice(start, start + size),
      size,
      size / count,
      v.gradients.subarray(m * s.params, (m + 1) * s.params),
      v.stats.subarray(m * s.statsSize, (m + 1) * s.statsSize),
      v.examples?.slice(start * per, (start + size) * per),
    );
    taken++;
  }
  return taken;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GradientPool {
  readonly views: StepViews;
  /** The batch's summed gradient, refilled by each step. */
  private readonly sum: Float32Array;
  private pending = new Map<Worker, Pending>();
  /** Why a worker stopped between steps, when none of them was waiting on it. */
  private failure: Error | undefined;

  private constructor(
    private readonly shared: SharedStep,
    private readonly workers: Worker[],
    private readonly local: MicroBatchGradient,
  ) {
    this.views = stepViews(shared);
    this.sum = new Float32Array(shared.params);
  }

  /**
   * Starts `threads - 1` worker threads beside the main thread, which computes with `local`,
   * for batches of up to `batch` images. Resolves once every worker has built its model.
   */
  static async start(task: Omit<TrainWorkerTask, keyof SharedStep> & Pick<SharedStep, 'params' | 'statsSize' | 'imageShape' | 'microBatch'>, threads: number, batch: number, local: MicroBatchGradient): Promise<GradientPool> {
    const per = task.imageShape[0] * task.imageShape[1] * task.imageShape[2];
    const slots = Math.ceil(batch / task.microBatch);
    const shared: SharedStep = {
      ...task,
      claimed: new SharedArrayBuffer(4),
      weights: new SharedArrayBuffer(4 * task.params),
      images: new SharedArrayBuffer(4 * batch * per),
      labels: new SharedArrayBuffer(4 * batch),
      ...(task.tradesBeta !== undefined ? { examples: new SharedArrayBuffer(4 * batch * per) } : {}),
      gradients: new SharedArrayBuffer(4 * slots * task.params),
      stats: new SharedArrayBuffer(4 * slots * task.statsSize),
    };
    const workers: Worker[] = [];
    const pool = new GradientPool(shared, workers, local);
    try {
      await Promise.all(
        Array.from({ length: threads - 1 }, () => {
          const worker = spawnWorker(new URL('./train-worker.js', import.meta.url), { ...task, ...shared } satisfies TrainWorkerTask);
          workers.push(worker);
          return pool.listen(worker, task.params);
        }),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Routes a worker's messages to the step it is computing; resolves when it is ready. */
  private listen(worker: Worker, params: number): Promise<void> {
    return new Promise((ready, failed) => {
      this.pending.set(worker, { resolve: ready, reject: failed });
      const settle = (err?: Error): void => {
        const p = this.pending.get(worker);
        this.pending.delete(worker);
        if (err && p) p.reject(err);
        else if (err) this.failure ??= err;
        else p?.resolve();
      };
      worker.on('message', (m: TrainWorkerMessage) => {
        if (m.type === 'ready' && m.params !== params) {
          settle(new RobenchError(`a training worker built a model with ${m.params} parameters, the main thread ${params}`, 'rerun with --workers 1'));
        } else if (m.type === 'error') {
          const err = m.exitCode === 2 ? new UsageError(m.message, m.hint) : new RobenchError(m.message, m.hint);
          err.stack = m.stack;
          settle(err);
        } else settle();
      });
      worker.on('error', (err) => settle(err));
      worker.on('exit', (code) => settle(new RobenchError(`a training worker exited with code ${code} in mid-run`, 'rerun with --workers 1 to see the error')));
    });
  }

  /**
   * One batch of `count` images, already in `views.images` and `views.labels`: every
   * micro-batch's gradient, computed here and in the workers, summed in micro-batch order.
   * `weights` writes the current trainable weights into the shared buffer the workers read.
   * Returns the summed gradient (valid until the next step), each micro-batch's stats, and how
   * many micro-batches this thread computed itself.
   */
  async step(count: number, weights: (into: Float32Array) => Promise<void>): Promise<{ gradient: Float32Array; stats: Float32Array[]; local: number }> {
    const { shared, views } = this;
    if (this.failure) throw this.failure;
    if (this.workers.length > 0) await weights(views.weights);
    Atomics.store(views.claimed, 0, 0);
    const done = this.workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          this.pending.set(worker, { resolve, reject });
          worker.postMessage({ count });
        }),
    );
    // A worker may fail while this thread computes; its error is awaited below, not lost.
    const all = Promise.all(done);
    all.catch(() => undefined);
    const local = await computeClaimed(shared, views, count, this.local);
    await all;
    const parts = microBatches(count, shared.microBatch).length;
    const { params, statsSize } = shared;
    this.sum.set(views.gradients.subarray(0, params));
    for (let m = 1; m < parts; m++) {
      const slot = views.gradients.subarray(m * params, (m + 1) * params);
      for (let i = 0; i < params; i++) this.sum[i] += slot[i]!;
    }
    return { local, gradient: this.sum, stats: Array.from({ length: parts }, (_, m) => views.stats.subarray(m * statsSize, (m + 1) * statsSize)) };
  }

  async close(): Promise<void> {
    this.pending.clear();
    // Terminating is not failing: the exits it causes are not recorded as failures.
    this.failure = new RobenchError('the training workers were stopped', 'start a new run');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
