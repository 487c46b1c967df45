/**
 * The settings of a run, declared once. `robench run`'s flags and help, the "run" section of
 * robench.config.json, `benchmark()`'s options and the run.json a `--resume` reads back are
 * all checked by these declarations (src/core/settings.ts), so a value means the same and
 * fails the same way wherever it is given.
 *
 * The upper bounds are what one machine can do, not what is sensible: beyond them a run
 * exhausts memory or time before it reports anything (a grid of 3e8 budgets, a hundred
 * threads each holding the model), so they are usage errors before anything loads.
 */
import { BACKEND_NAMES } from '../runtime/backends.js';
import { UsageError } from '../core/errors.js';
import { MAX_GRID_POINTS, parseGrid } from '../core/parse.js';
import { booleanSetting, choiceSetting, intSetting, numberSetting, originLabel, relabelled, shown, textSetting, type Origin, type Setting } from '../core/settings.js';
import { parseShard, type Shard } from './shards.js';
import { DEFAULT_SMOOTHING_DRAWS } from './smoothed-model.js';

export const MAX_SAMPLES = 1_000_000;
export const MAX_BATCH = 10_000;
/** Each thread holds its own copy of the model and the batch: 100 took 1.8 GB for 16 samples. */
export const MAX_WORKERS = 32;
/** Each smoothed verdict is n forward passes per image: 1e5 draws of 10,000 CIFAR images would take days. */
export const MAX_SMOOTHING_DRAWS = 100_000;
export const INPUT_RANGES = ['0,1', '0,255', '-1,1'] as const;

/** A grid as `--eps` takes it (text) or a list of numbers, checked and kept as the text run.json records. */
function gridSetting(): Setting<string> {
  return {
    name: 'eps',
    valueName: '<grid>',
    description: "perturbation sizes in [0,1] pixel units: a list (0,2/255,4/255) or start:stop:count (default: the attack's grid)",
    parse(value: unknown, origin: Origin): string {
      const label = originLabel(origin, 'eps');
      if (Array.isArray(value)) {
        if (value.length === 0 || value.length > MAX_GRID_POINTS || !value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
          throw new UsageError(`${label} ${shown(value)} must be 1 to ${MAX_GRID_POINTS} finite sizes of 0 or more`, 'e.g. [0, 0.1, 0.2]');
        }
        return value.join(',');
      }
      if (typeof value !== 'string' && typeof value !== 'number') throw new UsageError(`${label} ${shown(value)} must be a grid such as "0,2/255,4/255"`, 'or start:stop:count, e.g. 0:8/255:5');
      relabelled(origin, 'eps', () => parseGrid(String(value)));
      return String(value);
    },
  };
}

/**
 * `--save-adversarial [n]`: the first n evaluated samples' examples (every sample when bare),
 * per budget, as .npy files. A count or `true` (bare flag, JSON); false or absent: none.
 */
function saveAdversarialSetting(): Setting<number | true | undefined> {
  return {
    name: 'saveAdversarial',
    valueName: '[n]',
    description: "save each budget's adversarial examples of the first n samples (all when n is left out) as .npy files in adversarial/ of the output folder",
    parse(value: unknown, origin: Origin): number | true | undefined {
      if (value === true) return true;
      if (value === false) return undefined;
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_SAMPLES) {
        throw new UsageError(`${originLabel(origin, 'saveAdversarial')} ${shown(value)} must be a whole number from 1 to ${MAX_SAMPLES}, or true for every sample`, 'e.g. --save-adversarial 100, or --save-adversarial alone for all');
      }
      return n;
    },
  };
}

function shardSetting(): Setting<Shard> {
  return {
    name: 'shard',
    valueName: '<i/n>',
    description: 'evaluate only the i-th of n disjoint slices of the samples (merge with robench report)',
    parse(value: unknown, origin: Origin): Shard {
      const text = typeof value === 'object' && value !== null && !Array.isArray(value) ? `${(value as Shard).index}/${(value as Shard).count}` : value;
      if (typeof text !== 'string') throw new UsageError(`${originLabel(origin, 'shard')} ${shown(value)} must be i/n`, 'e.g. 0/4 for the first of four slices');
      const shard = relabelled(origin, 'shard', () => parseShard(text));
      if (shard.count > MAX_SAMPLES) throw new UsageError(`${originLabel(origin, 'shard')} '${text}' has more slices than ${MAX_SAMPLES} samples`, 'use fewer shards');
      return shard;
    },
  };
}

