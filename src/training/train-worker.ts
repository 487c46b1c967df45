/**
 * A training worker thread: builds the model with its own backend, then, for each batch the
 * main thread announces, loads the weights the main thread shared and computes the
 * micro-batches it claims (src/training/train-parallel.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../nets/architectures.js';
import { useBackend } from '../runtime/backends.js';
import { microBatchGradient, trainableVariables } from './hah-objective.js';
import { computeClaimed, stepViews, type TrainWorkerMessage, type TrainWorkerTask } from './train-parallel.js';

const task = workerData as TrainWorkerTask;
const post = (m: TrainWorkerMessage): void => parentPort!.postMessage(m);
const fail = (err: unknown): void => {
  const e = err as Error & { exitCode?: number; hint?: string };
  post({ type: 'error', message: e.message, hint: e.hint, exitCode: e.exitCode ?? 1, stack: e.stack });
};

try {
  await useBackend(task.backend);
  const model = buildModel(task.architecture, task.imageShape, task.numClasses, task.normalization);
  const vars = trainableVariables(model);
  const views = stepViews(task);
  const gradientOf = microBatchGradient(model, task.architecture, task.imageShape, task.tradesBeta);
  parentPort!.on('message', async ({ count }: { count: number }) => {
    try {
      let offset = 0;
      for (const v of vars) {
        const value = tf.tensor(views.weights.slice(offset, offset + v.size), v.shape);
        v.assign(value);
        value.dispose();
        offset += v.size;
      }
      await computeClaimed(task, views, count, gradientOf);
      post({ type: 'done' });
    } catch (err) {
      fail(err);
    }
  });
  post({ type: 'ready', params: vars.reduce((n, v) => n + v.size, 0) });
} catch (err) {
  fail(err);
}
