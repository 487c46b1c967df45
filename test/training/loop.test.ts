/**
 * The one training loop's clock: the time left it reports comes from the steps it has counted,
 * whether or not the caller watches the steps (onStep). A fake trainer with steps of a known
 * length makes the estimate checkable without training anything.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTraining, START, type Trainer } from '../../src/training/loop.js';
import { runOutcome, type TrainingManifest } from '../../src/training/manifest.js';

const STEP_MS = 60;
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Two units of four sleeping steps; records the time left the loop hands to each unit's end. */
function sleepingTrainer(left: number[]): Trainer<{ model: string; dataset: string; architecture: unknown }, TrainingManifest> {
  return {
    identity: { model: 'fake', dataset: 'none', architecture: null },
    settings: {},
    unitName: 'epoch',
    units: 2,
    steps: 4,
    resumesMidUnit: false,
    resume: () => ({ at: START, line: '' }),
    load: async () => {},
    save: async () => {},
    beginUnit: async () => {},
    step: async () => {
      await sleep(STEP_MS);
      return 1;
    },
    endUnit: async (_unit, time) => {
      left.push(time.secondsLeft);
      return '';
    },
    afterUnit: () => {},
    finish: async () => {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2] })] });
      return {
        model,
        testAccuracy: 1,
        testSamples: 1,
        dataset: 'none',
        keepCheckpoint: false,
        manifest: (outcome) => ({ model: 'fake', dataset: 'none', command: '', seed: 0, batch: 1, schedule: 'constant', trainSamples: 1, ...runOutcome(outcome) }),
      };
    },
    dispose: async () => {},
  };
}

test('the time left after an epoch is the epochs still to run, counted without an onStep listener', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'robench-loop-'));
  try {
    const left: number[] = [];
    const lines: string[] = [];
    await runTraining(sleepingTrainer(left), { model: 'fake', dataset: 'none', out, log: (l) => lines.push(l), progress: false });
    // After the first of two epochs one epoch (4 steps) is left: about 4 * STEP_MS. Uncounted
    // steps made it the whole elapsed time per step times all 8 steps, over 8 times too much.
    const oneEpoch = (4 * STEP_MS) / 1000;
    t.true(left[0]! > 0.5 * oneEpoch && left[0]! < 2.5 * oneEpoch, `time left after epoch 1: ${left[0]} s, expected about ${oneEpoch} s`);
    t.is(left[1], 0);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
