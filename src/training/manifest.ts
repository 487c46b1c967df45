import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../runtime/atomic.js';

/** What every trainer's manifest.json records, whatever the learning rule: what was trained, how, on what, and how well it scores. */
export interface TrainingManifest {
  model: string;
  dataset: string;
  /** The command line that trains the same weights again. */
  command: string;
  seed: number;
  batch: number;
  schedule: string;
  trainSamples: number;
  backend: string;
  tfjsVersion: string;
  wallSeconds: number;
  testAccuracy: number;
  testSamples: number;
  weightsSha256: string;
  trainedAt: string;
}

/** The fields of a finished run that every trainer fills alike: where it ran, how long, and how its saved weights score. */
export function runOutcome(o: { wallSeconds: number; testAccuracy: number; testSamples: number; weightsSha256: string }): Pick<TrainingManifest, 'backend' | 'tfjsVersion' | 'wallSeconds' | 'testAccuracy' | 'testSamples' | 'weightsSha256' | 'trainedAt'> {
  return {
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    wallSeconds: Math.round(o.wallSeconds),
    testAccuracy: o.testAccuracy,
    testSamples: o.testSamples,
    weightsSha256: o.weightsSha256,
    trainedAt: new Date().toISOString(),
  };
}

/** manifest.json beside the weights, written atomically: a run is finished once it exists. */
export async function writeManifest(out: string, manifest: TrainingManifest): Promise<void> {
  await writeFileAtomic(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
