/** The images a trainer learns from: the dataset plugin's files, or data a test hands over in memory. */
import { createRegistry } from '../core/registry.js';
import type { DatasetPlugin, DatasetSplit } from '../core/plugin-api.js';

export interface TrainingData<P extends Pick<DatasetPlugin, 'id' | 'imageShape' | 'classNames'> = Pick<DatasetPlugin, 'id' | 'imageShape' | 'classNames'>> {
  plugin: P;
  train: DatasetSplit;
  test: DatasetSplit;
}

/** The training split (its first `samples` images) and the whole test split of a registered dataset. */
export async function loadTrainingData(opts: { dataset: string; samples?: number; dataDir?: string }): Promise<TrainingData<DatasetPlugin>> {
  const plugin = (await createRegistry()).get('dataset', opts.dataset);
  const train = await plugin.load({ split: 'train', samples: opts.samples, dataDir: opts.dataDir });
  const test = await plugin.load({ split: 'test', dataDir: opts.dataDir });
  return { plugin, train, test };
}
