/**
 * One model under one attack: the samples (of a shard), minus those an interrupted run
 * finished, evaluated slice by slice on the main thread or in worker threads, and the result
 * as results.json holds it. Saving after each slice is what makes a run resumable: an
 * interrupt loses at most one slice.
 * The gallery and --save-adversarial take the examples the run scored, kept as it evaluates
 * (an ExampleCollector on the engine's onExamples hook, worker threads posting theirs back).
 * Only in a resumed run are the kept samples an earlier process finished evaluated again,
 * their examples having gone with it; nothing else is evaluated twice.
 */
import type { BackendName } from '../runtime/backends.js';
import { resultHeader } from './result-header.js';
import { evaluateCurve, type CurveOptions, type Progress } from '../core/engine.js';
import { UsageError } from '../core/errors.js';
import { buildGallery, galleryBudgets, type ReportRun } from './gallery.js';
import { saveAdversarialExamples } from './save-adversarial.js';
import { ExampleCollector } from './example-collector.js';
import { accuracyIntervals } from '../core/intervals.js';
import type { DatasetPlugin, DatasetSplit, LoadedModel, RunResult, SparsityLayer } from '../core/plugin-api.js';
import type { AttackSetting, ModelSource, RunHooks, RunPlan } from './run-plan.js';
import { shardRange, shardRecord } from './shards.js';
import { inputRangeHint } from './user-model.js';
import { combineCurves, evaluateInWorkers, type CountedCurve } from '../runtime/worker-pool.js';

export interface PairJob {
  plan: RunPlan;
  source: ModelSource;
  model: LoadedModel;
  dataset: DatasetPlugin;
  data: DatasetSplit;
  setting: AttackSetting;
  /** This pair's result in the interrupted run being resumed, if it had started. */
  before?: RunResult;
  /** The model's activation sparsity on these samples (measured once per model, whatever the attack). */
  sparsity(indices: number[]): Promise<SparsityLayer[] | undefined>;
  /** Saves the pair's result so far (marked `pending`); absent: nothing is saved, so the samples are evaluated in one slice. */
  savePartial?(partial: RunResult): Promise<void>;
}

/**
 * Contiguous slices of a pair's samples, each evaluated whole before the next and saved.
 * Large enough that worker start-up stays small against it.
 */
function slices(indices: number[], batch: number, threads: number): number[][] {
  const size = Math.max(4 * batch * threads, Math.ceil(indices.length / 8));
  const out: number[][] = [];
  for (let i = 0; i < indices.length; i += size) out.push(indices.slice(i, i + size));
  return out;
}

/** The part of an interrupted pair already evaluated, as a curve to combine with the rest. */
function finishedPart(prior: RunResult | undefined): { curve: CountedCurve; samples: number; done: Set<number> } | undefined {
  if (!prior?.outcomes) return undefined;
  const { cleanAccuracy, points, outcomes, gradientEvaluations, forwardEvaluations } = prior;
  return { curve: { cleanAccuracy, points, outcomes, gradientEvaluations, forwardEvaluations }, samples: outcomes.index.length, done: new Set(outcomes.index) };
}

/** The samples whose examples the run keeps (each list a prefix of `indices`) and the folders they go to. */
function keptSamples(plan: RunPlan, indices: number[]) {
  // The pictures are files beside results.json, so only a run that saves itself has a gallery.
  const gallery = plan.gallery && plan.saved ? { positions: indices.slice(0, 4), dir: plan.saved.dir } : undefined;
  const dir = plan.saved?.dir ?? plan.adversarialDir;
  const saved = plan.saveAdversarial && dir ? { positions: indices.slice(0, plan.saveAdversarial === true ? undefined : plan.saveAdversarial), dir } : undefined;
  const all = [gallery?.positions ?? [], saved?.positions ?? []].reduce((a, b) => (b.length > a.length ? b : a));
  return { gallery, saved, all };
}

