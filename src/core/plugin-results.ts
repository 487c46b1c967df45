/**
 * Model, dataset and reporter plugins as the registry hands them out: every call goes through
 * the guarded path (plugin-guard.ts) and what it returns is checked, so that a plugin's bug is
 * an error naming it, not a raw TypeError later or a number computed from bad data.
 * (Attacks are guarded by the engine, which owns their inputs: attack-checks.ts.)
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { RobenchError } from './errors.js';
import { guardedCall, guardedSync, pluginName, type PluginCall } from './plugin-guard.js';
import type { DatasetLoadOptions, DatasetPlugin, DatasetSplit, LoadedModel, ModelPlugin, Plugin, ReporterContext, ReporterPlugin, RunResult } from './plugin-api.js';

const shown = (v: unknown): string =>
  v === null || v === undefined ? String(v) : Array.isArray(v) ? `an array of ${v.length}` : typeof v === 'object' ? (v.constructor?.name ?? 'an object') : `${typeof v} ${String(v).slice(0, 40)}`;

/** Throws an error naming the plugin call and what it returned wrong. */
function refuse(call: PluginCall, what: string, hint: string): never {
  throw new RobenchError(`${pluginName(call)} ${call.method}() ${what}`, hint);
}

/** What is wrong with logits for a batch of `batch` images of a model with `classes` classes, if anything. */
export function logitsShapeProblem(logits: unknown, batch: number, classes: number): string | undefined {
  if (!(logits instanceof tf.Tensor) || logits.isDisposed) return `returned ${logits instanceof tf.Tensor ? 'a disposed tensor' : shown(logits)}, not a tensor of logits`;
  if (logits.rank !== 2 || logits.shape[0] !== batch || logits.shape[1] !== classes) return `returned logits of shape [${logits.shape}] for ${batch} images and ${classes} classes`;
  return undefined;
}

const isPositiveInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;

/** The fields every LoadedModel must have, so that robench fails here and not at the first use of one. */
function modelProblem(m: Partial<LoadedModel> | null): string | undefined {
  if (typeof m !== 'object' || m === null) return `returned ${shown(m)}, not a loaded model`;
  if (typeof m.id !== 'string' || m.id === '') return 'returned a model without an id';
  if (typeof m.dataset !== 'string') return `returned a model whose dataset is ${shown(m.dataset)}, not a dataset id`;
  if (!Array.isArray(m.inputShape) || m.inputShape.length !== 3 || !m.inputShape.every(isPositiveInt)) return `returned a model whose inputShape is ${JSON.stringify(m.inputShape)}, not [height, width, channels]`;
  if (!isPositiveInt(m.numClasses)) return `returned a model whose numClasses is ${shown(m.numClasses)}`;
  if (typeof m.weightsSha256 !== 'string') return 'returned a model without weightsSha256 (the hex sha256 of its weights, recorded with every result)';
  const missing = (['logits', 'dispose'] as const).filter((k) => typeof m[k] !== 'function');
  return missing.length > 0 ? `returned a model without ${missing.join(' and ')}()` : undefined;
}

/** A model's logits function, each call guarded and its result's shape checked. */
function checkedLogitsFn(pluginId: string, m: LoadedModel, fn: (x: tf.Tensor4D) => tf.Tensor2D): (x: tf.Tensor4D) => tf.Tensor2D {
  const call: PluginCall = { kind: 'model', id: pluginId, method: 'logits' };
  return (x) =>
    guardedSync(call, () => {
      const logits = fn(x);
      const problem = logitsShapeProblem(logits, x.shape[0], m.numClasses);
      if (problem) refuse(call, problem, 'the model must return one logit per class for every image: a tensor of shape [batch, classes]');
      return logits;
    });
}

function guardedModel(plugin: ModelPlugin): ModelPlugin {
  const call: PluginCall = { kind: 'model', id: plugin.id, method: 'load' };
  const load = async (opts: { dataset?: string }): Promise<LoadedModel> => {
    const m = await guardedCall(call, () => plugin.load(opts));
    const problem = modelProblem(m);
    if (problem) refuse(call, problem, 'return a LoadedModel (src/core/plugin-api.ts): id, dataset, inputShape, numClasses, weightsSha256, logits() and dispose()');
    const { gradientSurrogate: surrogate, activations } = m;
    return {
      ...m,
      logits: checkedLogitsFn(plugin.id, m, (x) => m.logits(x)),
      ...(surrogate ? { gradientSurrogate: { ...surrogate, logits: checkedLogitsFn(plugin.id, m, (x) => surrogate.logits(x)) } } : {}),
      ...(activations ? { activations: (x: tf.Tensor4D) => guardedSync({ kind: 'model', id: plugin.id, method: 'activations' }, () => activations.call(m, x)) } : {}),
      dispose: () => m.dispose(),
    };
  };
  return { ...plugin, load };
}

