/** Runs the robench CLI from source in a child process, and builds small model files for it. */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
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
