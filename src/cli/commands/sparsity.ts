/** `robench sparsity`: per-block activation sparsity of zoo models on clean test data. */
import { measureSparsity } from '../../analysis/activation-stats.js';
import { writeFileAtomic } from '../../runtime/atomic.js';
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { UsageError } from '../../core/errors.js';
import { loadModel } from '../../evaluation/load-model.js';
import type { SparsityLayer } from '../../core/plugin-api.js';
import type { Registry } from '../../core/registry.js';
import { disparity } from '../../report/sparsity-format.js';
import { fitTable } from '../../report/terminal-table.js';
import type { CommandModule } from '../command.js';
import { checkModelAndDataset } from '../check-ids.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

export interface SparsityCommandOptions {
  models: string[];
  dataset?: string;
  samples?: number;
  batch: number;
  backend: BackendName;
  dataDir?: string;
  json: boolean;
  out?: string;
}

export interface SparsityReport {
  model: string;
  dataset: string;
  samples: number;
  layers: SparsityLayer[];
}

/**
 * The report as a table: each block's output, then its ReLU output before the threshold. A
 * block without a threshold has no other activation: its output's figures fill both.
 */
export function sparsityTable(report: SparsityReport[], width?: number): string {
  const head = ['model', 'block', 'zeros', 'Hoyer', 'top-K mean', 'rest mean', 'top-K / rest', 'zeros pre-threshold', 'Hoyer pre-threshold', 'top-K / rest pre-threshold'];
  const rows = report.flatMap((r) =>
    r.layers.map((l) => {
      const pre = l.preThreshold ?? l;
      return [
        `${r.model} [${r.dataset}]`,
        l.name,
        `${(100 * l.zeroFraction).toFixed(1)}%`,
        l.hoyer.toFixed(3),
        l.topKMean.toFixed(3),
        l.restMean.toFixed(4),
        disparity(l.topKMean, l.restMean),
        `${(100 * pre.zeroFraction).toFixed(1)}%`,
        pre.hoyer.toFixed(3),
        disparity(pre.topKMean, pre.restMean),
      ];
    }),
  );
  return fitTable(head, rows, width);
}

export async function sparsityCommand(registry: Registry, opts: SparsityCommandOptions): Promise<void> {
  await useBackend(opts.backend);
  const report: SparsityReport[] = [];
  for (const id of opts.models) {
    const { model, dataset } = await loadModel(registry, { model: id, dataset: opts.dataset, inputRange: '0,1' });
    try {
      const data = await dataset.load({ split: 'test', samples: opts.samples, dataDir: opts.dataDir });
      const layers = await measureSparsity(model, data, Array.from({ length: data.count }, (_, i) => i), opts.batch);
      if (!layers) throw new UsageError(`model ${id} does not expose its block activations`, 'sparsity is measured on zoo models');
      report.push({ model: model.id, dataset: model.dataset, samples: data.count, layers });
    } finally {
      model.dispose();
    }
  }
  if (opts.out) await writeFileAtomic(opts.out, `${JSON.stringify(report, null, 2)}\n`);
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(sparsityTable(report));
  if (report.some((r) => r.layers.some((l) => l.preThreshold))) {
    console.log("pre-threshold: a HaH block's ReLU output before its fractional threshold, which forces about 80% zeros; blocks without a threshold repeat their output's figures");
  }
}

export const sparsityModule: CommandModule = {
  name: ['sparsity'],
  description: 'per-block activation sparsity (zeros, Hoyer, top-K disparity) on clean test data',
  settings: [
    { ...RUN_SETTINGS.model, default: 'baseline,hebbian', valueName: '<ids>', description: 'zoo model ids, comma-separated' },
    { ...RUN_SETTINGS.dataset, description: "dataset (default: each model's own)" },
    { ...RUN_SETTINGS.samples, description: 'test samples (default: every bundled one)' },
    RUN_SETTINGS.batch,
    RUN_SETTINGS.dataDir,
    booleanSetting({ name: 'json', description: 'machine-readable output' }),
    textSetting({ name: 'out', valueName: '<file>', description: 'also write the figures to this JSON file' }),
    RUN_SETTINGS.backend,
  ],
  check: ({ values: v, registry }) => checkModelAndDataset(registry, v, { list: true }),
  run: ({ values: v, registry }) =>
    sparsityCommand(registry, {
      models: String(v.get('model')).split(',').map((m) => m.trim()),
      dataset: v.get('dataset') as string | undefined,
      samples: v.get('samples') as number | undefined,
      batch: v.get('batch') as number,
      backend: v.get('backend') as BackendName,
      dataDir: v.get('dataDir') as string | undefined,
      json: v.get('json') === true,
      out: v.get('out') as string | undefined,
    }),
};
