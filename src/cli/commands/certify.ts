/**
 * `robench certify`: randomized smoothing (Cohen, Rosenfeld & Kolter 2019) of a model, certified
 * accuracy against l2 radius at each noise level sigma (src/evaluation/smoothing.ts states the
 * maths). Each sigma is a run of results.json whose curve has the radius on the x-axis
 * (src/report/certify-results.ts), so the reporters and `robench report` show it like any curve.
 *
 * `--shard i/n` certifies the i-th of n slices of the images, as `robench run --shard` evaluates
 * one (src/evaluation/shards.ts): each image draws its noise from its own stream, so `robench
 * report` merges the shards' folders into the runs, per sigma, that one command gives.
 *
 * Example:
 *   robench certify --model baseline --sigma 0.12,0.25,0.5 --n0 100 --n 1000 --alpha 0.001 --samples 100
 */
import { join } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { boundsText, inBounds, intSetting, numberFrom, numberSetting, originLabel, shown, type Bounds, type Setting } from '../../core/settings.js';
import { certifySamples, defaultRadii } from '../../evaluation/certify.js';
import { abstentions, smoothedCorrect } from '../../evaluation/smoothing-record.js';
import { loadModel } from '../../evaluation/load-model.js';
import { shardRange, shardRecord, type Shard } from '../../evaluation/shards.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import { robenchVersion } from '../../core/paths.js';
import type { Registry } from '../../core/registry.js';
import { certifyRun, type CertifyRun, type CertifyRunHeader } from '../../report/certify-results.js';
import type { DatasetSplit, LoadedModel } from '../../core/plugin-api.js';
import { certifyTable } from '../../report/certify-table.js';
import { formatDuration, statusLine } from '../../report/status-line.js';
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { earlierOutputs, lockOutDir, moveEarlierOutputs, prepareOutDir } from '../../runtime/out-dir.js';
import type { CommandModule } from '../command.js';
import { checkModelAndDataset } from '../check-ids.js';

/** A million draws take 10 to 40 minutes per image and sigma on one CPU core (MNIST, CIFAR-10 zoo CNNs on wasm): more is a usage error, not a wait. */
export const MAX_DRAWS = 1_000_000;

/** A comma-separated list of numbers (or fractions) within bounds, e.g. the noise levels. */
function numberListSetting(decl: { name: string; description: string; valueName: string; example: string } & Bounds): Setting<number[]> {
  return {
    name: decl.name,
    valueName: decl.valueName,
    description: decl.description,
    parse(value, origin) {
      const items = Array.isArray(value) ? value : typeof value === 'string' || typeof value === 'number' ? String(value).split(',') : [];
      const numbers = items.map(numberFrom);
      if (items.length === 0 || items.length > 100 || !numbers.every((v) => Number.isFinite(v) && inBounds(decl, v))) {
        throw new UsageError(`${originLabel(origin, decl.name)} ${shown(value)} must be 1 to 100 comma-separated numbers, each ${boundsText(decl)}`, `e.g. ${decl.example}`);
      }
      return [...new Set(numbers)].sort((a, b) => a - b);
    },
  };
}

export const CERTIFY_SETTINGS = {
  sigma: numberListSetting({ name: 'sigma', valueName: '<list>', above: 0, max: 100, description: 'noise levels: the standard deviation of the Gaussian noise, in [0, 1] pixel units, comma-separated', example: '--sigma 0.12,0.25,0.5' }),
  n0: intSetting({ name: 'n0', min: 1, max: MAX_DRAWS, default: 100, description: 'noise draws per image that choose the class' }),
  n: intSetting({ name: 'n', min: 1, max: MAX_DRAWS, default: 1000, description: "noise draws per image that bound the class's probability (Cohen et al.: 100,000)" }),
  alpha: numberSetting({ name: 'alpha', above: 0, below: 1, default: 0.001, description: 'the chance that a certificate is wrong' }),
  radius: numberListSetting({ name: 'radius', valueName: '<list>', min: 0, max: 1000, description: 'the l2 radii to report certified accuracy at (default: round steps up to the largest n draws can certify)', example: '--radius 0,0.25,0.5,0.75,1' }),
} as const;

