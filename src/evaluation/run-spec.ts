/**
 * A run as `robench run` specifies it, in settings run.json can hold: ids, a grid as text,
 * reporters. planRun turns it into a plan (src/evaluation/run-plan.ts) with its output folder prepared
 * and its state file started, before any model loads: a run that cannot write its results
 * fails in a second, not after an hour of attacks.
 */
import { join } from 'node:path';
import { useBackend, type BackendName } from '../runtime/backends.js';
import type { ReportRun } from './gallery.js';
import { loadModel } from './load-model.js';
import { clearEarlierOutputs, earlierOutputs, prepareOutDir } from '../runtime/out-dir.js';
import { parseGrid, resolveParams } from '../core/parse.js';
import { robenchVersion } from '../core/paths.js';
import type { ReporterPlugin } from '../core/plugin-api.js';
import type { Registry } from '../core/registry.js';
import type { RunPlan } from './run-plan.js';
import { RunState, readRunRecord } from './run-state.js';
import type { Shard } from './shards.js';
import { looksLikeModelPath } from './user-model.js';
import { defaultThreads } from '../runtime/worker-pool.js';

export interface RunSpec {
  /** Zoo ids, comma-separated, or one model file path or URL. */
  model: string;
  /** Attack ids, comma-separated. */
  attack: string;
  dataset?: string;
  /** A grid as `--eps` takes it. */
  eps?: string;
  samples?: number;
  batch: number;
  seed: number;
  backend: BackendName;
  /** Default: a new folder under robench-results/ named by the time, models and attacks. */
  out?: string;
  /** Reporter ids, comma-separated. */
  format: string;
  inputRange: string;
  dataDir?: string;
  offline?: boolean;
  sweep: boolean;
  shard?: Shard;
  /** Worker threads (default: one per core on single-threaded backends). */
  workers?: number;
  /** Plugin specifiers from --plugin, for the workers to load too. */
  plugins: string[];
  /** Raw values of attack options, keyed by camelCase flag name. */
  attackOptions: Record<string, unknown>;
  command: string[];
}

export interface PlannedRun {
  plan: RunPlan & { saved: NonNullable<RunPlan['saved']> };
  outDir: string;
  reporters: ReporterPlugin[];
  /** Whether results.json is written as the run goes (the json reporter is one of them): only then can it resume. */
  resumable: boolean;
}

const timestamp = (d: Date): string => d.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);

const outDirName = (started: Date, models: string[], attacks: string[]): string =>
  join('robench-results', `${timestamp(started)}-${models.join('+').replace(/[^\w.+-]+/g, '_')}-${attacks.join('+')}`);

/** Splits `a,b` into ids; a model file path or URL stays whole. */
const idList = (text: string): string[] => (looksLikeModelPath(text) ? [text] : text.split(',').map((s) => s.trim()).filter(Boolean));

/**
 * Resolves and checks the spec's ids and params, prepares the output folder (with `resume`:
 * reads what the interrupted run in it finished; without: replaces an earlier run's files
 * there) and switches to the backend. run.json records `spec` as given, so a caller's own
 * settings in it come back from `resumeSpec`.
 */
export async function planRun(registry: Registry, spec: RunSpec, opts: { resume?: boolean } = {}): Promise<PlannedRun> {
  const attacks = idList(spec.attack).map((id) => registry.get('attack', id));
  const modelIds = idList(spec.model);
  const reporters = spec.format.split(',').map((f) => registry.get('reporter', f.trim()));
  const resumable = reporters.some((r) => r.id === 'json');
  const settings = attacks.map((attack) => ({ attack, params: resolveParams(attack.id, attack.params, spec.attackOptions) }));
  const grid = spec.eps === undefined ? undefined : parseGrid(spec.eps);
  const outDir = await prepareOutDir(spec.out ?? outDirName(new Date(), modelIds, attacks.map((a) => a.id)), { claim: spec.out === undefined });
  const prior = opts.resume ? readRunRecord(outDir).results : [];
  if (!opts.resume) {
    const stale = earlierOutputs(outDir);
    if (stale.length > 0) {
      console.error(`robench: ${outDir} holds an earlier run's ${stale.join(', ')}; replacing them (use a new --out to keep them)`);
      await clearEarlierOutputs(outDir, stale);
    }
  }
  const backend = await useBackend(spec.backend);
  const pairs = modelIds.flatMap((m) => attacks.map((a) => `${m} / ${a.id}`));
  const state = new RunState<RunSpec>(outDir, robenchVersion, { ...spec, out: outDir }, pairs, resumable);
  const plan = {
    models: modelIds.map((id) => {
      const modelSpec = { model: id, dataset: spec.dataset, inputRange: spec.inputRange, offline: spec.offline };
      return { load: async () => ({ ...(await loadModel(registry, modelSpec)), owned: true }), spec: modelSpec };
    }),
    attacks: settings,
    grid,
    gridName: '--eps',
    backend,
    batch: spec.batch,
    seed: spec.seed,
    sweep: spec.sweep,
    samples: spec.samples,
    dataDir: spec.dataDir,
    offline: spec.offline,
    shard: spec.shard,
    workers: spec.workers ?? defaultThreads(backend.name),
    threads: { plugins: spec.plugins, cwd: process.cwd() },
    gallery: reporters.some((r) => r.id === 'html'),
    command: spec.command,
    saved: { dir: outDir, state, prior },
  };
  return { plan, outDir, reporters, resumable };
}

/** The settings of the interrupted run in `dir`, to evaluate what it left; only the thread count may change. */
export function resumeSpec<S extends RunSpec>(dir: string, now: { workers?: number }): S {
  const { record } = readRunRecord<S>(dir);
  return { ...record.options, out: dir, workers: now.workers ?? record.options.workers };
}

/** Writes every report of the finished run and marks run.json complete; returns the files written. */
export async function writeReports(run: PlannedRun, results: ReportRun[], log: (line: string) => void): Promise<string[]> {
  const written = new Set<string>();
  for (const reporter of run.reporters) for (const f of await reporter.write(results, { outDir: run.outDir, log })) written.add(f);
  await run.plan.saved.state.complete();
  return [...written];
}
