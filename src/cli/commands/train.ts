/** `robench train`: train a zoo model, with per-epoch checkpoints and a final test evaluation. */
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { UsageError } from '../../core/errors.js';
import { checkLayoutName, EKDAA_MODELS, ekdaaModelId, trainEkdaa } from '../../training/ekdaa-train.js';
import { isSimilarityMatching, smModelId, smNeurons, trainSimilarityMatching } from '../../training/similarity-matching-train.js';
import { kebab } from '../../core/parse.js';
import { train, TRAINABLE_MODELS } from '../../training/train.js';

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
  /** EKDAA models only: tanh or sign, and the release's forward. */
  activation?: string;
  releaseForward?: boolean;
  /** `--layout`, checked here: compact or release. */
  layoutName?: string;
  /** Similarity matching only. */
  neuronsPerSite?: number;
  layers?: number;
  gamma?: number;
  /** The zoo CNNs only: threads, micro-batch size, steps between checkpoints. */
  workers?: number;
  microBatch?: number;
  checkpointEvery?: number;
  /** false: no progress within an epoch (--no-progress). */
  progress?: boolean;
}

/** The ids `robench train --model` takes, for its help. */
export const trainableIds = (): string[] => [...Object.keys(TRAINABLE_MODELS), ...Object.keys(EKDAA_MODELS), 'similarity-matching', 'similarity-matching-<n>'];

export async function trainCommand(opts: TrainCommandOptions): Promise<void> {
  // Usage errors before the backend starts.
  const sm = isSimilarityMatching(opts.model);
  if (!sm && (opts.neuronsPerSite !== undefined || opts.layers !== undefined || opts.gamma !== undefined)) {
    throw new UsageError(`--neurons-per-site, --layers and --gamma apply to similarity matching only, not '${opts.model}'`, 'drop them, or use --model similarity-matching');
  }
  if (sm && (opts.epochs !== undefined || opts.lr !== undefined)) {
    throw new UsageError('similarity matching trains by local rules on 120 chunks of 1,000 images with its own rate schedule: --epochs and --lr do not apply', 'drop --epochs and --lr');
  }
  const model = sm ? smModelId(opts.model, opts.neuronsPerSite) : ekdaaModelId(opts.model, opts.activation);
  const ekdaa = model in EKDAA_MODELS;
  if (opts.releaseForward && !ekdaa) throw new UsageError(`--release-forward applies to the EKDAA models only, not '${model}'`, 'drop --release-forward');
  if (opts.layoutName !== undefined && !ekdaa) throw new UsageError(`--layout applies to the EKDAA models only, not '${model}'`, 'drop --layout');
  const { layoutName } = opts;
  checkLayoutName(layoutName);
  const zooOnly = (['workers', 'microBatch', 'checkpointEvery'] as const).filter((k) => opts[k] !== undefined).map((k) => `--${kebab(k)}`);
  if (zooOnly.length > 0 && !(model in TRAINABLE_MODELS)) {
    throw new UsageError(`${zooOnly.join(', ')} only appl${zooOnly.length > 1 ? 'y' : 'ies'} to the zoo CNNs (${Object.keys(TRAINABLE_MODELS).join(', ')}), not '${model}'`, `drop ${zooOnly.join(', ')}`);
  }
  const backend = await useBackend(opts.backend);
  console.error(`training ${model} on ${opts.dataset} with the ${backend.name} backend`);
  const result = sm
    ? await trainSimilarityMatching({ ...opts, model, neuronsPerSite: opts.neuronsPerSite ?? smNeurons(model), command: opts.command.join(' ') })
    : ekdaa
      ? await trainEkdaa({ ...opts, model, layoutName, command: opts.command.join(' ') })
      : await train({ ...opts, command: opts.command.join(' ') });
  console.log(
    `${model} on ${opts.dataset}: test accuracy ${(100 * result.testAccuracy).toFixed(2)}% on ${result.testSamples} images ` +
      `after ${result.epochs} ${sm ? 'chunks of 1,000 images' : 'epochs'} (${Math.round(result.wallSeconds)} s); weights in ${result.dir}`,
  );
}
