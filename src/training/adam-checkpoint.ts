/** Checkpoints of a model trained with Adam: the model, the optimiser's moments and its beta powers, as one set (src/training/checkpoint.ts). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../runtime/atomic.js';
import { loadLayersModelFrom, saveLayersModelTo } from '../runtime/model-io.js';
import { writeCheckpoint } from './checkpoint.js';

/**
 * Adam's running beta powers. setWeights recomputes them with pow(), which differs in
 * the last bits from the step-by-step products, so a checkpoint stores them to make a
 * resumed run bit-identical to an uninterrupted one.
 */
const adamPowers = (optimizer: tf.Optimizer): tf.Variable[] => {
  const o = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  return [o.accBeta1, o.accBeta2];
};

export async function saveCheckpoint(dir: string, model: tf.LayersModel, optimizer: tf.Optimizer, state: object): Promise<void> {
  const named = [...(await optimizer.getWeights()), ...adamPowers(optimizer).map((v, i) => ({ name: `robench/accBeta${i + 1}`, tensor: v }))];
  const { data, specs } = await tf.io.encodeWeights(named);
  // getWeights makes a fresh scalar for the iteration count; the moments are the live variables.
  tf.dispose(named.filter((w) => w.name === 'iter').map((w) => w.tensor));
  await writeCheckpoint(dir, state, async (folder) => {
    await saveLayersModelTo(model, join(folder, 'model'));
    await writeFileAtomic(join(folder, 'optimizer.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(folder, 'optimizer.json'), JSON.stringify(specs));
  });
}

/** Loads the weights and optimiser state of the (checked) checkpoint set in `folder`. */
export async function loadCheckpoint(folder: string, model: tf.LayersModel, optimizer: tf.Optimizer): Promise<void> {
  const saved = await loadLayersModelFrom(join(folder, 'model'));
  model.setWeights(saved.getWeights());
  saved.dispose();
  const specs = JSON.parse(await readFile(join(folder, 'optimizer.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = await readFile(join(folder, 'optimizer.bin'));
  const tensors = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  const powers = specs.filter((s) => s.name.startsWith('robench/accBeta'));
  await optimizer.setWeights(specs.filter((s) => !powers.includes(s)).map((s) => ({ name: s.name, tensor: tensors[s.name] })));
  adamPowers(optimizer).forEach((v, i) => v.assign(tensors[powers[i].name]));
  // setWeights copies the moments into fresh variables.
  tf.dispose(Object.values(tensors));
}
