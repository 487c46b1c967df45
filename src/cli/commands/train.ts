/** `robench train`: train a zoo model, with per-epoch checkpoints and a final test evaluation. */
import { useBackend } from '../../runtime/backends.js';
import { UsageError } from '../../core/errors.js';
import { checkLayoutName, ekdaaModelId, frozenConvsId, trainEkdaa } from '../../training/ekdaa-train.js';
import { smModelId, trainSimilarityMatching } from '../../training/similarity-matching-train.js';
import { kebab } from '../../core/parse.js';
import { train } from '../../training/train.js';
import { adversarialId, trainableModels, trainedBy, type Trainable } from '../../training/trainable.js';
import type { ModelTraining } from '../../core/plugin-api.js';
import type { CommandModule } from '../command.js';
import { ADVERSARIAL_SETTINGS, adversarialSettings, type AdversarialSpec, type ChosenAttack } from '../../training/adversarial.js';
import { parseAttackWithParams } from '../../core/ensemble.js';
import type { Registry } from '../../core/registry.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, textSetting } from '../../core/settings.js';

/** The parsed value of every train setting, by its key in TRAIN_SETTINGS (its name, and the options' property). */
export type TrainSettingValues = { [K in keyof typeof TRAIN_SETTINGS]: ReturnType<(typeof TRAIN_SETTINGS)[K]['parse']> };

/** The settings that always have a value: required, or defaulted. */
type AlwaysGiven = 'model' | 'dataset' | 'seed' | 'backend';

/**
 * The command line's values as trainCommand takes them: each setting's parsed value (optional
 * unless it always has one), but `--layout` as layoutName, checked here (train()'s `layout` is a
 * conv list), --resume, --release-forward and --freeze-convs false when not given, and the command line.
 */
export type TrainCommandOptions = Pick<TrainSettingValues, AlwaysGiven> &
  Partial<Omit<TrainSettingValues, AlwaysGiven | 'layout'>> & { layoutName?: string; resume: boolean; command: string[] };

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
  return { id, params: overrides };
}

/**
 * --adversarial and its settings, checked (its inner attack too): only the zoo CNNs train
 * adversarially. The flags' own checks are here; the defaults and bounds, and --adversarial-steps
 * refused where pgd is not the inner attack, are adversarialSettings', which train() applies to
 * its options too.
 */
