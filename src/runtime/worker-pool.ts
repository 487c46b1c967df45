/**
 * `--workers N`: evaluates the samples on N threads, the main thread (whose model and data
 * are already loaded) and N - 1 worker threads with their own backends. They take chunks
 * of the samples from one shared queue, large first and batch-sized at the end (guided
 * self-scheduling), so a thread that starts late or draws harder samples does not leave
 * the others idle. Per-sample random streams make the counts identical to a
 * single-thread run with the same seed, whatever thread takes which chunk.
 */
import { availableParallelism } from 'node:os';
import { fromSource } from '../core/paths.js';
import { Worker } from 'node:worker_threads';
import type { BackendName } from './backends.js';
import type { CurveResult, Progress } from '../core/engine.js';
import { RobenchError, UsageError } from '../core/errors.js';
import type { CollectedExamples, ExampleCollector } from '../evaluation/example-collector.js';
import type { ModelSpec } from '../evaluation/load-model.js';
import type { Params, SampleOutcomes } from '../core/plugin-api.js';
import { concatOutcomes } from '../core/samples.js';

export interface WorkerTask extends ModelSpec {
  plugins: string[];
  cwd: string;
  backend: BackendName;
  attack: string;
  params: Params;
  grid: number[];
  indices: number[];
  batchSize: number;
  seed: number;
  sweep: boolean;
  samples?: number;
  dataDir?: string;
  offline?: boolean;
  /** What the main thread loaded: a worker that loads anything else refuses to evaluate it. */
  expect: { weightsSha256: string; dataSha256: string };
  /** Dataset positions whose examples a worker keeps and posts back with its curve (evaluateInWorkers sets it from its collector). */
  collect?: number[];
}

type Message =
  | ({ type: 'progress' } & ProgressStep)
  | { type: 'result'; chunk: number; curve: CurveResult; examples?: CollectedExamples }
  | { type: 'finished' }
  | { type: 'error'; message: string; hint?: string; exitCode: number; stack?: string };

/** What a worker needs beyond the task: the chunks, and the shared counter that hands them out. */
export interface WorkerQueue {
  chunks: number[][];
  /** Int32 counter of chunks taken, shared by all threads (Atomics.add claims the next). */
  taken: SharedArrayBuffer;
}

/** A chunk's progress as increments: evaluateCurve reports its own running totals, the pool adds up the threads'. */
export type ProgressStep = { done: number; phase: Progress['phase']; perturbation: number };

/** An onProgress for one chunk's evaluateCurve that passes `emit` what was done since its last call. */
export function progressSteps(emit: (step: ProgressStep) => void): (p: Progress) => void {
  let reported = 0;
  return (p) => {
    emit({ done: p.done - reported, phase: p.phase, perturbation: p.perturbation });
    reported = p.done;
  };
}

/** Claims the next chunk of the shared queue; undefined when none is left. */
export function claimChunk(queue: WorkerQueue): number | undefined {
  const i = Atomics.add(new Int32Array(queue.taken), 0, 1);
  return i < queue.chunks.length ? i : undefined;
}


/**
 * Starts a worker thread whose entry is `module`, a `.js` URL relative to its caller's
 * `import.meta.url`, so it names the compiled file; run from sources, the `.ts` beside it runs.
 */
export function spawnWorker(module: URL, workerData: unknown): Worker {
  const entry = fromSource ? new URL(module.href.replace(/\.js$/, '.ts')) : module;
  // From TypeScript sources (tests, tsx) the worker must register tsx's loader before importing its entry.
  return fromSource
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, {
        eval: true,
        workerData,
      })
    : new Worker(entry, { workerData });
}

/** Threads a command uses when --workers is not given: one per core where tfjs computes on the CPU, else 1 (one GPU or native runtime per process). */
export const defaultThreads = (backend: string): number => (backend === 'wasm' || backend === 'cpu' ? availableParallelism() : 1);

/**
 * Runs a worker until it has found the queue empty. Chunks are claimed through the shared
 * counter rather than asked of the main thread, whose event loop is busy while it evaluates.
 */
function runWorker(task: WorkerTask & WorkerQueue, pool: Worker[], onResult: (m: Extract<Message, { type: 'result' }>) => void, onProgress: (m: Extract<Message, { type: 'progress' }>) => void): Promise<void> {
  const worker = spawnWorker(new URL('./eval-worker.js', import.meta.url), task);
  pool.push(worker);
  return new Promise((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'result') onResult(m);
      else if (m.type === 'finished') {
        settled = true;
        resolve();
      } else {
        settled = true;
        const err = m.exitCode === 2 ? new UsageError(m.message, m.hint) : new RobenchError(m.message, m.hint);
        err.stack = m.stack;
        reject(err);
      }
    });
    worker.on('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new RobenchError(`an evaluation worker exited with code ${code} before finishing`, 'rerun with --workers 1 to see the error'));
    });
  });
}

