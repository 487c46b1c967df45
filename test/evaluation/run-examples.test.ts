/**
 * The gallery and --save-adversarial take the examples the run scored, kept as it evaluated
 * them (issue 32). With --save-adversarial for every sample, each one is attacked once per
 * budget in the whole run (they used to be attacked again for the files, and four of them for
 * the gallery); the files are bit-equal whether the run used one thread or two and whether it
 * was interrupted and resumed; the gallery's pictures are the saved examples.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateCurve } from '../../src/core/engine.js';
import { resolveParams } from '../../src/core/parse.js';
import { createRegistry } from '../../src/core/registry.js';
import { combineCurves } from '../../src/runtime/worker-pool.js';
import { readNpy } from '../../src/data/npy.js';
import { engineExamples } from '../../src/evaluation/attack-api.js';
import { ExampleCollector } from '../../src/evaluation/example-collector.js';
import type { ReportRun } from '../../src/evaluation/gallery.js';
import { galleryPath } from '../../src/report/gallery-images.js';
import { encodePng } from '../../src/report/png-image.js';
import { robench, robenchOk, saveDenseModel } from '../helpers/cli.js';
import { testBackend } from '../helpers/backend.js';
import { linearFixture } from '../helpers/tiny-models.js';

const SAMPLES = 16;
const GRID = [0, 0.1, 0.2];

/**
 * Random signs, each call logged (budget, batch size, thread). Without a norm, like noise, so
 * every sample is attacked at every budget whatever the model gets right. `waitForWorker`: the
 * main thread's first call waits until a worker thread has attacked, so both threads do;
 * `interruptAfter`: once that results.json is saved (the first slice done), the run interrupts itself.
 */
function countingAttack(log: string, opts: { waitForWorker?: boolean; interruptAfter?: string } = {}): string {
  return `import * as tf from '@tensorflow/tfjs';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
const log = ${JSON.stringify(log)};
const saved = ${JSON.stringify(opts.interruptAfter ?? null)};
let waited = ${!opts.waitForWorker};
export default {
  kind: 'attack', id: 'counted-sign', description: 'random signs, each call logged', params: {},
  budget: () => null, defaultGrid: () => [0, 0.1],
  async run({ x, eps, rng }) {
    appendFileSync(log, JSON.stringify({ eps, n: x.shape[0], main: isMainThread }) + '\\n');
    while (isMainThread && !waited) {
      waited = readFileSync(log, 'utf8').includes('"main":false');
      await new Promise((r) => setTimeout(r, 50));
    }
    if (saved && existsSync(saved) && !existsSync(log + '.interrupted')) {
      writeFileSync(log + '.interrupted', '');
      process.kill(process.pid, 'SIGINT');
    }
    return tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(tf.sign(tf.sub(rng.uniform(x.shape, 0, 1), 0.5)), eps)), 0, 1));
  },
};
`;
}

/** Per budget, the samples the attack received over the whole run. */
async function attacked(log: string): Promise<{ perEps: Map<number, number>; threads: Set<boolean> }> {
  const calls = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { eps: number; n: number; main: boolean });
  const perEps = new Map<number, number>();
  for (const c of calls) perEps.set(c.eps, (perEps.get(c.eps) ?? 0) + c.n);
  return { perEps, threads: new Set(calls.map((c) => c.main)) };
}

/** Every file of the run's adversarial/ folder, by name. */
async function savedFiles(out: string): Promise<Map<string, Buffer>> {
  const [name] = await readdir(join(out, 'adversarial'));
  const folder = join(out, 'adversarial', name!);
  const files = new Map<string, Buffer>();
  for (const file of (await readdir(folder)).sort()) files.set(file, await readFile(join(folder, file)));
  return files;
}

