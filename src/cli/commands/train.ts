/** `robench train`: train a zoo model, with per-epoch checkpoints and a final test evaluation. */
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { UsageError } from '../../core/errors.js';
import { checkLayoutName, ekdaaModelId, frozenConvsId, trainEkdaa } from '../../training/ekdaa-train.js';
import { smModelId, trainSimilarityMatching } from '../../training/similarity-matching-train.js';
import { kebab } from '../../core/parse.js';
import { train } from '../../training/train.js';
import { adversarialId, trainableModels, trainedBy, type Trainable } from '../../training/trainable.js';
import type { ModelTraining } from '../../core/plugin-api.js';
import type { CommandModule } from '../command.js';
import { ADVERSARIAL_SETTINGS, adversarialSettings, type AdversarialMethod, type AdversarialSpec, type ChosenAttack } from '../../training/adversarial.js';
import { parseAttackWithParams } from '../../core/ensemble.js';
import type { Registry } from '../../core/registry.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

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
  /** EKDAA models only: the frozen-conv control of the model (--freeze-convs). */
  freezeConvs?: boolean;
  /** `--layout`, checked here: compact, wide or release. */
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
  /** The zoo CNNs: adversarial training (src/training/adversarial.ts) and its settings. */
  adversarial?: AdversarialMethod;
  /** `id:param=value:...`: the inner attack, when not the pgd the method configures. */
  adversarialAttack?: string;
  trainEps?: number;
  adversarialSteps?: number;
  warmupEpochs?: number;
  heldOut?: number;
  tradesBeta?: number;
}

const ADVERSARIAL_FLAGS = ['adversarialAttack', 'trainEps', 'adversarialSteps', 'warmupEpochs', 'heldOut'] as const;
const ATTACK_HINT = 'e.g. --adversarial-attack fgsm, or a plugin attack with its params: --adversarial-attack my-attack:steps=5:step-size=0.01';

/** The zoo CNNs' ids, for messages. */
const zooIds = (trainable: Trainable): string => trainedBy(trainable, 'zoo').map(([id]) => id).join(', ');

/**
 * --adversarial-attack: undefined for the default, the pgd that --adversarial and
 * --adversarial-steps configure, which takes no params of its own here.
 */
function chosenAttack(opts: TrainCommandOptions): ChosenAttack | undefined {
  if (opts.adversarialAttack === undefined) return undefined;
  const { id, overrides } = parseAttackWithParams(opts.adversarialAttack, '--adversarial-attack', ATTACK_HINT);
  if (id === 'pgd' && Object.keys(overrides).length > 0) throw new UsageError('--adversarial-attack pgd takes no params: --adversarial and --adversarial-steps configure it', 'drop the params, or name another attack');
  if (id === 'pgd') return undefined;
  if (opts.adversarialSteps !== undefined) throw new UsageError(`--adversarial-steps configures pgd, not the attack '${id}'`, `give ${id} its own params: --adversarial-attack ${id}:param=value`);
  return { id, params: overrides };
}

/**
 * --adversarial and its settings, checked (its inner attack too): only the zoo CNNs train
 * adversarially. The flags' own checks are here; the defaults and bounds are adversarialSettings',
 * which train() applies to its options too.
 */
function adversarialSpec(opts: TrainCommandOptions, training: ModelTraining, trainable: Trainable, registry: Registry): AdversarialSpec | undefined {
  const given = ADVERSARIAL_FLAGS.filter((k) => opts[k] !== undefined).map((k) => `--${kebab(k)}`);
  if (opts.tradesBeta !== undefined && opts.adversarial !== 'trades') throw new UsageError('--trades-beta applies to --adversarial trades only', 'drop --trades-beta, or train with --adversarial trades');
  if (opts.adversarial === undefined) {
    if (given.length > 0) throw new UsageError(`${given.join(', ')} appl${given.length > 1 ? 'y' : 'ies'} to adversarial training only`, 'add --adversarial pgd|fast|trades, or drop them');
    return undefined;
  }
  if (training.trainer !== 'zoo') throw new UsageError(`--adversarial trains the zoo CNNs (${zooIds(trainable)}), not '${opts.model}'`, 'e.g. --model baseline --adversarial fast');
  if (opts.adversarial === 'fast' && opts.adversarialSteps !== undefined) throw new UsageError('--adversarial-steps applies to --adversarial pgd and trades: fast takes one FGSM step', 'drop --adversarial-steps');
  const attack = chosenAttack(opts);
  const settings = { method: opts.adversarial, eps: opts.trainEps, steps: opts.adversarialSteps, beta: opts.tradesBeta, warmupEpochs: opts.warmupEpochs, heldOut: opts.heldOut, attack };
  return adversarialSettings(settings, opts.dataset, registry).spec;
}

