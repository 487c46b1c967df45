/**
 * Checkpoints of trainers whose state is a list of named tensors (EKDAA's weights, error kernels
 * and velocities; similarity matching's W and L), as one set (checkpoint.ts). A saved tensor whose
 * name or shape the network lacks refuses the resume rather than loading into the wrong place.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../runtime/atomic.js';
import { UsageError } from '../core/errors.js';
import { writeCheckpoint } from './checkpoint.js';

export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export async function saveTensors(dir: string, named: NamedTensor[], state: object): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(named);
  await writeCheckpoint(dir, state, async (folder) => {
    await writeFileAtomic(join(folder, 'state.bin'), new Uint8Array(data as ArrayBuffer));
    await writeFileAtomic(join(folder, 'state-weights.json'), JSON.stringify(specs));
  });
}

/** The saved tensors of the (checked) set in `folder` that stand for `like`, in its order; the caller owns them. */
export async function loadTensors(folder: string, like: NamedTensor[]): Promise<tf.Tensor[]> {
  const specs = JSON.parse(await readFile(join(folder, 'state-weights.json'), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bin = await readFile(join(folder, 'state.bin'));
  const saved = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer, specs);
  const misfit = like.find(({ name, tensor }) => saved[name] === undefined || saved[name].shape.join() !== tensor.shape.join());
  if (misfit !== undefined) {
    tf.dispose(Object.values(saved));
    throw new UsageError(`the checkpoint in ${folder} does not fit this network (${misfit.name})`, 'drop --resume to start afresh');
  }
  const picked = like.map(({ name }) => saved[name]!);
  tf.dispose(Object.values(saved).filter((t) => !picked.includes(t)));
  return picked;
}
