/**
 * A run with everything resolved: the models (loaded one at a time), the attacks with their
 * params, the grid, the sampling and threading settings, and where progress is saved. Both
 * `benchmark()` and `robench run` evaluate one (src/evaluation/evaluate-run.ts), which is why they give
 * the same results for the same settings.
 */
import type { BackendInfo } from '../runtime/backends.js';
import type { Progress } from '../core/engine.js';
import type { ModelSpec } from './load-model.js';
import type { AttackPlugin, DatasetPlugin, LoadedModel, Params, RunResult } from '../core/plugin-api.js';
import type { RunState } from './run-state.js';
import type { Shard } from './shards.js';

export interface ModelSource {
  /** `owned`: the run disposes the model when done with it; a model the caller handed in stays the caller's. */
  load(): Promise<{ model: LoadedModel; dataset: DatasetPlugin; owned: boolean }>;
  /** How a worker thread loads the same model itself; absent for a model held in memory. */
  spec?: ModelSpec;
}

export interface AttackSetting {
  attack: AttackPlugin;
  /** Checked and complete (src/core/parse.ts resolveParams). */
  params: Params;
}

export interface RunPlan {
  models: ModelSource[];
  attacks: AttackSetting[];
  /** Budgets given for every attack; absent: each attack's default grid for the model's dataset. */
  grid?: number[];
  /** What errors call the given grid (`--eps`, `eps`). */
  gridName: string;
  backend: BackendInfo;
  batch: number;
  seed: number;
  sweep: boolean;
  samples?: number;
  dataDir?: string;
  offline?: boolean;
  shard?: Shard;
  /** Threads per pair, at most (fewer when the samples fill fewer batches). */
  workers: number;
  /** What worker threads load besides the model; absent when they cannot load what this run uses (a plugin given as an object). */
  threads?: { plugins: string[]; cwd: string };
  /** Whether each result carries a gallery of perturbed images (the HTML report shows it), its pictures written into `saved.dir`. */
  gallery: boolean;
  /** Examples of the first n samples (true: all) per budget as .npy files in adversarial/ of `saved.dir`, else of `adversarialDir`. */
  saveAdversarial?: number | true;
  /** Where benchmark() (which saves no run) puts adversarial/. */
  adversarialDir?: string;
  command: string[];
  /**
   * Where the run saves itself after every slice of samples, and what an interrupted run
   * with these settings had finished. Absent: nothing is saved, and every pair's samples
   * are evaluated in one go.
   */
  saved?: { dir: string; state: RunState<unknown>; prior: RunResult[] };
}

/** A pair's progress over all its samples (those an interrupted run finished included). */
export interface PairProgress extends Progress {
  model: string;
  attack: string;
  /** Samples (times budgets) per second evaluated since the pair started in this process. */
  rate: number;
}

/** What a run reports as it goes, for a status line. */
export interface RunHooks {
  onLoadingData?(dataset: string): void;
  onPairStart?(pair: { model: string; attack: string }): void;
  onProgress?(p: PairProgress): void;
  onSparsity?(model: string): void;
  /** The pair's samples are evaluated (its result is assembled next). */
  onPairEvaluated?(pair: { model: string; attack: string; samples: number; durationMs: number }): void;
}