/** The ids `robench train --model` takes, for its help: an adversarial twin trains through the model it is the twin of. */
export const trainableIds = (trainable: Trainable): string[] => [...trainable].filter(([, t]) => t.trainer !== 'adversarial').map(([id]) => id);

/** `--model`'s declared training; a model without one, or an adversarial twin, is a usage error naming what to train. */
function declaredTraining(model: string, trainable: Trainable): Exclude<ModelTraining, { trainer: 'adversarial' }> {
  const training = trainable.get(model);
  if (training === undefined) throw new UsageError(`robench can only train the zoo models, not '${model}'`, `use --model ${trainableIds(trainable).join('|')}`);
  if (training.trainer === 'adversarial') throw new UsageError(`${model} is ${training.of} trained adversarially`, `train it with --model ${training.of} --adversarial ${training.method}`);
  return training;
}

/** Similarity matching's flags, and the flags it does not take. */
function checkSmFlags(opts: TrainCommandOptions, sm: boolean): void {
  if (!sm && (opts.neuronsPerSite !== undefined || opts.layers !== undefined || opts.gamma !== undefined)) {
    throw new UsageError(`--neurons-per-site, --layers and --gamma apply to similarity matching only, not '${opts.model}'`, 'drop them, or use --model similarity-matching');
  }
  if (sm && (opts.epochs !== undefined || opts.lr !== undefined)) {
    throw new UsageError('similarity matching trains by local rules on 120 chunks of 1,000 images with its own rate schedule: --epochs and --lr do not apply', 'drop --epochs and --lr');
  }
}

/** The EKDAA and zoo CNN flags, refused for a model of another trainer. */
function checkTrainerFlags(opts: TrainCommandOptions, model: string, training: ModelTraining, trainable: Trainable): void {
  const ekdaa = training.trainer === 'ekdaa';
  if (opts.releaseForward && !ekdaa) throw new UsageError(`--release-forward applies to the EKDAA models only, not '${model}'`, 'drop --release-forward');
  if (opts.freezeConvs && !ekdaa) throw new UsageError(`--freeze-convs applies to the EKDAA models only, not '${model}'`, 'drop --freeze-convs, or use --model ekdaa --freeze-convs');
  if (opts.layoutName !== undefined && !ekdaa) throw new UsageError(`--layout applies to the EKDAA models only, not '${model}'`, 'drop --layout');
  const zooOnly = (['workers', 'microBatch', 'checkpointEvery'] as const).filter((k) => opts[k] !== undefined).map((k) => `--${kebab(k)}`);
  if (zooOnly.length > 0 && training.trainer !== 'zoo') {
    throw new UsageError(`${zooOnly.join(', ')} only appl${zooOnly.length > 1 ? 'y' : 'ies'} to the zoo CNNs (${zooIds(trainable)}), not '${model}'`, `drop ${zooOnly.join(', ')}`);
  }
}

/** Every usage check of a training command line, made before the backend starts, by a run and a dry run alike. */
function checkTraining(opts: TrainCommandOptions, trainable: Trainable, registry: Registry) {
  const training = declaredTraining(opts.model, trainable);
  const sm = training.trainer === 'similarity-matching';
  checkSmFlags(opts, sm);
  const variant = sm ? smModelId(opts.model, opts.neuronsPerSite, trainable) : ekdaaModelId(opts.model, opts.activation, trainable);
  checkTrainerFlags(opts, variant, training, trainable);
  const model = opts.freezeConvs ? frozenConvsId(variant, trainable) : variant;
  checkLayoutName(opts.layoutName);
  return { training, sm, model, layoutName: opts.layoutName, adversarial: adversarialSpec(opts, training, trainable, registry) };
}

