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
import { earlierOutputs, lockOutDir, moveEarlierOutputs, prepareOutDir, type OutDirLock } from '../runtime/out-dir.js';
import { parseGrid, resolveParams } from '../core/parse.js';
import { UsageError } from '../core/errors.js';
import type { Origin } from '../core/settings.js';
import { RECORDED_RUN_SETTINGS, smoothingOf } from './run-settings.js';
import { robenchVersion } from '../core/paths.js';
import type { ReporterPlugin, RunResult } from '../core/plugin-api.js';
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
  /** Save the examples of the first n samples (true: all) per budget as .npy files. */
  saveAdversarial?: number | true;
  shard?: Shard;
  /** Worker threads (default: one per core on single-threaded backends). */
  workers?: number;
  /** Evaluate each model's smoothed classifier with this noise sigma (src/evaluation/smoothed-model.ts), voting over `smoothN` draws. */
  smooth?: number;
  smoothN?: number;
  /** Plugin specifiers from --plugin, for the workers to load too. */
  plugins: string[];
  /** Raw values of attack options, keyed by camelCase flag name. */
  attackOptions: Record<string, unknown>;
  /** Where the attack options came from, for their errors (default: flags). */
  attackOrigin?: Origin;
  command: string[];
}

export interface PlannedRun {
  plan: RunPlan & { saved: NonNullable<RunPlan['saved']> };
  outDir: string;
  reporters: ReporterPlugin[];
  /** Whether results.json is written as the run goes (the json reporter is one of them): only then can it resume. */
  resumable: boolean;
  /** The output folder's lock, held until the reports are written. */
  lock: OutDirLock;
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
  const { attacks, modelIds, reporters, resumable, settings, grid, smoothing } = checkRunSpec(registry, spec);
  const outDir = await prepareOutDir(spec.out ?? outDirName(new Date(), modelIds, attacks.map((a) => a.id)), { claim: spec.out === undefined });
  // Before reading or touching anything in the folder: a second run there is refused, not interleaved.
  const lock = lockOutDir(outDir, { command: spec.command.slice(1).join(' ') });
  try {
    const prior = opts.resume ? readRunRecord(outDir).results : [];
    const stale = opts.resume ? [] : earlierOutputs(outDir);
    const backend = await useBackend(spec.backend);
    const pairs = modelIds.flatMap((m) => attacks.map((a) => `${m} / ${a.id}`));
    const { attackOrigin: _origin, ...recorded } = spec;
    const state = new RunState<RunSpec>(outDir, robenchVersion, { ...recorded, out: outDir }, pairs, resumable, async () => {
      if (stale.length === 0) return;
      const aside = await moveEarlierOutputs(outDir, stale);
      console.error(`robench: ${outDir} held an earlier run's ${stale.join(', ')}; moved them to ${aside} (use a new --out to keep runs apart)`);
    });
    return planned(registry, spec, { modelIds, settings, grid, smoothing, backend, outDir, reporters, resumable, lock, state, prior });
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The spec's ids looked up and its params and grid checked, touching no file: what `robench run --dry-run` checks too. */
export function checkRunSpec(registry: Registry, spec: RunSpec) {
  const attacks = idList(spec.attack).map((id) => registry.get('attack', id));
  const modelIds = idList(spec.model);
  const reporters = spec.format.split(',').map((f) => registry.get('reporter', f.trim()));
  const resumable = reporters.some((r) => r.id === 'json');
  const settings = attacks.map((attack) => ({ attack, params: resolveParams(attack, spec.attackOptions, { origin: spec.attackOrigin }) }));
  const grid = spec.eps === undefined ? undefined : parseGrid(spec.eps);
  const smoothing = smoothingOf(spec, { source: 'flag' });
  for (const id of modelIds) if (!looksLikeModelPath(id)) registry.get('model', id);
  if (spec.dataset !== undefined) registry.get('dataset', spec.dataset);
  return { attacks, modelIds, reporters, resumable, settings, grid, smoothing };
}

interface PlanParts {
  modelIds: string[];
  settings: RunPlan['attacks'];
  grid: number[] | undefined;
  smoothing: ReturnType<typeof smoothingOf>;
  backend: RunPlan['backend'];
  outDir: string;
  reporters: ReporterPlugin[];
  resumable: boolean;
  lock: OutDirLock;
  state: RunState<RunSpec>;
  prior: RunResult[];
}

function planned(registry: Registry, spec: RunSpec, parts: PlanParts): PlannedRun {
  const { modelIds, settings, grid, smoothing, backend, outDir, reporters, resumable, lock, state, prior } = parts;
  const smooth = smoothing ? { smooth: { ...smoothing, seed: spec.seed } } : {};
  const plan = {
    models: modelIds.map((id) => {
      const modelSpec = { model: id, dataset: spec.dataset, inputRange: spec.inputRange, offline: spec.offline, ...smooth };
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
    ...(spec.saveAdversarial ? { saveAdversarial: spec.saveAdversarial } : {}),
    command: spec.command,
    saved: { dir: outDir, state, prior },
  };
  return { plan, outDir, reporters, resumable, lock };
}

/** The settings of the interrupted run in `dir`, to evaluate what it left; only the thread count may change. */
export function resumeSpec(dir: string, now: { workers?: number }): RunSpec {
  const { record } = readRunRecord<Record<string, unknown>>(dir);
  return { ...recordedSpec(record.options, join(dir, 'run.json')), out: dir, workers: now.workers ?? (record.options.workers as number | undefined) };
}

/**
 * run.json's settings checked by the same declarations as the flags that gave them: a
 * hand-edited or corrupted file (a shard of 5/2, a batch of -5) is a usage error naming the
 * file and field, not a run outside the selection or out of memory.
 */
export function recordedSpec(options: Record<string, unknown>, file: string): RunSpec {
  const origin: Origin = { source: 'file', file, field: 'options' };
  const known = new Map<string, unknown>();
  for (const setting of RECORDED_RUN_SETTINGS) {
    const value = options[setting.name];
    const parsed = value === undefined || value === null ? setting.default : setting.parse(value, origin);
    if (parsed !== undefined) known.set(setting.name, parsed);
  }
  for (const name of ['model', 'attack', 'format'] as const) {
    if (!known.has(name)) throw new UsageError(`${file}: "options.${name}" is missing`, 'the file was edited or truncated: start the run again without --resume');
  }
  const strings = (field: string): string[] => {
    const v = options[field] ?? [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new UsageError(`${file}: "options.${field}" must be an array of strings`, 'the file was edited: start the run again without --resume');
    return v as string[];
  };
  const attackOptions = options.attackOptions ?? {};
  if (typeof attackOptions !== 'object' || attackOptions === null || Array.isArray(attackOptions)) {
    throw new UsageError(`${file}: "options.attackOptions" must be an object`, 'the file was edited: start the run again without --resume');
  }
  return { ...(Object.fromEntries(known) as unknown as RunSpec), plugins: strings('plugins'), command: strings('command'), attackOptions: attackOptions as Record<string, unknown>, attackOrigin: origin };
}

/** Writes every report of the finished run and marks run.json complete; returns the files written. */
export async function writeReports(run: PlannedRun, results: ReportRun[], log: (line: string) => void): Promise<string[]> {
  const written = new Set<string>();
  for (const reporter of run.reporters) for (const f of await reporter.write(results, { outDir: run.outDir, log })) written.add(f);
  await run.plan.saved.state.complete();
  run.lock.release();
  return [...written];
}
