import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { basename, join } from 'node:path';
import { useBackend } from '../../src/runtime/backends.js';
import { trainEkdaa, type EkdaaTrainOptions } from '../../src/training/ekdaa-train.js';
import { train, type TrainOptions } from '../../src/training/train.js';
import { linesData, tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  await useBackend('wasm');
});

const data = linesData(24, 12);
const zoo = (model: string, out: string): TrainOptions => tinyTraining(out, { model, data });
const ekdaa = (out: string): EkdaaTrainOptions => ({ model: 'ekdaa', dataset: 'synthetic', epochs: 2, batch: 8, lr: 2e-3, seed: 3, out, data, layout: [8, 'M', 8, 'M'], log: () => {} });

/**
 * Runs `fn` with the fs.promises call `method` failing from the second time its first argument
 * matches `match` on, as a crash in the middle of the second epoch's checkpoint would: what
 * came before that call is on disk.
 */
async function crashingAt<T>(method: 'writeFile' | 'rename', match: (path: string) => boolean, fn: () => Promise<T>): Promise<void> {
  const real = fsp[method] as (...a: unknown[]) => Promise<void>;
  let seen = 0;
  (fsp as Record<string, unknown>)[method] = async (path: unknown, ...rest: unknown[]) => {
    if (match(String(path)) && ++seen > 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    return real(path, ...rest);
  };
  syncBuiltinESMExports();
  try {
    await fn();
  } catch {
    // The crash is the point.
  } finally {
    (fsp as Record<string, unknown>)[method] = real;
    syncBuiltinESMExports();
  }
  if (seen < 2) throw new Error(`${method} matched ${seen} times: the crash never happened`);
}
const named = (name: string) => (path: string): boolean => basename(path).startsWith(`${name}.`);

test.serial('a checkpoint interrupted between its files leaves the previous epoch whole, and the resume matches a straight run', async (t) => {
  const root = await tempFolder(t, 'robench-ckpt-');
  const straight = await train(zoo('hebbian', join(root, 'a')));
  // optimizer.json comes after the weights: old code had epoch 2's weights beside epoch 1's state here.
  await crashingAt('writeFile', named('optimizer.json'), () => train(zoo('hebbian', join(root, 'b'))));
  const ckpt = join(root, 'b', 'checkpoint');
  t.is(JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')).epoch, 1);
  const resumed = await train({ ...zoo('hebbian', join(root, 'b')), resume: true });
  t.is(resumed.weightsSha256, straight.weightsSha256);
  // The final set stays (a finished run can take more epochs); nothing a crash left beside it does.
  t.deepEqual(readdirSync(join(root, 'b')).filter((f) => f.startsWith('checkpoint')), ['checkpoint'], 'only the final checkpoint is left after training');
});

test.serial('a crash after the old set stepped aside and before the new one moved in resumes from the old set', async (t) => {
  const root = await tempFolder(t, 'robench-ckpt-');
  const straight = await train(zoo('hebbian', join(root, 'a')));
  await crashingAt('rename', (path) => path.endsWith('.partial'), () => train(zoo('hebbian', join(root, 'b'))));
  t.false(existsSync(join(root, 'b', 'checkpoint')));
  const lines: string[] = [];
  const resumed = await train({ ...zoo('hebbian', join(root, 'b')), resume: true, log: (l) => lines.push(l) });
  // Starting over would give the same weights too: it must be a resume.
  t.true(lines.includes('resuming hebbian on synthetic after epoch 1/2'), lines.join('\n'));
  t.is(resumed.weightsSha256, straight.weightsSha256);
});

test.serial('an EKDAA checkpoint interrupted between its files leaves the previous epoch whole', async (t) => {
  const root = await tempFolder(t, 'robench-ckpt-');
  const straight = await trainEkdaa(ekdaa(join(root, 'a')));
  await crashingAt('writeFile', named('state-weights.json'), () => trainEkdaa(ekdaa(join(root, 'b'))));
  const resumed = await trainEkdaa({ ...ekdaa(join(root, 'b')), resume: true });
  t.is(resumed.weightsSha256, straight.weightsSha256);
});

test.serial('--resume onto another model\'s checkpoint says "different model", naming both, before reading its tensors', async (t) => {
  const root = await tempFolder(t, 'robench-ckpt-');
  const out = join(root, 'shared');
  const stop = new Error('interrupted');
  await t.throwsAsync(train({ ...zoo('baseline', out), onEpoch: () => { throw stop; } }), { is: stop });
  for (const attempt of [() => train({ ...zoo('hebbian', out), resume: true }), () => trainEkdaa({ ...ekdaa(out), resume: true })]) {
    const err = await t.throwsAsync(attempt(), { message: /different model: baseline on synthetic, not (hebbian|ekdaa) on synthetic/ });
    t.true(err!.message.length < 300, `a short message, not tensor values (${err!.message.length} characters)`);
  }
  t.true(existsSync(join(out, 'checkpoint', 'state.json')), 'the refused resume leaves the checkpoint alone');

  // Same id, another layout: still another model.
  const e = join(root, 'ekdaa');
  await t.throwsAsync(trainEkdaa({ ...ekdaa(e), onEpoch: () => { throw stop; } }), { is: stop });
  await t.throwsAsync(trainEkdaa({ ...ekdaa(e), layout: [4, 'M', 8, 'M'], resume: true }), { message: /different model: ekdaa on synthetic with another architecture/ });
});