/** Trains `--model` as its plugin declares, with the trainable models and the attacks of the registry. */
export async function trainCommand(opts: TrainCommandOptions, registry: Registry): Promise<void> {
  const trainable = trainableModels(registry);
  const { training, sm, model, layoutName, adversarial } = checkTraining(opts, trainable, registry);
  const backend = await useBackend(opts.backend);
  const trained = adversarial ? adversarialId(trainable, model) : model;
  console.error(`training ${trained} on ${opts.dataset} with the ${backend.name} backend`);
  const command = opts.command.join(' ');
  const result =
    training.trainer === 'similarity-matching'
      ? await trainSimilarityMatching({ ...opts, model, neuronsPerSite: opts.neuronsPerSite ?? training.neuronsPerSite, command })
      : training.trainer === 'ekdaa'
        ? await trainEkdaa({ ...opts, adversarial, model, layoutName, trainable, command })
        : await train({ ...opts, adversarial, trainable, registry, command });
  console.log(
    `${trained} on ${opts.dataset}: test accuracy ${(100 * result.testAccuracy).toFixed(2)}% on ${result.testSamples} images ` +
      `after ${result.epochs} ${sm ? 'chunks of 1,000 images' : 'epochs'} (${Math.round(result.wallSeconds)} s); weights in ${result.dir}`,
  );
}

export const trainModule: CommandModule = {
  name: ['train'],
  description: 'train a zoo model on a dataset (checkpoint after every epoch; --resume continues)',
  settings: [
    // Its description, the trainable ids, is the registry's (extend).
    textSetting({ name: 'model', valueName: '<id>', description: 'a model whose plugin declares its training' }),
    textSetting({ name: 'dataset', valueName: '<id>', description: 'mnist | fashion-mnist | cifar10 | svhn' }),
    intSetting({ name: 'epochs', min: 1, max: 10_000, description: 'epochs (default: per model and dataset)' }),
    { ...RUN_SETTINGS.batch, default: undefined, description: 'batch size (default: per model)' },
    numberSetting({ name: 'lr', above: 0, max: 10, description: 'initial learning rate (Adam for the HaH models, SGD with momentum for EKDAA)' }),
    { ...RUN_SETTINGS.samples, description: 'train on the first n training images only' },
    RUN_SETTINGS.seed,
    textSetting({ name: 'out', valueName: '<dir>', description: 'output folder (default: robench-train/<model>-<dataset>)' }),
    booleanSetting({ name: 'resume', description: 'continue from the last checkpoint in --out (of a finished run too, with a larger --epochs)' }),
    { ...RUN_SETTINGS.workers, description: 'zoo CNNs: threads computing each batch (default: one per core on wasm and cpu); the weights do not depend on it' },
    intSetting({ name: 'microBatch', min: 1, max: 10_000, description: "zoo CNNs: images per micro-batch, each normalised by its own batch-norm statistics and one thread's share (default 16; the deep models: the whole batch, as their authors normalise)" }),
    intSetting({ name: 'checkpointEvery', valueName: '<steps>', min: 1, max: 1e9, description: 'zoo CNNs: a checkpoint every this many steps as well as after every epoch (default: every 5 minutes)' }),
    booleanSetting({ name: 'progress', description: 'progress within an epoch on stderr (default on)' }),
    RUN_SETTINGS.dataDir,
    choiceSetting({ name: 'activation', choices: ['tanh', 'sign'] as const, description: 'EKDAA: --model ekdaa --activation sign trains ekdaa-sign' }),
    booleanSetting({ name: 'releaseForward', description: "EKDAA's backprop twin only: the release's forward (conv pre-activations carried forward; ekdaa and ekdaa-sign always run it)" }),
    booleanSetting({ name: 'freezeConvs', description: "EKDAA: the control with the convs kept at their seeded random initialisation (the unfrozen model's, same seed) and only the fc head trained: --model ekdaa --freeze-convs trains ekdaa-frozen, ekdaa-sign ekdaa-sign-frozen, ekdaa-backprop ekdaa-backprop-frozen" }),
    textSetting({ name: 'layout', valueName: '<net>', description: "EKDAA: compact (16-M-32-M on greyscale, 32-M-64-M on colour, its default) | wide (64-M-128-M, the greyscale default) | release (the authors' CIFAR-10 net, 64-64-M-64-128-M-128-128-M)" }),
    intSetting({ name: 'neuronsPerSite', min: 1, max: 1024, description: 'similarity matching: neurons per site (default 4; the poster reports 4 to 100)' }),
    intSetting({ name: 'layers', min: 1, max: 16, description: 'similarity matching: layers of sites (default 1)' }),
    numberSetting({ name: 'gamma', min: 0, max: 10, description: "similarity matching: feedback strength (default 0, the authors' MNIST setting)" }),
    choiceSetting({ name: 'adversarial', choices: ['pgd', 'fast', 'trades'] as const, description: "zoo CNNs: adversarial training, PGD (Madry et al. 2018), FGSM from a random start (Wong et al. 2020) or TRADES (Zhang et al. 2019); trains the model's adversarial twin (baseline's: baseline-at)" }),
    textSetting({ name: 'adversarialAttack', valueName: '<id[:param=value...]>', description: 'adversarial training with pgd or trades: the inner attack, any registered norm-ball attack (--plugin and config ones too) with its own params, e.g. fgsm or my-attack:steps=5 (default: pgd, configured by --adversarial and --adversarial-steps)' }),
    ADVERSARIAL_SETTINGS.eps,
    ADVERSARIAL_SETTINGS.steps,
    ADVERSARIAL_SETTINGS.beta,
    ADVERSARIAL_SETTINGS.warmupEpochs,
    ADVERSARIAL_SETTINGS.heldOut,
    RUN_SETTINGS.backend,
  ],
  required: ['model', 'dataset'],
  extend: (cmd, registry) => {
    cmd.options.find((o) => o.long === '--model')!.description = trainableIds(trainableModels(registry)).join(' | ');
  },
  check: ({ values, argv, registry }) => void checkTraining(trainOptions(values, argv), trainableModels(registry), registry),
  run: ({ values, argv, registry }) => trainCommand(trainOptions(values, argv), registry),
};