/** Every setting of a run, by name: the name is the config key and option, its kebab-case the flag. */
export const RUN_SETTINGS = {
  model: textSetting({ name: 'model', valueName: '<ids or model.json>', default: 'hebbian', description: 'zoo model ids (comma-separated), or the path/URL of a TensorFlow.js model.json' }),
  attack: textSetting({ name: 'attack', valueName: '<ids>', default: 'pgd', description: 'attack ids, comma-separated (`robench list attacks`)' }),
  dataset: textSetting({ name: 'dataset', valueName: '<id>', description: "dataset (default: the model's own)" }),
  eps: gridSetting(),
  samples: intSetting({ name: 'samples', min: 1, max: MAX_SAMPLES, description: 'test samples to evaluate (default: every bundled sample)' }),
  batch: intSetting({ name: 'batch', min: 1, max: MAX_BATCH, default: 100, description: 'batch size' }),
  seed: intSetting({ name: 'seed', min: 0, max: 2 ** 32 - 1, default: 0, description: 'random seed' }),
  backend: choiceSetting({ name: 'backend', choices: BACKEND_NAMES, default: 'auto', description: 'tfjs backend (auto: the fastest that starts)' }),
  out: textSetting({ name: 'out', valueName: '<dir>', description: 'output folder (default: robench-results/<timestamp>-<model>-<attack>/)' }),
  format: textSetting({ name: 'format', valueName: '<list>', default: 'table,json,csv,html', description: 'reporters, comma-separated (`robench list reporters`)' }),
  inputRange: choiceSetting({ name: 'inputRange', choices: INPUT_RANGES, default: '0,1', description: 'pixel range a model file expects' }),
  dataDir: textSetting({ name: 'dataDir', valueName: '<dir>', description: 'folder with the original dataset files (else ROBENCH_DATA or the cache)' }),
  offline: booleanSetting({ name: 'offline', default: false, description: 'never use the network' }),
  workers: intSetting({ name: 'workers', min: 1, max: MAX_WORKERS, description: 'worker threads (default: one per core on wasm and cpu)' }),
  shard: shardSetting(),
  saveAdversarial: saveAdversarialSetting(),
  smooth: numberSetting({ name: 'smooth', valueName: '<sigma>', above: 0, description: 'evaluate the randomized-smoothing classifier of every model instead (Cohen et al. 2019): Gaussian noise of this sigma in [0,1] pixel units' }),
  smoothN: intSetting({ name: 'smoothN', min: 1, max: MAX_SMOOTHING_DRAWS, description: `noisy copies each smoothed verdict votes over, with --smooth (default ${DEFAULT_SMOOTHING_DRAWS})` }),
  sweep: booleanSetting({ name: 'sweep', default: true, description: 'attack only the samples that survived smaller budgets (--no-sweep: every budget independently)' }),
  progress: booleanSetting({ name: 'progress', description: 'the status line (default: on when stderr is a terminal)' }),
  resume: textSetting({ name: 'resume', valueName: '<dir>', description: 'continue an interrupted run from its output folder, with its own settings' }),
} as const;

export type RunSettingName = keyof typeof RUN_SETTINGS;
export type RunSettingValue<K extends RunSettingName> = ReturnType<(typeof RUN_SETTINGS)[K]['parse']>;
/** The parsed value of every run setting: the types `benchmark()`'s options and RunSpec derive from. */
export type RunSettingValues = { [K in RunSettingName]: RunSettingValue<K> };

/** The settings robench.config.json's "run" may hold: every flag but --resume, which names a run, not a default. */
export const CONFIG_RUN_SETTINGS: readonly Setting[] = Object.values(RUN_SETTINGS).filter((s) => s.name !== 'resume');

/** The settings run.json records and a resume reads back (the thread count and status line are the resumer's). */
export const RECORDED_RUN_SETTINGS: readonly Setting[] = Object.values(RUN_SETTINGS).filter((s) => !['resume', 'progress'].includes(s.name));

/** Names robench's own options take, which an attack param may not. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([...Object.keys(RUN_SETTINGS), 'plugin', 'verbose', 'help', 'version']);

/**
 * `--smooth` and `--smooth-n` together: the smoothing every model of a run gets, or none. The
 * draws without a sigma would be silently ignored, so they are a usage error.
 */
export function smoothingOf(values: { smooth?: number; smoothN?: number }, origin: Origin): { sigma: number; n: number } | undefined {
  if (values.smooth === undefined) {
    if (values.smoothN !== undefined) throw new UsageError(`${originLabel(origin, 'smoothN')} needs ${originLabel(origin, 'smooth')}: it counts the noise draws of the smoothed classifier`, `add the noise level, e.g. --smooth 0.25 --smooth-n ${values.smoothN}`);
    return undefined;
  }
  return { sigma: values.smooth, n: values.smoothN ?? DEFAULT_SMOOTHING_DRAWS };
}