test('--save-adversarial and the gallery attack nothing again: once per sample and budget, the same files on one or two threads and after a resume', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-run-examples-'));
  try {
    const model = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 5 });
    // Batches of 2: a run with --out saves 2 slices of 8 samples, so an interrupt can fall between them.
    const run = (name: string, workers: number) => ['--plugin', join(dir, `${name}.mjs`), 'run', '--model', model, '--dataset', 'mnist', '--offline', '--attack', 'counted-sign', '--eps', GRID.join(','), '--samples', String(SAMPLES), '--batch', '2', '--seed', '3', '--backend', testBackend, '--workers', String(workers), '--format', 'json,html', '--no-progress', '--save-adversarial', '--out', join(dir, name)];
    await writeFile(join(dir, 'one.mjs'), countingAttack(join(dir, 'one.log')));
    await writeFile(join(dir, 'two.mjs'), countingAttack(join(dir, 'two.log'), { waitForWorker: true }));
    await writeFile(join(dir, 'cut.mjs'), countingAttack(join(dir, 'cut.log'), { interruptAfter: join(dir, 'cut', 'results.json') }));
    await robenchOk(run('one', 1));
    await robenchOk(run('two', 2));
    const cut = await robench(run('cut', 1));
    t.is(cut.code, 130, cut.stderr);
    t.true(existsSync(join(dir, 'cut.log.interrupted')));
    await robenchOk(['run', '--resume', join(dir, 'cut'), '--no-progress']);

    for (const name of ['one', 'two']) {
      const { perEps, threads } = await attacked(join(dir, `${name}.log`));
      t.deepEqual([...perEps], GRID.slice(1).map((eps) => [eps, SAMPLES]), `${name}: each sample attacked once per budget`);
      t.is(threads.size, name === 'two' ? 2 : 1, `${name}: the threads that attacked`);
    }
    const one = await savedFiles(join(dir, 'one'));
    t.deepEqual([...one.keys()], ['eps-0.npy', 'eps-1.npy', 'eps-2.npy', 'examples.json', 'indices.npy', 'labels.npy', 'success.npy']);
    for (const name of ['two', 'cut']) {
      const other = await savedFiles(join(dir, name));
      t.deepEqual([...other.keys()], [...one.keys()], name);
      for (const [file, bytes] of one) t.true(bytes.equals(other.get(file)!), `${name}: ${file} bit-equal`);
    }

    // The gallery's pictures are the saved examples (row i is sample i).
    const [result] = (JSON.parse(await readFile(join(dir, 'one', 'results.json'), 'utf8')) as { runs: ReportRun[] }).runs;
    t.true(result!.gallery!.length > 0);
    for (const item of result!.gallery!) {
      const file = await readNpy(join(dir, 'one', 'adversarial', (await readdir(join(dir, 'one', 'adversarial')))[0]!, `eps-${GRID.indexOf(item.perturbation)}.npy`));
      const row = (file.data as Float32Array).slice(item.sample * 784, (item.sample + 1) * 784);
      t.is(item.images.adversarial, galleryPath(encodePng(row, 28, 28, 1)), `sample ${item.sample} at ${item.perturbation}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('examples kept in two parts and merged, as worker threads post theirs, are those of one evaluation (pgd with sweep, fab)', async (t) => {
  const { model, data } = linearFixture(24);
  const registry = await createRegistry({ plugins: [] });
  for (const [id, overrides] of [['pgd', { steps: 5 }], ['fab', { steps: 10 }]] as const) {
    const attack = registry.get('attack', id);
    const params = resolveParams(attack, overrides);
    const setting = { model, attack, params, data, grid: [0, 0.1, 0.3], batchSize: 4, seed: 6, sweep: true };
    const wanted = Array.from({ length: 12 }, (_, i) => i);
    const whole = await engineExamples({ ...setting, indices: wanted });
    const fooled = (s: Uint8Array) => s.reduce((a, v) => a + v, 0);
    t.true(fooled(whole.budgets.at(-1)!.success) > fooled(whole.cleanCorrect.map((c) => 1 - c)), `${id} breaks some samples`);
    // Samples 0-11 are kept; the "worker" evaluates 8-15 and keeps the wanted ones among them.
    const merged = new ExampleCollector(data, wanted);
    const part = new ExampleCollector(data, [8, 9, 10, 11]);
    const here = await evaluateCurve({ ...setting, indices: [0, 1, 2, 3, 4, 5, 6, 7], onExamples: merged.onExamples });
    const there = await evaluateCurve({ ...setting, indices: [8, 9, 10, 11, 12, 13, 14, 15], onExamples: part.onExamples });
    merged.merge(structuredClone(part.export().collected));
    const outcomes = combineCurves([{ curve: here, samples: 8 }, { curve: there, samples: 8 }]).outcomes;
    const found = merged.examples(setting, outcomes);
    t.deepEqual(found.budgets.map((b) => [b.pixels, b.success]), whole.budgets.map((b) => [b.pixels, b.success]), id);
    t.deepEqual(found.minimal?.norms, whole.minimal?.norms, id);
    t.deepEqual(found.minimal?.pixels, whole.minimal?.pixels, id);
  }
  model.dispose();
});
