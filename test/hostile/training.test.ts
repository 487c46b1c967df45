/**
 * Hostile input, training: a learning rate that makes training diverge. Training stops at
 * the first non-finite loss or gradient, before the step is applied, keeps the last good
 * checkpoint, and fails (exit 1) with the step and the fix instead of saving NaN weights.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { stopIfDiverged, train } from '../../src/training/train.js';
import { useBackend } from '../../src/runtime/backends.js';
import { tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  // wasm trains these tiny nets fastest (test/training/train.test.ts).
  await useBackend('wasm');
});

test.serial('--lr 1e38 stops at the first non-finite step with exit 1, the step and the fix; no NaN model is saved and the checkpoint stays finite', async (t) => {
  const out = await tempFolder(t, 'robench-hostile-train-');
  // A checkpoint after every step: the first step at 1e38 still has a finite loss, the second does not.
  const err = await t.throwsAsync(train(tinyTraining(out, { lr: 1e38, checkpointEvery: 1 })), { instanceOf: RobenchError });
  t.false(err instanceof UsageError, 'a failed run, exit 1, not a usage error');
  t.is(err!.exitCode, 1);
  t.regex(err!.message, /training baseline diverged at epoch 1, step \d+\/3: the (loss|gradient) .* at learning rate 1e\+38/);
  t.regex(err!.hint ?? '', /--lr 1e\+37 instead of 1e\+38/);
  t.false(existsSync(join(out, 'model.json')), 'no model of NaN weights is written');
  // The checkpoint after the last good step (one a step here) is kept, and holds only finite weights.
  const weights = join(out, 'checkpoint', 'model', 'weights.bin');
  t.true(existsSync(weights), 'the last good checkpoint is kept');
  const bytes = readFileSync(weights);
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  t.true(values.length > 0 && values.every(Number.isFinite), 'the kept checkpoint is finite');
});

test('the divergence check names the first bad micro-batch loss or gradient entry', (t) => {
  const at = { epoch: 3, step: 7, steps: 10, lr: 0.1, baseLr: 1, checkpoint: '/out/checkpoint', model: 'hebbian' };
  t.notThrows(() => stopIfDiverged([Float32Array.of(1, 1, 3)], Float32Array.of(0.5, -2), at));
  t.throws(() => stopIfDiverged([Float32Array.of(1, 1, 3), Float32Array.of(NaN, 2, 3)], Float32Array.of(0.5), at), { instanceOf: RobenchError, message: /hebbian diverged at epoch 3, step 7\/10: the loss is NaN .* learning rate 0\.1; .*checkpoint in \/out\/checkpoint holds finite weights/ });
  t.throws(() => stopIfDiverged([Float32Array.of(1, 1, 3)], Float32Array.of(0.5, Infinity), at), { message: /the gradient holds Infinity \(entry 1\)/ });
});
