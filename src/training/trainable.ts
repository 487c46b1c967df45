/**
 * The models `robench train` can train: those whose plugin declares its training
 * (ModelPlugin.training), built-in or loaded with --plugin. A model's trainer and settings are
 * its plugin's, so a new zoo entry is trainable where it is defined.
 */
import { createRegistry, type Registry } from '../core/registry.js';
import type { ModelTraining } from '../core/plugin-api.js';

/** Each trainable model's declared training, by id. */
export type Trainable = ReadonlyMap<string, ModelTraining>;

type Trainer = ModelTraining['trainer'];
export type TrainingBy<T extends Trainer> = Extract<ModelTraining, { trainer: T }>;

export function trainableModels(registry: Registry): Trainable {
  return new Map(registry.list('model').flatMap((p) => (p.training ? [[p.id, p.training] as const] : [])));
}

let builtins: Promise<Trainable> | undefined;

/** The built-in models' trainings: what a training function looks its model up in when the caller gives none. */
export const builtinTrainable = (): Promise<Trainable> => (builtins ??= createRegistry({ ignoreConfig: true }).then(trainableModels));

/** The models trained by `trainer`, each with its training. */
export function trainedBy<T extends Trainer>(trainable: Trainable, trainer: T): [string, TrainingBy<T>][] {
  return [...trainable].filter((e): e is [string, TrainingBy<T>] => e[1].trainer === trainer);
}

/** `model`'s training if `trainer` trains it. */
export function trainingOf<T extends Trainer>(trainable: Trainable, model: string, trainer: T): TrainingBy<T> | undefined {
  const training = trainable.get(model);
  return training?.trainer === trainer ? (training as TrainingBy<T>) : undefined;
}

/**
 * The id `--model <model> --adversarial` trains: the model that declares itself `model`'s
 * adversarial twin, else `<model>-at` (a zoo CNN whose twin is not in the zoo).
 */
export function adversarialId(trainable: Trainable, model: string): string {
  return trainedBy(trainable, 'adversarial').find(([, t]) => t.of === model)?.[0] ?? `${model}-at`;
}