/** The command line's values as trainCommand takes them. */
function trainOptions(v: Map<string, unknown>, argv: string[]): TrainCommandOptions {
  return {
    activation: v.get('activation') as string | undefined,
    releaseForward: v.get('releaseForward') === true,
    freezeConvs: v.get('freezeConvs') === true,
    layoutName: v.get('layout') as string | undefined,
    neuronsPerSite: v.get('neuronsPerSite') as number | undefined,
    layers: v.get('layers') as number | undefined,
    gamma: v.get('gamma') as number | undefined,
    model: v.get('model') as string,
    dataset: v.get('dataset') as string,
    epochs: v.get('epochs') as number | undefined,
    batch: v.get('batch') as number | undefined,
    lr: v.get('lr') as number | undefined,
    samples: v.get('samples') as number | undefined,
    seed: v.get('seed') as number,
    out: v.get('out') as string | undefined,
    resume: v.get('resume') === true,
    workers: v.get('workers') as number | undefined,
    microBatch: v.get('microBatch') as number | undefined,
    checkpointEvery: v.get('checkpointEvery') as number | undefined,
    progress: v.get('progress') as boolean | undefined,
    adversarial: v.get('adversarial') as AdversarialMethod | undefined,
    adversarialAttack: v.get('adversarialAttack') as string | undefined,
    trainEps: v.get('trainEps') as number | undefined,
    adversarialSteps: v.get('adversarialSteps') as number | undefined,
    warmupEpochs: v.get('warmupEpochs') as number | undefined,
    heldOut: v.get('heldOut') as number | undefined,
    tradesBeta: v.get('tradesBeta') as number | undefined,
    dataDir: v.get('dataDir') as string | undefined,
    backend: v.get('backend') as BackendName,
    command: ['robench', ...argv],
  };
}
