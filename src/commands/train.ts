/** `robench train`: train a zoo model, with per-epoch checkpoints and a final test evaluation. */
import { useBackend, type BackendName } from '../backends.js';
import { train } from '../train.js';

export interface TrainCommandOptions {
  model: string;
  dataset: string;
  epochs?: number;
  batch?: number;
  seed: number;
  out?: string;
  resume: boolean;
  dataDir?: string;
  lr?: number;
  samples?: number;
  backend: BackendName;
  command: string[];
}

export async function trainCommand(opts: TrainCommandOptions): Promise<void> {
  const backend = await useBackend(opts.backend);
  console.error(`training ${opts.model} on ${opts.dataset} with the ${backend.name} backend`);
  const result = await train({ ...opts, command: opts.command.join(' ') });
  console.log(
    `${opts.model} on ${opts.dataset}: test accuracy ${(100 * result.testAccuracy).toFixed(2)}% on ${result.testSamples} images ` +
      `after ${result.epochs} epochs (${Math.round(result.wallSeconds)} s); weights in ${result.dir}`,
  );
}
