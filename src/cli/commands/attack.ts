/**
 * `robench attack`: adversarial examples of images from a .npy file, written to a .npy file.
 * It is attack() (src/evaluation/attack-api.ts) with files for tensors, so the examples are the
 * ones the engine evaluated and checked: each x_adv in [0, 1] with ||x_adv - x|| <= eps in the
 * attack's norm; misclassified clean images are written unchanged (delta = 0).
 *
 * Example:
 *   robench attack --model baseline --input x.npy --labels y.npy --attack pgd --eps 8/255 --out adv.npy
 */
import { UsageError } from '../../core/errors.js';
import { parseGrid, resolveParams, type InputRange } from '../../core/parse.js';
import { kebab, textSetting } from '../../core/settings.js';
import { readNpy, writeNpy } from '../../data/npy.js';
import { attack } from '../../evaluation/attack-api.js';
import { RUN_SETTINGS } from '../../evaluation/run-settings.js';
import type { CommandModule } from '../command.js';
import type { Registry } from '../../core/registry.js';
import { checkModelAndDataset } from '../check-ids.js';
import * as tf from '@tensorflow/tfjs';
import { useBackend, type BackendName } from '../../runtime/backends.js';
import { addAttackOptions, attackParamOwners } from './run.js';

const npyPath = (name: string, description: string) =>
  textSetting({
    name,
    valueName: '<file.npy>',
    description,
    check: (text, origin) => {
      if (!text.toLowerCase().endsWith('.npy')) throw new UsageError(`--${name} '${text}' must name a .npy file`, origin.source === 'flag' ? `e.g. --${name} ${name === 'labels' ? 'y' : name === 'out' ? 'adv' : 'x'}.npy` : 'use the .npy extension');
    },
  });

/** The attack, its params and budget from the flags, checked before any file is read. */
function attackOf(v: ReadonlyMap<string, unknown>, registry: Registry) {
  const plugin = registry.get('attack', String(v.get('attack')));
  // The attack's own flags (--steps, --norm) are declared for every attack; only this one's may be given.
  const raw: Record<string, unknown> = {};
  for (const [key, decls] of attackParamOwners(registry)) {
    if (!v.has(key)) continue;
    if (!decls.some((d) => d.attack === plugin.id)) throw new UsageError(`--${kebab(key)} is not an option of the attack '${plugin.id}'`, `it belongs to: ${decls.map((d) => d.attack).join(', ')}`);
    raw[key] = v.get(key);
  }
  const params = resolveParams(plugin, raw, { origin: { source: 'flag' }, strict: true });
  let eps: number[] | undefined;
  if (v.has('eps')) {
    const grid = String(v.get('eps'));
    eps = parseGrid(grid);
    if (eps.length !== 1) throw new UsageError(`--eps '${grid}' names ${eps.length} budgets; robench attack writes the examples of one`, 'give one budget, e.g. --eps 8/255 (attack() in code returns several)');
  }
  return { plugin, params, eps };
}

export const attackModule: CommandModule = {
  name: ['attack'],
  description: 'adversarial examples of images from a .npy file (float32 NHWC in [0, 1]), written as a .npy file',
  settings: [
    { ...RUN_SETTINGS.model, default: undefined, valueName: '<id or model.json>', description: 'a zoo model id, or the path/URL of a TensorFlow.js model.json' },
    npyPath('input', 'the images: float32 (or float64) NHWC in [0, 1], as numpy.save writes them'),
    npyPath('labels', 'their labels: one integer class index per image'),
    { ...RUN_SETTINGS.attack, valueName: '<id>', description: 'the attack (`robench list attacks`)' },
    { ...RUN_SETTINGS.eps, valueName: '<eps>', description: 'the budget, in [0, 1] pixel units (e.g. 8/255; default: the largest of the attack\'s grid)' },
    npyPath('out', 'where the adversarial examples go: float32 NHWC in [0, 1]'),
    { ...RUN_SETTINGS.dataset, description: 'the dataset a zoo model is loaded for (default: its own)' },
    RUN_SETTINGS.seed,
    RUN_SETTINGS.batch,
    RUN_SETTINGS.backend,
    RUN_SETTINGS.inputRange,
    RUN_SETTINGS.offline,
  ],
  required: ['model', 'input', 'labels', 'out'],
  extend: addAttackOptions,
  check({ values: v, registry }) {
    checkModelAndDataset(registry, v);
    attackOf(v, registry);
  },
  async run({ values: v, registry }) {
    const { plugin, params, eps } = attackOf(v, registry);
    const input = await readNpy(String(v.get('input')));
    const labels = await readNpy(String(v.get('labels')));
    if (input.shape.length !== 4 || (input.dtype !== 'float32' && input.dtype !== 'float64')) {
      throw new UsageError(`--input ${v.get('input')} holds a ${input.dtype} array of shape (${input.shape.join(', ')}), not float images (n, height, width, channels)`, 'save the images as numpy.float32 in NHWC order, pixels in [0, 1]');
    }
    if (labels.shape.length !== 1 || labels.dtype.startsWith('float')) {
      throw new UsageError(`--labels ${v.get('labels')} holds a ${labels.dtype} array of shape (${labels.shape.join(', ')}), not one integer label per image`, 'save the labels as a 1-D integer array (e.g. numpy.int64)');
    }
    // The tensor below is made on the active backend: it must be the one asked for, started.
    await useBackend(v.get('backend') as BackendName);
    const x = tf.tensor4d(Float32Array.from(input.data as ArrayLike<number>), input.shape as [number, number, number, number]);
    try {
      const result = await attack({
        model: String(v.get('model')),
        x,
        y: Array.from(labels.data as ArrayLike<number>),
        attack: plugin,
        ...(eps ? { eps: eps[0]! } : {}),
        params,
        seed: v.get('seed') as number,
        batch: v.get('batch') as number,
        backend: v.get('backend') as BackendName,
        inputRange: String(v.get('inputRange')).split(',').map(Number) as InputRange,
        ...(v.has('dataset') ? { dataset: String(v.get('dataset')) } : {}),
        offline: v.get('offline') === true,
      });
      try {
        // Without --eps the attack's grid was evaluated: its largest budget is written.
        const b = result.budgets[result.budgets.length - 1]!;
        const out = String(v.get('out'));
        await writeNpy(out, Float32Array.from(await b.x.data()), b.x.shape);
        const fooled = b.success.reduce((s, k) => s + k, 0);
        const largest = b.norms.reduce((m, k) => Math.max(m, k), 0);
        console.log(`${plugin.id} at eps ${b.eps} (${result.norm}): the model misclassifies ${fooled} of ${b.success.length} examples (${result.cleanCorrect.reduce((s, k) => s + 1 - k, 0)} already clean); largest perturbation ${largest.toPrecision(4)}; ${result.evaluations.gradient} gradient and ${result.evaluations.forward} forward evaluations`);
        console.log(`wrote ${out}: float32 [${b.x.shape.join(', ')}] in [0, 1]`);
      } finally {
        result.dispose();
      }
    } finally {
      x.dispose();
    }
  },
};