export interface CertifyOptions {
  model: string;
  dataset?: string;
  sigmas: number[];
  n0: number;
  n: number;
  alpha: number;
  radii?: number[];
  samples?: number;
  /** Certify only this slice of the samples. */
  shard?: Shard;
  seed: number;
  batch: number;
  backend: BackendName;
  inputRange: string;
  dataDir?: string;
  offline: boolean;
  out?: string;
  format: string;
  progress?: boolean;
  command: string[];
}

const timestamp = (d: Date): string => d.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);

/** The images of a shard: positions [start, end) of the loaded data, which are their dataset indices. */
function slice(data: DatasetSplit, start: number, end: number): DatasetSplit {
  const pixels = data.shape[0] * data.shape[1] * data.shape[2];
  return { ...data, images: data.images.subarray(start * pixels, end * pixels), labels: data.labels.subarray(start, end), count: end - start };
}

/** One run per sigma on the loaded data (its slice `indices`), each line of progress on the status line. */
async function certifyEach(model: LoadedModel, data: DatasetSplit, indices: number[], header: Omit<CertifyRunHeader, 'durationMs' | 'startedAt'>, opts: CertifyOptions): Promise<CertifyRun[]> {
  const radii = opts.radii ?? defaultRadii(opts.sigmas, opts.n, opts.alpha);
  const status = statusLine(opts.progress);
  const runs: CertifyRun[] = [];
  try {
    for (const sigma of opts.sigmas) {
      const t0 = Date.now();
      const record = await certifySamples(model, data, indices, {
        sigma, n0: opts.n0, n: opts.n, alpha: opts.alpha, seed: opts.seed, batch: opts.batch,
        onSample: (done) => status.update(`sigma ${sigma}: ${done} of ${data.count} images certified`, ((Date.now() - t0) / done) * (data.count - done)),
      });
      const durationMs = Date.now() - t0;
      status.succeed(`sigma ${sigma}: ${data.count} images in ${formatDuration(durationMs)}, ${abstentions(record)} abstained, smoothed clean accuracy ${((100 * smoothedCorrect(record)) / data.count).toFixed(1)}%`);
      runs.push(certifyRun({ ...header, durationMs, startedAt: new Date(t0).toISOString() }, record, radii));
    }
  } finally {
    status.stop();
  }
  return runs;
}

/** Certifies the first `samples` test images at each sigma, prints the table, writes the reports, and returns the runs. */
export async function certifyCommand(registry: Registry, opts: CertifyOptions): Promise<CertifyRun[]> {
  const reporters = opts.format.split(',').map((f) => registry.get('reporter', f.trim()));
  const outDir = await prepareOutDir(opts.out ?? join('robench-results', `${timestamp(new Date())}-${opts.model.replace(/[^\w.+-]+/g, '_')}-certify`), { claim: opts.out === undefined });
  const lock = lockOutDir(outDir, { command: opts.command.slice(1).join(' ') });
  try {
    const earlier = earlierOutputs(outDir);
    if (earlier.length > 0) console.error(`robench: an earlier run's files moved to ${await moveEarlierOutputs(outDir, earlier)}`);
    const backend = await useBackend(opts.backend);
    const { model, dataset } = await loadModel(registry, { model: opts.model, dataset: opts.dataset, inputRange: opts.inputRange, offline: opts.offline });
    let runs: CertifyRun[];
    try {
      const all = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir, offline: opts.offline });
      const [start, end] = opts.shard ? shardRange(opts.shard, all.count) : [0, all.count];
      const data = slice(all, start, end);
      runs = await certifyEach(model, data, Array.from({ length: data.count }, (_, i) => start + i), {
        robench: robenchVersion,
        model: { id: model.id, dataset: model.dataset, weightsSha256: model.weightsSha256, info: model.info },
        dataset: { id: dataset.id, split: 'test', samples: data.count, source: data.source },
        backend: backend.name,
        ...(backend.detail ? { backendDetail: backend.detail } : {}),
        seed: opts.seed,
        ...(opts.shard ? { shard: shardRecord(opts.shard, all.count) } : {}),
        command: opts.command,
      }, opts);
    } finally {
      model.dispose();
    }
    console.log(certifyTable(runs));
    console.log('certified: the share of images whose certificate names the true class with at least that l2 radius; smoothed clean: PREDICT right (abstentions count as wrong)');
    for (const reporter of reporters) await reporter.write(runs, { outDir, log: (line) => console.log(line) });
    console.log(`results in ${outDir}`);
    return runs;
  } finally {
    lock.release();
  }
}

