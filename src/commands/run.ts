/** `robench run`: evaluate a model under an attack over a grid of perturbation sizes. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import ora from 'ora';
import { useBackend, type BackendName } from '../backends.js';
import { loadModel } from '../load-model.js';
import { evaluateInWorkers } from '../worker-pool.js';
import { evaluateCurve, type Progress } from '../engine.js';
import { checkBudgets, parseGrid, resolveParams } from '../parse.js';
import { assetPath } from '../paths.js';
import { measureSparsity } from '../activation-stats.js';
import { buildGallery, galleryBudgets } from '../gallery.js';
import type { ReportRun } from '../html-report.js';
import type { AttackPlugin, SparsityLayer } from '../plugin-api.js';
import type { Registry } from '../registry.js';
import { shardRange, type Shard } from '../shards.js';
import { inputRangeHint, looksLikeModelPath } from '../user-model.js';

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
}

export const robenchVersion: string = (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;

/** Native and GPU backends use every core already; wasm and cpu compute on one. */
const defaultWorkers = (backend: string): number => (backend === 'wasm' || backend === 'cpu' ? availableParallelism() : 1);

const timestamp = (d: Date): string => d.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);

function formatEta(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const outDirName = (started: Date, models: string[], attacks: string[]): string =>
  join('robench-results', `${timestamp(started)}-${models.join('+').replace(/[^\w.+-]+/g, '_')}-${attacks.join('+')}`);

/** Splits `a,b` into ids; a model file path or URL stays whole. */
const idList = (text: string): string[] => (looksLikeModelPath(text) ? [text] : text.split(',').map((s) => s.trim()).filter(Boolean));

/**
 * Evaluates every model under every attack, on the same samples, and writes one
 * combined report. Finished pairs are saved as they complete, so a failure
 * later in the run keeps them.
 */
export async function runCommand(registry: Registry, opts: RunOptions): Promise<ReportRun[]> {
  const attacks: AttackPlugin[] = idList(opts.attack).map((id) => registry.get('attack', id));
  const modelIds = idList(opts.model);
  const reporters = opts.format.split(',').map((f) => registry.get('reporter', f.trim()));
  const checkpoint = reporters.find((r) => r.id === 'json');
  const wantsGallery = reporters.some((r) => r.id === 'html');
  const paramsOf = new Map(attacks.map((a) => [a.id, resolveParams(a.id, a.params, opts.attackOptions)] as const));
  const explicitGrid = opts.eps === undefined ? undefined : parseGrid(opts.eps);
  const backend = await useBackend(opts.backend);
  const startedAt = new Date();
  const outDir = opts.out ?? outDirName(startedAt, modelIds, attacks.map((a) => a.id));
  const ctx = { outDir, log: (line: string) => console.log(line) };
  const results: ReportRun[] = [];
  const spinner = ora({ stream: process.stderr });
  for (const modelId of modelIds) {
    const { model, dataset } = await loadModel(registry, { ...opts, model: modelId });
    try {
      for (const attack of attacks) {
        const params = paramsOf.get(attack.id)!;
        const source = explicitGrid ? '--eps' : `the default grid of ${attack.id}`;
        checkBudgets(explicitGrid ?? attack.defaultGrid(dataset.id, params), attack.budget(params), dataset.imageShape, source);
      }
      spinner.start(`loading ${dataset.id} test data`);
      const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
      let sparsity: SparsityLayer[] | undefined;
      for (const attack of attacks) {
        const params = paramsOf.get(attack.id)!;
        const grid = explicitGrid ?? attack.defaultGrid(dataset.id, params);
        const t0 = Date.now();
        const onProgress = (p: Progress): void => {
          const eta = p.done > 0 ? formatEta(((Date.now() - t0) * (p.total - p.done)) / p.done) : '?';
          const what = p.phase === 'clean' ? 'clean accuracy' : `${attack.id} at ${p.perturbation.toPrecision(3)}`;
          spinner.text = `${model.id}: ${what} · ${Math.floor((100 * p.done) / p.total)}% · ${eta} left`;
        };
        const [start, end] = opts.shard ? shardRange(opts.shard, data.count) : [0, data.count];
        const indices = Array.from({ length: end - start }, (_, i) => start + i);
        const workers = Math.min(opts.workers ?? defaultWorkers(backend.name), Math.ceil(indices.length / opts.batch));
        const evaluateHere = (chunk: number[], onChunkProgress: (p: Progress) => void) =>
          evaluateCurve({ model, attack, params, data, grid, indices: chunk, batchSize: opts.batch, seed: opts.seed, sweep: opts.sweep, onProgress: onChunkProgress });
        const curve =
          workers > 1
            ? await evaluateInWorkers(
                {
                  ...opts,
                  model: modelId,
                  plugins: opts.plugins,
                  cwd: process.cwd(),
                  backend: backend.name as BackendName,
                  attack: attack.id,
                  params,
                  grid,
                  indices,
                  batchSize: opts.batch,
                },
                workers,
                onProgress,
                evaluateHere,
              )
            : await evaluateHere(indices, onProgress);
        spinner.text = `${model.id}: activation sparsity`;
        sparsity ??= await measureSparsity(model, data, indices, opts.batch);
        spinner.succeed(`${model.id} under ${attack.id}: ${indices.length} samples in ${formatEta(Date.now() - t0)}`);
        const rangeHint = inputRangeHint(model, curve.cleanAccuracy);
        if (rangeHint) console.error(`robench: hint: ${rangeHint}`);
        const gallery = wantsGallery
          ? await buildGallery({ model, attack, params, data, positions: indices.slice(0, 4), budgets: galleryBudgets(grid), seed: opts.seed, classNames: dataset.classNames })
          : undefined;
        results.push({
          robench: robenchVersion,
          model: { id: model.id, dataset: model.dataset, weightsSha256: model.weightsSha256, info: model.info },
          dataset: { id: dataset.id, split: 'test', samples: indices.length, source: data.source },
          attack: { id: attack.id, params, budget: attack.budget(params), perturbation: attack.perturbationLabel?.(params) ?? 'eps' },
          backend: backend.name,
          ...(backend.detail ? { backendDetail: backend.detail } : {}),
          seed: opts.seed,
          sweep: opts.sweep && attack.budget(params) !== null,
          ...(opts.shard ? { shard: { ...opts.shard, start, end } } : {}),
          ...curve,
          ...(sparsity ? { sparsity } : {}),
          ...(gallery ? { gallery } : {}),
          durationMs: Date.now() - t0,
          startedAt: new Date(t0).toISOString(),
          command: opts.command,
        });
        await checkpoint?.write(results, ctx);
      }
    } catch (err) {
      if (spinner.isSpinning) spinner.fail();
      throw err;
    } finally {
      model.dispose();
    }
  }
  const written = new Set<string>();
  for (const reporter of reporters) for (const f of await reporter.write(results, ctx)) written.add(f);
  if (written.size > 0) console.error(`wrote ${[...written].join(', ')}`);
  return results;
}
