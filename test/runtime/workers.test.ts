import test from 'ava';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readResults } from '../../src/cli/commands/check.js';
import { robench, robenchOk, saveDenseModel } from '../helpers/cli.js';
import { guidedChunks } from '../../src/runtime/worker-pool.js';

test('worker threads give exactly the single-thread result', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-workers-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 3 });
  const args = ['run', '--model', modelJson, '--dataset', 'fashion-mnist', '--attack', 'pgd', '--steps', '3'];
  const rest = ['--eps', '0,0.01,0.03', '--samples', '60', '--batch', '10', '--backend', 'wasm', '--format', 'json', '--seed', '4'];
  await robenchOk([...args, ...rest, '--workers', '1', '--out', join(dir, 'one')]);
  await robenchOk([...args, ...rest, '--workers', '2', '--out', join(dir, 'two')]);
  await robenchOk([...args, ...rest, '--workers', '3', '--out', join(dir, 'three')]);
  const [one] = readResults(join(dir, 'one'));
  for (const name of ['two', 'three']) {
    const [many] = readResults(join(dir, name));
    t.deepEqual(many.points, one.points, name);
    t.deepEqual(many.outcomes, one.outcomes, name);
    t.is(many.cleanAccuracy, one.cleanAccuracy, name);
    t.is(many.gradientEvaluations, one.gradientEvaluations, name);
    t.is(many.forwardEvaluations, one.forwardEvaluations, name);
  }
  t.true(one.points[2].accuracy < one.points[0].accuracy);
  // Chunks taken by different threads join into one record in dataset order, every sample once.
  t.deepEqual(one.outcomes!.index, Array.from({ length: 60 }, (_, i) => i));
  t.true(one.outcomes!.brokeAt!.some((b) => b > 0));
});

test('guided chunks cover the samples in order, in whole batches, shrinking towards the end', (t) => {
  for (const [n, threads, batch] of [[1000, 2, 64], [60, 2, 10], [7, 3, 4], [64, 2, 64]] as const) {
    const indices = Array.from({ length: n }, (_, i) => 100 + i);
    const chunks = guidedChunks(indices, threads, batch);
    t.deepEqual(chunks.flat(), indices);
    chunks.slice(0, -1).forEach((c) => t.is(c.length % batch, 0));
    chunks.slice(1).forEach((c, i) => t.true(c.length <= chunks[i]!.length));
    if (n >= 4 * threads * batch) t.true(chunks.length >= 2 * threads && chunks.at(-1)!.length <= batch);
  }
});

test('a worker that fails while the main thread computes fails the run with its message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-worker-fails-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 3 });
  const plugin = join(dir, 'fails-in-workers.mjs');
  // The main thread is slow on purpose, so the worker is sure to claim a chunk and fail on it.
  await writeFile(
    plugin,
    `import { isMainThread } from 'node:worker_threads';
export default {
  kind: 'attack', id: 'fails-in-workers', description: 'throws in worker threads', params: {},
  budget: () => 'linf', defaultGrid: () => [0, 0.1],
  async run(ctx) {
    if (!isMainThread) throw new Error('worker-side failure');
    await new Promise((r) => setTimeout(r, 4000));
    return ctx.x.clone();
  },
};
`,
  );
  const r = await robench(['--plugin', plugin, 'run', '--model', modelJson, '--dataset', 'fashion-mnist', '--attack', 'fails-in-workers', '--samples', '60', '--batch', '10', '--backend', 'wasm', '--workers', '2', '--format', 'json', '--out', join(dir, 'out')]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /worker-side failure/);
  t.notRegex(r.stderr, /unhandled|node:internal/i);
});

test('a worker that loads other weights than the main thread refuses to evaluate them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-workers-'));
  const r = await robench(['run', '--plugin', 'test/fixtures/shifting-model.mjs', '--model', 'shifting', '--dataset', 'mnist', '--attack', 'fgsm', '--samples', '200', '--batch', '20', '--workers', '2', '--backend', 'wasm', '--offline', '--format', 'json', '--out', join(dir, 'out')]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /the model's weights \(sha256 bbbbbbbbbbbb\.\.\. here, aaaaaaaaaaaa\.\.\. in the main thread\) changed while the run was starting its worker threads/);
});
