/** `robench run`: evaluate a model under an attack over a grid of perturbation sizes. */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { useBackend, type BackendName } from '../backends.js';
import { loadModel } from '../load-model.js';
import { evaluateInWorkers } from '../worker-pool.js';
import { evaluateCurve, type Progress } from '../engine.js';
import { checkBudgets, parseGrid, resolveParams } from '../parse.js';
import { robenchVersion } from '../paths.js';
import { resultHeader } from '../benchmark.js';
import { measureSparsity } from '../activation-stats.js';
import { buildGallery, galleryBudgets } from '../gallery.js';
import type { ReportRun } from '../html-report.js';
import type { AttackPlugin, SparsityLayer } from '../plugin-api.js';
import type { Registry } from '../registry.js';
import { shardRange, type Shard } from '../shards.js';
import { inputRangeHint, looksLikeModelPath } from '../user-model.js';
import { clearEarlierOutputs, earlierOutputs, prepareOutDir } from '../out-dir.js';
import { RunState, readRunRecord } from '../run-state.js';
import { combineCurves, type CountedCurve } from '../worker-pool.js';
import { formatDuration, statusLine } from '../status-line.js';
import { UsageError } from '../errors.js';
import type { RunResult } from '../plugin-api.js';

export interface RunOptions {
  model: string;
  attack: string;
  dataset?: string;
  eps?: string;
  samples?: number;
  batch: number;
  seed: number;
  backend: BackendName;
  out?: string;
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
  /** Show the status line (default: when stderr is a terminal). */
  progress?: boolean;
}

export { robenchVersion };

/** Native and GPU backends use every core already; wasm and cpu compute on one. */
const defaultWorkers = (backend: string): number => (backend === 'wasm' || backend === 'cpu' ? availableParallelism() : 1);

const timestamp = (d: Date): string => d.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);

const outDirName = (started: Date, models: string[], attacks: string[]): string =>
  join('robench-results', `${timestamp(started)}-${models.join('+').replace(/[^\w.+-]+/g, '_')}-${attacks.join('+')}`);

/** Splits `a,b` into ids; a model file path or URL stays whole. */
const idList = (text: string): string[] => (looksLikeModelPath(text) ? [text] : text.split(',').map((s) => s.trim()).filter(Boolean));

/**
 * Contiguous slices of a pair's samples, each evaluated whole before the next and saved: an
 * interrupt loses at most one slice. Large enough that worker start-up stays small against it.
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

/** `robench run --resume DIR`: the interrupted run's own settings, with only --workers and --no-progress taken from now. */
export function resumeOptions(dir: string, now: Pick<RunOptions, 'workers' | 'progress'>): RunOptions {
  const { record } = readRunRecord<RunOptions>(dir);
  return { ...record.options, out: dir, workers: now.workers ?? record.options.workers, progress: now.progress, resume: true } as RunOptions;
}

/**
 * Evaluates every model under every attack, on the same samples, and writes one
 * combined report. The output folder is prepared before anything loads; results.json
 * and run.json are saved after every slice of samples, so an interrupt or a failure
 * keeps what finished and `--resume` continues from there.
 */
