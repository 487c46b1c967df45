/** Runs the robench CLI from source in a child process, and builds small model files for it. */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createRegistry } from '../../src/core/registry.js';
import { saveLayersModelTo } from '../../src/runtime/model-io.js';

export const root = resolve(import.meta.dirname, '..', '..');

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

export function robench(args: string[], cwd = root): Promise<Outcome> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args],
      { cwd, env: { ...process.env, FORCE_COLOR: '0' }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Like `robench`, but rejects with the CLI's stderr when it fails. */
export async function robenchOk(args: string[], cwd = root): Promise<string> {
  const r = await robench(args, cwd);
  if (r.code !== 0) throw new Error(`robench ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A flatten + dense classifier saved as model.json in `dir`; returns the model.json path. */
export async function saveDenseModel(dir: string, inputShape: number[], opts: { seed?: number; softmax?: boolean } = {}): Promise<string> {
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape }),
      tf.layers.dense({ units: 10, activation: opts.softmax ? 'softmax' : 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed ?? 1 }) }),
    ],
  });
  await saveLayersModelTo(model, dir);
  model.dispose();
  return join(dir, 'model.json');
}

/**
 * A nearest-centroid linear classifier of MNIST (logit_c = x . m_c - |m_c|^2 / 2, m_c the mean
 * image of class c in the first 200 test images): a dense model that gets most samples right,
 * so an attack has something to break and per-sample records differ from sample to sample.
 */
export async function saveCentroidModel(dir: string): Promise<string> {
  const registry = await createRegistry({ plugins: [], cwd: process.cwd() });
  const data = await registry.get('dataset', 'mnist').load({ split: 'test', samples: 200, offline: true });
  const size = 28 * 28;
  const means = new Float32Array(size * 10);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < data.count; i++) {
    counts[data.labels[i]]++;
    for (let p = 0; p < size; p++) means[p * 10 + data.labels[i]] += data.images[i * size + p];
  }
  means.forEach((v, k) => (means[k] = v / counts[k % 10]));
  const bias = counts.map((_, c) => -0.5 * Array.from({ length: size }, (_, p) => means[p * 10 + c] ** 2).reduce((a, b) => a + b, 0));
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
  model.layers[1].setWeights([tf.tensor2d(means, [size, 10]), tf.tensor1d(bias)]);
  await saveLayersModelTo(model, dir);
  model.dispose();
  return join(dir, 'model.json');
}
