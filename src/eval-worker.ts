/**
 * A worker thread that evaluates one slice of the samples with its own tfjs
 * backend. Per-sample random streams make its numbers identical to what the
 * main thread would compute for the same samples.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { useBackend } from './backends.js';
import { evaluateCurve } from './engine.js';
import { loadModel } from './load-model.js';
import { createRegistry } from './registry.js';
import type { WorkerTask } from './worker-pool.js';

const task = workerData as WorkerTask;
try {
  await useBackend(task.backend);
  const registry = await createRegistry({ plugins: task.plugins, cwd: task.cwd });
  const { model, dataset } = await loadModel(registry, task);
  const data = await dataset.load({ split: 'test', samples: task.samples, dataDir: task.dataDir, offline: task.offline });
  const attack = registry.get('attack', task.attack);
  let reported = 0;
  const curve = await evaluateCurve({
    model,
    attack,
    params: task.params,
    data,
    grid: task.grid,
    indices: task.indices,
    batchSize: task.batchSize,
    seed: task.seed,
    sweep: task.sweep,
    onProgress: (p) => {
      parentPort!.postMessage({ type: 'progress', done: p.done - reported, phase: p.phase, perturbation: p.perturbation });
      reported = p.done;
    },
  });
  model.dispose();
  parentPort!.postMessage({ type: 'result', curve });
} catch (err) {
  const e = err as Error & { exitCode?: number; hint?: string };
  parentPort!.postMessage({ type: 'error', message: e.message, hint: e.hint, exitCode: e.exitCode ?? 1, stack: e.stack });
}
