/**
 * A worker thread with its own tfjs backend: it loads the model and data once, then
 * evaluates chunks of samples it claims from the shared queue until none is left.
 * Per-sample random streams make its numbers identical to what the main thread would
 * compute for the same samples. The examples of the positions in `task.collect` go back with
 * each chunk's curve, so the gallery and --save-adversarial need no second evaluation.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { useBackend } from './backends.js';
import { evaluateCurve } from '../core/engine.js';
import { ExampleCollector } from '../evaluation/example-collector.js';
import { loadModel } from '../evaluation/load-model.js';
import { RobenchError } from '../core/errors.js';
import { unsettledError } from '../core/plugin-guard.js';
import { createRegistry } from '../core/registry.js';
import { claimChunk, progressSteps, type WorkerQueue, type WorkerTask } from './worker-pool.js';

const task = workerData as WorkerTask & WorkerQueue;

const report = (err: unknown): void => {
  const e = err as Error & { exitCode?: number; hint?: string };
  parentPort!.postMessage({ type: 'error', message: e.message, hint: e.hint, exitCode: e.exitCode ?? 1, stack: e.stack });
};
let finished = false;
// As in the CLI (src/cli/main.ts): a loop that empties with the work unfinished is a plugin promise that never settles.
process.on('beforeExit', () => {
  if (!finished) report(unsettledError());
});

try {
  await useBackend(task.backend);
  const registry = await createRegistry({ plugins: task.plugins, cwd: task.cwd });
  const { model, dataset } = await loadModel(registry, task);
  const data = await dataset.load({ split: 'test', samples: task.samples, dataDir: task.dataDir, offline: task.offline });
  // Each worker loads the model and data again: files or a URL that changed since the main
  // thread loaded them would mix two models (or data sets) under one recorded hash.
  const changed = [
    model.weightsSha256 !== task.expect.weightsSha256 && `the model's weights (sha256 ${model.weightsSha256.slice(0, 12)}... here, ${task.expect.weightsSha256.slice(0, 12)}... in the main thread)`,
    data.source.sha256 !== task.expect.dataSha256 && `the test data (${data.source.path})`,
  ].filter(Boolean);
  if (changed.length > 0) {
    throw new RobenchError(`${changed.join(' and ')} changed while the run was starting its worker threads`, 'keep model and data files unchanged during a run (copy them first), or run with --workers 1');
  }
  const attack = registry.get('attack', task.attack);
  const wanted = new Set(task.collect);
  for (let chunk = claimChunk(task); chunk !== undefined; chunk = claimChunk(task)) {
    const keep = task.chunks[chunk]!.filter((p) => wanted.has(p));
    const collector = keep.length > 0 ? new ExampleCollector(data, keep) : undefined;
    const curve = await evaluateCurve({
      model,
      attack,
      params: task.params,
      data,
      grid: task.grid,
      indices: task.chunks[chunk]!,
      batchSize: task.batchSize,
      seed: task.seed,
      sweep: task.sweep,
      onProgress: progressSteps((step) => parentPort!.postMessage({ type: 'progress', ...step })),
      onExamples: collector?.onExamples,
    });
    const kept = collector?.export();
    parentPort!.postMessage({ type: 'result', chunk, curve, ...(kept ? { examples: kept.collected } : {}) }, kept?.transfer ?? []);
  }
  model.dispose();
  parentPort!.postMessage({ type: 'finished' });
} catch (err) {
  report(err);
}
finished = true;
