/** `robench sparsity`: per-block activation sparsity of zoo models on clean test data. */
import Table from 'cli-table3';
import { measureSparsity } from '../activation-stats.js';
import { writeFileAtomic } from '../atomic.js';
import { useBackend, type BackendName } from '../backends.js';
import { UsageError } from '../errors.js';
import { loadModel } from '../load-model.js';
import type { SparsityLayer } from '../plugin-api.js';
import type { Registry } from '../registry.js';

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

export async function sparsityCommand(registry: Registry, opts: SparsityCommandOptions): Promise<void> {
  await useBackend(opts.backend);
  const report: { model: string; dataset: string; samples: number; layers: SparsityLayer[] }[] = [];
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
  const table = new Table({ head: ['model', 'block', 'zeros', 'Hoyer', 'top-K mean', 'rest mean', 'top-K / rest'], style: { head: [], border: [] } });
  for (const r of report) {
    for (const l of r.layers) {
      table.push([`${r.model} [${r.dataset}]`, l.name, `${(100 * l.zeroFraction).toFixed(1)}%`, l.hoyer.toFixed(3), l.topKMean.toFixed(3), l.restMean.toFixed(4), (l.topKMean / l.restMean).toFixed(1)]);
    }
  }
  console.log(table.toString());
}