export const certifyModule: CommandModule = {
  name: ['certify'],
  description: 'certified l2 robustness by randomized smoothing (Cohen et al. 2019): certified accuracy against radius at each noise level',
  settings: [
    { ...RUN_SETTINGS.model, default: undefined, valueName: '<id or model.json>', description: 'a zoo model id, or the path/URL of a TensorFlow.js model.json' },
    { ...RUN_SETTINGS.dataset, description: "dataset (default: the model's own)" },
    CERTIFY_SETTINGS.sigma,
    CERTIFY_SETTINGS.n0,
    CERTIFY_SETTINGS.n,
    CERTIFY_SETTINGS.alpha,
    CERTIFY_SETTINGS.radius,
    { ...RUN_SETTINGS.samples, default: 100, description: 'test samples to certify' },
    { ...RUN_SETTINGS.shard, description: 'certify only the i-th of n disjoint slices of the --samples images (merge with robench report)' },
    { ...RUN_SETTINGS.batch, default: 500, description: 'noisy copies per forward pass (the results do not depend on it)' },
    RUN_SETTINGS.seed,
    RUN_SETTINGS.backend,
    RUN_SETTINGS.inputRange,
    RUN_SETTINGS.dataDir,
    RUN_SETTINGS.offline,
    { ...RUN_SETTINGS.out, description: 'output folder (default: robench-results/<timestamp>-<model>-certify/)' },
    { ...RUN_SETTINGS.format, default: 'json,csv,html', description: 'reporters, comma-separated, besides the certify table (`robench list reporters`)' },
    RUN_SETTINGS.progress,
  ],
  required: ['model', 'sigma'],
  check({ values: v, registry }) {
    checkModelAndDataset(registry, v);
    // An empty slice is a usage error before anything loads.
    const shard = v.get('shard') as Shard | undefined;
    const samples = v.get('samples') as number | undefined;
    if (shard && samples !== undefined) shardRange(shard, samples);
    for (const f of String(v.get('format')).split(',')) registry.get('reporter', f.trim());
  },
  async run({ values: v, registry, argv }) {
    await certifyCommand(registry, {
      model: String(v.get('model')),
      dataset: v.get('dataset') as string | undefined,
      sigmas: v.get('sigma') as number[],
      n0: v.get('n0') as number,
      n: v.get('n') as number,
      alpha: v.get('alpha') as number,
      radii: v.get('radius') as number[] | undefined,
      samples: v.get('samples') as number,
      shard: v.get('shard') as Shard | undefined,
      seed: v.get('seed') as number,
      batch: v.get('batch') as number,
      backend: v.get('backend') as BackendName,
      inputRange: String(v.get('inputRange')),
      dataDir: v.get('dataDir') as string | undefined,
      offline: v.get('offline') === true,
      out: v.get('out') as string | undefined,
      format: String(v.get('format')),
      progress: v.get('progress') as boolean | undefined,
      command: ['robench', ...argv],
    });
  },
};