/** The first pixel outside [0, 1] (NaN included), if any. */
function badPixel(images: Float32Array): number | undefined {
  for (let i = 0; i < images.length; i++) if (!(images[i]! >= 0 && images[i]! <= 1)) return i;
  return undefined;
}

function splitProblem(plugin: DatasetPlugin, opts: DatasetLoadOptions, s: Partial<DatasetSplit> | null): string | undefined {
  if (typeof s !== 'object' || s === null) return `returned ${shown(s)}, not a dataset split`;
  if (!(s.images instanceof Float32Array)) return `returned images as ${shown(s.images)}, not a Float32Array`;
  if (!(s.labels instanceof Int32Array)) return `returned labels as ${shown(s.labels)}, not an Int32Array`;
  if (!Number.isInteger(s.count) || s.count! < 0) return `returned a count of ${shown(s.count)}`;
  if (opts.samples !== undefined && s.count !== opts.samples) return `returned ${s.count} samples where ${opts.samples} were asked for`;
  if (JSON.stringify(s.shape) !== JSON.stringify(plugin.imageShape)) return `returned images of shape ${JSON.stringify(s.shape)}, but the dataset declares ${JSON.stringify(plugin.imageShape)}`;
  const size = plugin.imageShape.reduce((a, b) => a * b, 1);
  if (s.images.length !== s.count! * size) return `returned ${s.images.length} pixel values for ${s.count} images of ${size} (${s.count! * size} expected)`;
  if (s.labels.length !== s.count) return `returned ${s.labels.length} labels for ${s.count} images`;
  const classes = plugin.classNames.length;
  const label = s.labels.findIndex((l) => l < 0 || (classes > 0 && l >= classes));
  if (label >= 0) return `returned the label ${s.labels[label]} for image ${label}, outside its ${classes} classes (0 to ${classes - 1})`;
  const pixel = badPixel(s.images);
  if (pixel !== undefined) return `returned the pixel value ${s.images[pixel]} in image ${Math.floor(pixel / size)}, outside [0, 1]`;
  const src = s.source as Partial<DatasetSplit['source']> | undefined;
  if (!src || !['bundled', 'file'].includes(src.kind!) || typeof src.path !== 'string' || typeof src.sha256 !== 'string') return 'returned no source (kind, path and sha256 of the files read, recorded with every result)';
  return undefined;
}

function guardedDataset(plugin: DatasetPlugin): DatasetPlugin {
  const load = async (opts: DatasetLoadOptions): Promise<DatasetSplit> => {
    const call: PluginCall = { kind: 'dataset', id: plugin.id, method: 'load', at: `loading its ${opts.split} split` };
    const split = await guardedCall(call, () => plugin.load(opts));
    const problem = splitProblem(plugin, opts, split);
    if (problem) refuse(call, problem, 'return a DatasetSplit (src/core/plugin-api.ts): float32 pixels in [0, 1] of the declared image shape, int32 labels 0 to classes - 1, as many as asked for');
    return split;
  };
  return { ...plugin, load };
}

/** The files a reporter says it wrote, each checked to exist inside the output folder. */
function checkWritten(call: PluginCall, outDir: string, files: unknown): string[] {
  const hint = 'a reporter writes inside ctx.outDir and returns the paths of the files it wrote';
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) refuse(call, `returned ${shown(files)}, not an array of file paths`, hint);
  const root = resolve(outDir);
  for (const file of files as string[]) {
    const rel = relative(root, resolve(file));
    if (rel.startsWith('..') || isAbsolute(rel)) refuse(call, `wrote ${file}, outside the output folder ${outDir}`, hint);
    if (!existsSync(file)) refuse(call, `returned ${file}, which it did not write`, hint);
  }
  return files as string[];
}

function guardedReporter(plugin: ReporterPlugin): ReporterPlugin {
  const call: PluginCall = { kind: 'reporter', id: plugin.id, method: 'write' };
  // Its own copy of the results: a reporter that edits them cannot change what the next one reports.
  const write = async (results: RunResult[], ctx: ReporterContext): Promise<string[]> =>
    checkWritten(call, ctx.outDir, await guardedCall(call, () => plugin.write(structuredClone(results), ctx)));
  return { ...plugin, write };
}

/** The plugin as the registry hands it out; an attack is returned as it is (the engine guards its calls). */
export function guardedPlugin<P extends Plugin>(plugin: P): P {
  if (plugin.kind === 'model') return guardedModel(plugin) as P;
  if (plugin.kind === 'dataset') return guardedDataset(plugin) as P;
  if (plugin.kind === 'reporter') return guardedReporter(plugin) as P;
  return plugin;
}