function adversarialSpec(opts: TrainCommandOptions, training: ModelTraining, trainable: Trainable, registry: Registry): AdversarialSpec | undefined {
  const given = ADVERSARIAL_FLAGS.filter((k) => opts[k] !== undefined).map((k) => `--${kebab(k)}`);
  if (opts.tradesBeta !== undefined && opts.adversarial !== 'trades') throw new UsageError('--trades-beta applies to --adversarial trades only', 'drop --trades-beta, or train with --adversarial trades');
  if (opts.adversarial === undefined) {
    if (given.length > 0) throw new UsageError(`${given.join(', ')} appl${given.length > 1 ? 'y' : 'ies'} to adversarial training only`, 'add --adversarial pgd|fast|trades, or drop them');
    return undefined;
  }
  if (training.trainer !== 'zoo') throw new UsageError(`--adversarial trains the zoo CNNs (${zooIds(trainable)}), not '${opts.model}'`, 'e.g. --model baseline --adversarial fast');
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

/** Every setting of `robench train`, by name (in the order of its help): the name is the option, its kebab-case the flag. */
export const TRAIN_SETTINGS = {
  // Its description, the trainable ids, is the registry's (extend).
  model: textSetting({ name: 'model', valueName: '<id>', description: 'a model whose plugin declares its training' }),
  dataset: textSetting({ name: 'dataset', valueName: '<id>', description: 'mnist | fashion-mnist | cifar10 | svhn' }),
  epochs: intSetting({ name: 'epochs', min: 1, max: 10_000, description: 'epochs (default: per model and dataset)' }),
  batch: { ...RUN_SETTINGS.batch, default: undefined, description: 'batch size (default: per model)' },
  lr: numberSetting({ name: 'lr', above: 0, max: 10, description: 'initial learning rate (Adam for the HaH models, SGD with momentum for EKDAA)' }),
  samples: { ...RUN_SETTINGS.samples, description: 'train on the first n training images only' },
  seed: RUN_SETTINGS.seed,
  out: textSetting({ name: 'out', valueName: '<dir>', description: 'output folder (default: robench-train/<model>-<dataset>)' }),
  resume: booleanSetting({ name: 'resume', description: 'continue from the last checkpoint in --out (of a finished run too, with a larger --epochs)' }),
  workers: { ...RUN_SETTINGS.workers, description: 'zoo CNNs: threads computing each batch (default: one per core on wasm and cpu); the weights do not depend on it' },
  microBatch: intSetting({ name: 'microBatch', min: 1, max: 10_000, description: "zoo CNNs: images per micro-batch, each normalised by its own batch-norm statistics and one thread's share (default 16; the deep models: the whole batch, as their authors normalise)" }),
  checkpointEvery: intSetting({ name: 'checkpointEvery', valueName: '<steps>', min: 1, max: 1e9, description: 'zoo CNNs: a checkpoint every this many steps as well as after every epoch (default: every 5 minutes)' }),
  progress: booleanSetting({ name: 'progress', description: 'progress within an epoch on stderr (default on)' }),
  dataDir: RUN_SETTINGS.dataDir,
  activation: choiceSetting({ name: 'activation', choices: ['tanh', 'sign'] as const, description: 'EKDAA: --model ekdaa --activation sign trains ekdaa-sign' }),
  releaseForward: booleanSetting({ name: 'releaseForward', description: "EKDAA's backprop twin only: the release's forward (conv pre-activations carried forward; ekdaa and ekdaa-sign always run it)" }),
  freezeConvs: booleanSetting({ name: 'freezeConvs', description: "EKDAA: the control with the convs kept at their seeded random initialisation (the unfrozen model's, same seed) and only the fc head trained: --model ekdaa --freeze-convs trains ekdaa-frozen, ekdaa-sign ekdaa-sign-frozen, ekdaa-backprop ekdaa-backprop-frozen" }),
  layout: textSetting({ name: 'layout', valueName: '<net>', description: "EKDAA: compact (16-M-32-M on greyscale, 32-M-64-M on colour, its default) | wide (64-M-128-M, the greyscale default) | release (the authors' CIFAR-10 net, 64-64-M-64-128-M-128-128-M)" }),
  neuronsPerSite: intSetting({ name: 'neuronsPerSite', min: 1, max: 1024, description: 'similarity matching: neurons per site (default 4; the poster reports 4 to 100)' }),
  layers: intSetting({ name: 'layers', min: 1, max: 16, description: 'similarity matching: layers of sites (default 1)' }),
  gamma: numberSetting({ name: 'gamma', min: 0, max: 10, description: "similarity matching: feedback strength (default 0, the authors' MNIST setting)" }),
  adversarial: choiceSetting({ name: 'adversarial', choices: ['pgd', 'fast', 'trades'] as const, description: "zoo CNNs: adversarial training, PGD (Madry et al. 2018), FGSM from a random start (Wong et al. 2020) or TRADES (Zhang et al. 2019); trains the model's adversarial twin (baseline's: baseline-at)" }),
  adversarialAttack: textSetting({ name: 'adversarialAttack', valueName: '<id[:param=value...]>', description: 'adversarial training with pgd or trades: the inner attack, any registered norm-ball attack (--plugin and config ones too) with its own params, e.g. fgsm or my-attack:steps=5 (default: pgd, configured by --adversarial and --adversarial-steps)' }),
  trainEps: ADVERSARIAL_SETTINGS.eps,
  adversarialSteps: ADVERSARIAL_SETTINGS.steps,
  tradesBeta: ADVERSARIAL_SETTINGS.beta,
  warmupEpochs: ADVERSARIAL_SETTINGS.warmupEpochs,
  heldOut: ADVERSARIAL_SETTINGS.heldOut,
  backend: RUN_SETTINGS.backend,
} as const;

export const trainModule: CommandModule = {
  name: ['train'],
  description: 'train a zoo model on a dataset (checkpoint after every epoch; --resume continues)',
  settings: Object.values(TRAIN_SETTINGS),
  required: ['model', 'dataset'],
  extend: (cmd, registry) => {
    cmd.options.find((o) => o.long === '--model')!.description = trainableIds(trainableModels(registry)).join(' | ');
  },
  check: ({ values, argv, registry }) => void checkTraining(trainOptions(values, argv), trainableModels(registry), registry),
  run: ({ values, argv, registry }) => trainCommand(trainOptions(values, argv), registry),
};

/** The command line's values as trainCommand takes them. */
function trainOptions(v: Map<string, unknown>, argv: string[]): TrainCommandOptions {
  const given = Object.fromEntries(Object.entries(TRAIN_SETTINGS).map(([key, setting]) => [key, v.get(setting.name)]));
  const { layout, resume, releaseForward, freezeConvs, ...values } = given as Partial<TrainSettingValues> & Pick<TrainSettingValues, AlwaysGiven>;
  return { ...values, layoutName: layout, resume: resume === true, releaseForward: releaseForward === true, freezeConvs: freezeConvs === true, command: ['robench', ...argv] };
}
