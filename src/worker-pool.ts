/**
 * `--workers N`: splits the samples into N contiguous slices, evaluates each in
 * a worker thread with its own backend, and adds up the counts. The result is
 * identical to a single-thread run with the same seed.
 */
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendName } from './backends.js';
import type { CurveResult, Progress } from './engine.js';
import { RobenchError, UsageError } from './errors.js';
import type { ModelSpec } from './load-model.js';
import type { Params } from './plugin-api.js';

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
}

type Message =
  | { type: 'progress'; done: number; phase: Progress['phase']; perturbation: number }
  | { type: 'result'; curve: CurveResult }
  | { type: 'error'; message: string; hint?: string; exitCode: number; stack?: string };

const fromSource = extname(new URL(import.meta.url).pathname) === '.ts';

function runWorker(task: WorkerTask, pool: Worker[], onProgress: (m: Extract<Message, { type: 'progress' }>) => void): Promise<CurveResult> {
  const entry = new URL(`./eval-worker${fromSource ? '.ts' : '.js'}`, import.meta.url);
  // From TypeScript sources (tests, tsx) the worker must register tsx's loader before importing its entry.
  const worker = fromSource
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, {
        eval: true,
        workerData: task,
      })
    : new Worker(entry, { workerData: task });
  pool.push(worker);
  return new Promise((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'result') {
        settled = true;
        resolve(m.curve);
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

/** Adds up the counts of curves computed on disjoint slices of the samples. */
export function combineCurves(parts: { curve: CurveResult; samples: number }[]): CurveResult {
  const samples = parts.reduce((s, p) => s + p.samples, 0);
  const cleanCorrect = parts.reduce((s, p) => s + Math.round(p.curve.cleanAccuracy * p.samples), 0);
  const first = parts[0].curve;
  return {
    cleanAccuracy: cleanCorrect / samples,
    points: first.points.map((pt, k) => {
      const correct = parts.reduce((s, p) => s + p.curve.points[k].correct, 0);
      const total = parts.reduce((s, p) => s + p.curve.points[k].total, 0);
      return { perturbation: pt.perturbation, accuracy: correct / total, correct, total };
    }),
    gradientEvaluations: parts.reduce((s, p) => s + p.curve.gradientEvaluations, 0),
    forwardEvaluations: parts.reduce((s, p) => s + p.curve.forwardEvaluations, 0),
  };
}

export async function evaluateInWorkers(task: WorkerTask, workers: number, onProgress?: (p: Progress) => void): Promise<CurveResult> {
  const n = task.indices.length;
  const slices = Array.from({ length: workers }, (_, w) => task.indices.slice(Math.floor((w * n) / workers), Math.floor(((w + 1) * n) / workers))).filter(
    (s) => s.length > 0,
  );
  const attacked = task.grid.filter((e) => e > 0).length;
  const progress = { done: 0, total: n * (1 + attacked) };
  const pool: Worker[] = [];
  try {
    const parts = await Promise.all(
      slices.map(async (indices) => ({
        samples: indices.length,
        curve: await runWorker({ ...task, indices }, pool, (m) => {
          progress.done += m.done;
          onProgress?.({ phase: m.phase, perturbation: m.perturbation, ...progress });
        }),
      })),
    );
    return combineCurves(parts);
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