export async function evaluatePair(job: PairJob, hooks: RunHooks = {}): Promise<ReportRun> {
  const { plan, model, dataset, data, before } = job;
  const { attack, params } = job.setting;
  const grid = plan.grid ?? attack.defaultGrid(dataset.id, params);
  const t0 = Date.now();
  const [start, end] = plan.shard ? shardRange(plan.shard, data.count) : [0, data.count];
  const indices = Array.from({ length: end - start }, (_, i) => start + i);
  const earlier = finishedPart(before);
  const todo = earlier ? indices.filter((i) => !earlier.done.has(i)) : indices;
  const threads = Math.max(1, Math.min(plan.workers, Math.ceil(todo.length / plan.batch)));
  const parts: { curve: CountedCurve; samples: number }[] = earlier ? [earlier] : [];
  const kept = keptSamples(plan, indices);
  const collector = new ExampleCollector(data, kept.all);
  // Without samples to keep the engine is spared handing examples over.
  const engine: CurveOptions = { model, attack, params, data, grid, batchSize: plan.batch, seed: plan.seed, sweep: plan.sweep, onExamples: kept.all.length > 0 ? collector.onExamples : undefined };
  const base = {
    ...resultHeader({ model, attack, params, backend: plan.backend, seed: plan.seed, sweep: plan.sweep }),
    ...(plan.shard ? { shard: shardRecord(plan.shard, data.count) } : {}),
    startedAt: new Date(t0).toISOString(),
    command: plan.command,
  };
  const evaluated = (): number => parts.reduce((n, p) => n + p.samples, 0);
  for (const slice of job.savePartial ? slices(todo, plan.batch, threads) : [todo]) {
    const offset = evaluated();
    const onProgress = (p: Progress): void => {
      const perSample = p.total / slice.length;
      const rate = (((offset - (earlier?.samples ?? 0)) * perSample + p.done) / Math.max(Date.now() - t0, 1)) * 1000;
      hooks.onProgress?.({ phase: p.phase, perturbation: p.perturbation, done: offset * perSample + p.done, total: perSample * indices.length, model: model.id, attack: attack.id, rate });
    };
    const evaluateHere = (chunk: number[], onChunkProgress: (p: Progress) => void) => evaluateCurve({ ...engine, indices: chunk, onProgress: onChunkProgress });
    const workers = Math.min(threads, Math.ceil(slice.length / plan.batch));
    const curve = workers > 1 ? await evaluateInWorkers(workerTask(job, grid, slice), workers, onProgress, evaluateHere, collector) : await evaluateHere(slice, onProgress);
    parts.push({ curve, samples: slice.length });
    if (job.savePartial && evaluated() < indices.length) {
      await job.savePartial({
        ...base,
        dataset: { id: dataset.id, split: 'test', samples: evaluated(), source: data.source },
        ...combineCurves(parts),
        durationMs: Date.now() - t0,
        pending: { samples: indices.length - evaluated() },
      });
    }
  }
  // The examples of samples an earlier process finished went with it: these are evaluated again.
  const redo = earlier ? kept.all.filter((p) => earlier.done.has(p)) : [];
  if (redo.length > 0) await evaluateCurve({ ...engine, indices: redo });
  const curve = combineCurves(parts);
  hooks.onSparsity?.(model.id);
  const sparsity = await job.sparsity(indices);
  hooks.onPairEvaluated?.({ model: model.id, attack: attack.id, samples: indices.length, durationMs: Date.now() - t0 });
  const rangeHint = inputRangeHint(model, curve.cleanAccuracy);
  if (rangeHint) console.error(`robench: hint: ${rangeHint}`);
  // Every part has per-sample outcomes: finishedPart keeps an earlier run's samples only where it recorded them.
  const found = (positions: number[]) => collector.examples({ attack, params, grid, sweep: plan.sweep }, curve.outcomes!, positions);
  const { gallery: shown, saved } = kept;
  const gallery = shown ? await buildGallery({ attack, params, data, positions: shown.positions, found: found(shown.positions), budgets: galleryBudgets(grid), classNames: dataset.classNames, dir: shown.dir }) : undefined;
  if (saved) await saveAdversarialExamples(found(saved.positions), { model, attack, params, data, indices: saved.positions, seed: plan.seed }, saved.dir);
  return {
    ...base,
    dataset: { id: dataset.id, split: 'test', samples: indices.length, source: data.source },
    ...curve,
    intervals: accuracyIntervals({ ...curve, dataset: { samples: indices.length } }),
    ...(sparsity ? { sparsity } : {}),
    ...(gallery ? { gallery } : {}),
    durationMs: Date.now() - t0 + (before?.durationMs ?? 0),
  };
}

/** What a worker thread needs to load the same model, data and attack itself. */
function workerTask(job: PairJob, grid: number[], indices: number[]) {
  const { plan, source, model, data, setting } = job;
  if (!source.spec || !plan.threads) {
    throw new UsageError('workers > 1 needs the model, attack, dataset and plugins by id, file or package: each thread loads them itself', 'pass ids and file names, or evaluate with workers: 1');
  }
  return {
    ...source.spec,
    ...plan.threads,
    backend: plan.backend.name as BackendName,
    attack: setting.attack.id,
    params: setting.params,
    grid,
    indices,
    batchSize: plan.batch,
    seed: plan.seed,
    sweep: plan.sweep,
    samples: plan.samples,
    dataDir: plan.dataDir,
    expect: { weightsSha256: model.weightsSha256, dataSha256: data.source.sha256 },
  };
}