export async function runCommand(registry: Registry, opts: RunOptions & { resume?: boolean }): Promise<ReportRun[]> {
  const attacks: AttackPlugin[] = idList(opts.attack).map((id) => registry.get('attack', id));
  const modelIds = idList(opts.model);
  const reporters = opts.format.split(',').map((f) => registry.get('reporter', f.trim()));
  const writesResults = reporters.some((r) => r.id === 'json');
  const wantsGallery = reporters.some((r) => r.id === 'html');
  const paramsOf = new Map(attacks.map((a) => [a.id, resolveParams(a.id, a.params, opts.attackOptions)] as const));
  const explicitGrid = opts.eps === undefined ? undefined : parseGrid(opts.eps);
  const startedAt = new Date();
  const outDir = await prepareOutDir(opts.out ?? outDirName(startedAt, modelIds, attacks.map((a) => a.id)), { claim: opts.out === undefined });
  const prior = opts.resume ? readRunRecord(outDir).results : [];
  if (!opts.resume) {
    const stale = earlierOutputs(outDir);
    if (stale.length > 0) {
      console.error(`robench: ${outDir} holds an earlier run's ${stale.join(', ')}; replacing them (use a new --out to keep them)`);
      await clearEarlierOutputs(outDir, stale);
    }
  }
  const backend = await useBackend(opts.backend);
  const ctx = { outDir, log: (line: string) => console.log(line) };
  const pairs = modelIds.flatMap((m) => attacks.map((a) => `${m} / ${a.id}`));
  const { resume: _resume, ...settings } = opts;
  const state = new RunState<RunOptions>(outDir, robenchVersion, { ...settings, out: outDir }, pairs, writesResults);
  const status = statusLine(opts.progress);
  let current = '';
  const onSignal = (signal: NodeJS.Signals): void => {
    status.stop();
    state.markInterruptedSync(signal);
    const left = state.pairs.slice(state.finished);
    const saved = writesResults ? `finished part saved in ${join(outDir, 'results.json')} (marked "complete": false)` : 'nothing saved: add json to --format to make a run resumable';
    console.error(`robench: interrupted by ${signal} during ${current}; ${state.finished} of ${state.pairs.length} model/attack pairs finished, left: ${left.join(', ')}; ${saved}`);
    if (writesResults) console.error(`robench: continue with: robench run --resume ${outDir}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results: ReportRun[] = [];
  try {
    await state.save(results);
    for (const modelId of modelIds) {
      const pending = attacks.filter((_, k) => results.length + k >= prior.length || prior[results.length + k]!.pending);
      if (pending.length === 0) {
        results.push(...prior.slice(results.length, results.length + attacks.length).map(({ complete: _c, ...r }) => r));
        continue;
      }
      const { model, dataset } = await loadModel(registry, { ...opts, model: modelId });
      try {
        for (const attack of attacks) {
          const params = paramsOf.get(attack.id)!;
          const source = explicitGrid ? '--eps' : `the default grid of ${attack.id}`;
          checkBudgets(explicitGrid ?? attack.defaultGrid(dataset.id, params), attack.budget(params), dataset.imageShape, source);
        }
        status.update(`loading ${dataset.id} test data`);
        const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
        let sparsity: SparsityLayer[] | undefined;
        for (const attack of attacks) {
          const before = prior[results.length];
          if (before && !before.pending) {
            const { complete: _c, ...finished } = before;
            results.push(finished);
            continue;
          }
          if (before && (before.model.id !== model.id || before.attack.id !== attack.id)) {
            throw new UsageError(`${outDir}/results.json does not match its run.json (${before.model.id} / ${before.attack.id} where ${model.id} / ${attack.id} was expected)`, 'start the run again without --resume');
          }
          current = `${model.id} under ${attack.id}`;
          const params = paramsOf.get(attack.id)!;
          const grid = explicitGrid ?? attack.defaultGrid(dataset.id, params);
          const t0 = Date.now();
          const [start, end] = opts.shard ? shardRange(opts.shard, data.count) : [0, data.count];
          const indices = Array.from({ length: end - start }, (_, i) => start + i);
          const earlier = finishedPart(before);
          const todo = earlier ? indices.filter((i) => !earlier.done.has(i)) : indices;
          const threads = Math.max(1, Math.min(opts.workers ?? defaultWorkers(backend.name), Math.ceil(todo.length / opts.batch)));
          const parts: { curve: CountedCurve; samples: number }[] = earlier ? [earlier] : [];
          const base = {
            ...resultHeader({ model, attack, params, backend, seed: opts.seed, sweep: opts.sweep }),
            ...(opts.shard ? { shard: { ...opts.shard, start, end } } : {}),
            startedAt: new Date(t0).toISOString(),
            command: opts.command,
          };
          const evaluated = (): number => parts.reduce((n, p) => n + p.samples, 0);
          for (const slice of slices(todo, opts.batch, threads)) {
            const offset = evaluated();
            const onProgress = (p: Progress): void => {
              const done = offset * (p.total / slice.length) + p.done;
              const total = (p.total / slice.length) * indices.length;
              const rate = (p.done / Math.max(Date.now() - t0, 1)) * 1000;
              const what = p.phase === 'clean' ? 'clean accuracy' : `${attack.id} at ${p.perturbation.toPrecision(3)}`;
              status.update(`${model.id}: ${what} · ${Math.floor((100 * done) / total)}% · ${rate.toFixed(0)} samples/s · ${formatDuration(((total - done) / Math.max(rate, 1e-9)) * 1000)} left`);
            };
            const evaluateHere = (chunk: number[], onChunkProgress: (p: Progress) => void) =>
              evaluateCurve({ model, attack, params, data, grid, indices: chunk, batchSize: opts.batch, seed: opts.seed, sweep: opts.sweep, onProgress: onChunkProgress });
            const workers = Math.min(threads, Math.ceil(slice.length / opts.batch));
            const curve =
              workers > 1
                ? await evaluateInWorkers(
                    { ...opts, model: modelId, plugins: opts.plugins, cwd: process.cwd(), backend: backend.name as BackendName, attack: attack.id, params, grid, indices: slice, batchSize: opts.batch, expect: { weightsSha256: model.weightsSha256, dataSha256: data.source.sha256 } },
                    workers,
                    onProgress,
                    evaluateHere,
                  )
                : await evaluateHere(slice, onProgress);
            parts.push({ curve, samples: slice.length });
            if (evaluated() < indices.length) {
              const partial = combineCurves(parts);
              await state.save(results, {
                ...base,
                dataset: { id: dataset.id, split: 'test', samples: evaluated(), source: data.source },
                ...partial,
                durationMs: Date.now() - t0,
                pending: { samples: indices.length - evaluated() },
              });
            }
          }
          const curve = combineCurves(parts);
          status.update(`${model.id}: activation sparsity`);
          sparsity ??= await measureSparsity(model, data, indices, opts.batch);
          status.succeed(`${model.id} under ${attack.id}: ${indices.length} samples in ${formatDuration(Date.now() - t0)}`);
          const rangeHint = inputRangeHint(model, curve.cleanAccuracy);
          if (rangeHint) console.error(`robench: hint: ${rangeHint}`);
          const gallery = wantsGallery
            ? await buildGallery({ model, attack, params, data, positions: indices.slice(0, 4), budgets: galleryBudgets(grid), seed: opts.seed, classNames: dataset.classNames })
            : undefined;
          results.push({
            ...base,
            dataset: { id: dataset.id, split: 'test', samples: indices.length, source: data.source },
            ...curve,
            ...(sparsity ? { sparsity } : {}),
            ...(gallery ? { gallery } : {}),
            durationMs: Date.now() - t0 + (before?.durationMs ?? 0),
          });
          await state.save(results);
        }
      } finally {
        model.dispose();
      }
    }
  } catch (err) {
    status.fail();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const written = new Set<string>();
  for (const reporter of reporters) for (const f of await reporter.write(results, ctx)) written.add(f);
  await state.complete();
  if (written.size > 0) console.error(`wrote ${[...written].join(', ')}`);
  return results;
}