/** A curve as saved results hold it: those written before per-sample outcomes have none. */
export type CountedCurve = Omit<CurveResult, 'outcomes'> & { outcomes?: SampleOutcomes };

/** Adds up the counts of curves computed on consecutive, disjoint slices of the samples, and joins their per-sample outcomes. */
export function combineCurves(parts: { curve: CurveResult; samples: number }[]): CurveResult;
export function combineCurves(parts: { curve: CountedCurve; samples: number }[]): CountedCurve;
export function combineCurves(parts: { curve: CountedCurve; samples: number }[]): CountedCurve {
  const samples = parts.reduce((s, p) => s + p.samples, 0);
  const cleanCorrect = parts.reduce((s, p) => s + Math.round(p.curve.cleanAccuracy * p.samples), 0);
  const first = parts[0].curve;
  return {
    cleanAccuracy: cleanCorrect / samples,
    points: first.points.map((pt, k) => {
      const correct = parts.reduce((s, p) => s + p.curve.points[k].correct, 0);
      const total = parts.reduce((s, p) => s + p.curve.points[k].total, 0);
      const byVersion = parts.map((p) => p.curve.points[k].correctByVersion);
      const correctByVersion = byVersion.every((v) => v) ? byVersion[0]!.map((_, v) => byVersion.reduce((s, c) => s + c![v], 0)) : undefined;
      return { perturbation: pt.perturbation, accuracy: correct / total, correct, total, ...(correctByVersion ? { correctByVersion } : {}) };
    }),
    ...(parts.every((p) => p.curve.outcomes) ? { outcomes: concatOutcomes(parts.map((p) => p.curve.outcomes!)) } : {}),
    gradientEvaluations: parts.reduce((s, p) => s + p.curve.gradientEvaluations, 0),
    forwardEvaluations: parts.reduce((s, p) => s + p.curve.forwardEvaluations, 0),
  };
}

/**
 * Splits `indices` into chunks for `threads` threads: each a multiple of `batch`, about
 * 1/(2 threads) of what is left, so chunks shrink towards the end.
 */
export function guidedChunks(indices: number[], threads: number, batch: number): number[][] {
  const chunks: number[][] = [];
  for (let start = 0; start < indices.length; ) {
    const left = indices.length - start;
    const size = Math.min(left, Math.max(batch, Math.ceil(left / (2 * threads) / batch) * batch));
    chunks.push(indices.slice(start, start + size));
    start += size;
  }
  return chunks;
}

/**
 * Evaluates `task.indices` on `threads` threads: `local` (the main thread) and
 * threads - 1 workers, or `threads` workers without `local`. The workers' examples of
 * `collector`'s positions are merged into it (`local` feeds it the main thread's).
 */
export async function evaluateInWorkers(
  task: WorkerTask,
  threads: number,
  onProgress?: (p: Progress) => void,
  local?: (indices: number[], onProgress: (p: Progress) => void) => Promise<CurveResult>,
  collector?: ExampleCollector,
): Promise<CurveResult> {
  const n = task.indices.length;
  const attacked = task.grid.filter((e) => e > 0).length;
  const progress = { done: 0, total: n * (1 + attacked) };
  const report = (m: ProgressStep): void => {
    progress.done += m.done;
    onProgress?.({ phase: m.phase, perturbation: m.perturbation, ...progress });
  };
  const queue: WorkerQueue = { chunks: guidedChunks(task.indices, threads, task.batchSize), taken: new SharedArrayBuffer(4) };
  const curves = new Map<number, CurveResult>();
  const workers = Math.min(local ? threads - 1 : threads, queue.chunks.length);
  const pool: Worker[] = [];
  try {
    const onResult = (m: Extract<Message, { type: 'result' }>): void => {
      curves.set(m.chunk, m.curve);
      if (m.examples) collector?.merge(m.examples);
    };
    const collect = collector?.positions.length ? { collect: collector.positions } : {};
    const running = Promise.all(Array.from({ length: workers }, () => runWorker({ ...task, indices: [], ...collect, ...queue }, pool, onResult, report)));
    // A worker may fail while the main thread computes; its error is awaited below, not lost.
    running.catch(() => undefined);
    if (local) {
      for (let chunk = claimChunk(queue); chunk !== undefined; chunk = claimChunk(queue)) {
        curves.set(chunk, await local(queue.chunks[chunk]!, progressSteps(report)));
      }
    }
    await running;
    return combineCurves(queue.chunks.map((indices, i) => ({ samples: indices.length, curve: curves.get(i)! })));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
