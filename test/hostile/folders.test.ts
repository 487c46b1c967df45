/**
 * Hostile input, output folders: two runs or trainings on one --out. The lock
 * (lockOutDir in src/runtime/out-dir.ts) lets one of them in, names the holder to the
 * other, and takes over a lock whose process is gone.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { LOCK_FILE, lockOutDir } from '../../src/runtime/out-dir.js';

const folder = (): string => mkdtempSync(join(tmpdir(), 'robench-hostile-out-'));

/** The pid of a process that has exited (a child that ran and was reaped). */
const deadPid = (): number => Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));

test('a second lock on one folder is refused, naming the holder; after release the folder is free again', (t) => {
  const dir = folder();
  const first = lockOutDir(dir, { command: 'run --model hebbian --out x' });
  const err = t.throws(() => lockOutDir(dir), { instanceOf: UsageError });
  t.regex(err!.message, new RegExp(`--out ${dir} is in use by another robench \\(process ${process.pid}, started .*: robench run --model hebbian --out x\\)`));
  t.regex(err!.hint ?? '', /wait for it to finish, or choose another folder with --out/);
  t.is(err!.exitCode, 2);
  first.release();
  t.false(existsSync(join(dir, LOCK_FILE)));
  const second = lockOutDir(dir);
  t.true(existsSync(second.file));
  second.release();
  // Nothing is left behind: no lock, no file written aside.
  t.deepEqual(readdirSync(dir), []);
});

test('a lock whose process is gone, or that cannot be read, is stale and taken over', (t) => {
  const dir = folder();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: 'earlier', command: 'run', token: 'old' }));
  const taken = lockOutDir(dir);
  t.is(JSON.parse(readFileSync(taken.file, 'utf8')).pid, process.pid);
  taken.release();
  writeFileSync(join(dir, LOCK_FILE), '{"pid": 12');
  const again = lockOutDir(dir);
  t.is(JSON.parse(readFileSync(again.file, 'utf8')).pid, process.pid);
  again.release();
  t.deepEqual(readdirSync(dir), []);
});

test('a lock held on another host is not judged by pid: refused, with how to clear it', (t) => {
  const dir = folder();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: 'elsewhere', startedAt: 'earlier', command: 'train', token: 't' }));
  t.throws(() => lockOutDir(dir, { flag: '--out' }), { instanceOf: UsageError, message: /in use by another robench \(process \d+ on elsewhere/ });
});

test('release leaves a lock that is no longer this one alone', (t) => {
  const dir = folder();
  const mine = lockOutDir(dir);
  // Another process took the folder over (it judged this lock stale).
  writeFileSync(mine.file, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: 'now', command: 'run', token: 'theirs' }));
  mine.release();
  t.true(existsSync(mine.file));
});

test('two processes racing for one folder: exactly one gets the lock', async (t) => {
  const dir = folder();
  const script = `import { lockOutDir } from ${JSON.stringify(new URL('../../src/runtime/out-dir.ts', import.meta.url).href)};
try { lockOutDir(process.argv[1]); process.stdout.write('locked'); setTimeout(() => {}, 1500); } catch (e) { process.stdout.write('refused'); }`;
  const { execFile } = await import('node:child_process');
  const runOne = () =>
    new Promise<string>((done) => execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], (_e, stdout) => done(stdout)));
  const outcomes = await Promise.all([runOne(), runOne(), runOne()]);
  t.is(outcomes.filter((o) => o === 'locked').length, 1, outcomes.join(','));
  t.is(outcomes.filter((o) => o === 'refused').length, 2, outcomes.join(','));
  // Each released its lock when it exited.
  t.false(existsSync(join(dir, LOCK_FILE)));
});

test.serial('two trainings on one --out: the second is refused naming the first, which finishes untouched', async (t) => {
  const { useBackend } = await import('../../src/runtime/backends.js');
  const { train } = await import('../../src/training/train.js');
  const { tinyTraining } = await import('../helpers/tiny-training.js');
  await useBackend('wasm');
  const out = join(folder(), 'train');
  const opts = tinyTraining(out);
  // Either may reach the lock first (each loads and checks its settings before it): one trains, one is refused.
  const outcomes = await Promise.allSettled([train(opts), train(opts)]);
  t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
  const refusedOne = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  const err = refusedOne?.reason as UsageError;
  t.true(err instanceof UsageError);
  t.regex(err.message, new RegExp(`--out ${out} is in use by another robench \\(process ${process.pid}, started .*: robench train --model baseline`));
  t.true(existsSync(join(out, 'model.json')), 'the first training finished and saved its model');
  t.false(existsSync(join(out, LOCK_FILE)), 'and released the folder');
  // Free again: a third training (resuming the finished run) takes the folder.
  await t.notThrowsAsync(train({ ...opts, resume: true }));
});

test.serial('similarity matching takes the same lock: a folder in use is refused before anything is written', async (t) => {
  const { trainSimilarityMatching } = await import('../../src/training/similarity-matching-train.js');
  const out = join(folder(), 'sm');
  const split = (n: number) => ({ images: new Float32Array(n * 64).fill(0.5), labels: Int32Array.from({ length: n }, (_, i) => i % 3), count: n, shape: [8, 8, 1] as [number, number, number], source: { kind: 'bundled' as const, path: 'memory', sha256: '' } });
  const data = { plugin: { id: 'tiny', imageShape: [8, 8, 1] as [number, number, number], classNames: ['a', 'b', 'c'] }, train: split(40), test: split(10) };
  const { mkdirSync } = await import('node:fs');
  mkdirSync(out, { recursive: true });
  const held = lockOutDir(out, { command: 'train --model similarity-matching (the first)' });
  try {
    await t.throwsAsync(trainSimilarityMatching({ model: 'similarity-matching', dataset: 'tiny', data, neuronsPerSite: 2, batch: 20, chunks: 1, chunkSize: 40, readoutEpochs: 1, out, log: () => {} }), {
      instanceOf: UsageError,
      message: /is in use by another robench .*the first/,
    });
    t.deepEqual(readdirSync(out), [LOCK_FILE], 'nothing written beside the lock');
  } finally {
    held.release();
  }
});
