/**
 * `npm run bench`: speed and memory figures per backend and zoo architecture.
 * Images per second for a forward pass, an input gradient and a training step,
 * the GFLOP/s they reach by the model's counted FLOPs, PGD images per second end
 * to end, the peak resident memory, and `robench train`'s images per second on 1 and 2 threads.
 * Not part of `npm test`: it prints figures.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { architecture, buildModel, initializeWeights, type Family, type Size } from '../src/nets/architectures.js';
import { useBackend, probeBackends, type BackendName } from '../src/runtime/backends.js';
import { evaluateCurve } from '../src/core/engine.js';
import { crossEntropy } from '../src/core/losses.js';
import type { DatasetSplit, ImageShape, LoadedModel } from '../src/core/plugin-api.js';
import { createRegistry } from '../src/core/registry.js';
import { scalarRng } from '../src/core/rng.js';
import { DEFAULT_MICRO_BATCH, train } from '../src/training/train.js';
import type { AdversarialMethod } from '../src/training/adversarial.js';
import { certifySamples } from '../src/evaluation/certify.js';
import { trainingLoss } from '../src/training/hah-objective.js';
import { timedRun } from './cli-runs.js';
import { readResults } from '../src/cli/commands/check.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,cpu' },
    models: { type: 'string', default: 'baseline,hebbian' },
    sizes: { type: 'string', default: 'compact' },
    batch: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '3' },
    'data-dir': { type: 'string', default: '../shared/data' },
    'skip-cli': { type: 'boolean', default: false },
    'skip-ensemble': { type: 'boolean', default: false },
    'skip-certify': { type: 'boolean', default: false },
    'skip-train': { type: 'boolean', default: false },
    'train-steps': { type: 'string', default: '24' },
    /** Internal: robench train's images/s on this many threads, printed as JSON. */
    'train-case': { type: 'string' },
    'ensemble-samples': { type: 'string', default: '16' },
    /** Internal: measure one backend:family:size:dataset and print it as JSON. */
    case: { type: 'string' },
  },
});
const batch = Number(args.batch);
const budget = Number(args.seconds) * 1000;

/** Multiply-adds x 2 of every conv and dense layer, per image. */
export function countFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const kernel = layer.getWeights()[0];
    if (!kernel || !/conv|dense|logits/i.test(layer.name)) continue;
    const out = layer.outputShape as number[];
    const k = kernel.shape;
    if (k.length === 4) flops += 2 * out[1] * out[2] * k[0] * k[1] * k[2] * k[3];
    else if (k.length === 2) flops += 2 * k[0] * k[1];
  }
  return flops;
}

/** Rounds per figure. The figures of one model are taken in turns, ROUNDS times. */
const ROUNDS = 5;

/**
 * ms per call of each step, timed for `budget` ms in all over ROUNDS interleaved rounds, each
 * after one untimed call (the first call after another step's pays for the switch). Each step's
 * figure is its fastest round: other tenants of a shared machine only ever add time, and taking
 * the steps in turns exposes them all to the same quiet and busy spells, which keeps ratios such
 * as train/forward meaningful on a noisy machine.
 */
async function timeInTurns(steps: (() => Promise<void>)[]): Promise<number[]> {
  const best = steps.map(() => Infinity);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, step] of steps.entries()) {
      await step();
      let calls = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < budget / ROUNDS || calls < 1) {
        await step();
        calls++;
      }
      best[i] = Math.min(best[i]!, (performance.now() - t0) / calls);
    }
  }
  return best;
}

const registry = await createRegistry();

async function benchModel(family: Family, size: Size, dataset: string): Promise<string[]> {
  const plugin = registry.get('dataset', dataset);
  const shape: ImageShape = plugin.imageShape;
  const arch = architecture(family, size, shape);
  const model = buildModel(arch, shape, plugin.classNames.length, plugin.normalization);
  initializeWeights(model, scalarRng(0, 'bench'));
  const flops = countFlops(model);
  const x = tf.randomUniform([batch, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
  const optimizer = tf.train.adam(1e-3);
  const [forward, gradient, trainStep] = (await timeInTurns([
    async () => {
      const out = tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor);
      await out.data();
      out.dispose();
    },
    async () => {
      const g = tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(crossEntropy(model.apply(input, { training: false }) as tf.Tensor2D, y)))(x));
      await g.data();
      g.dispose();
    },
    async () => {
      const loss = optimizer.minimize(() => trainingLoss(model, arch, x, y).loss, true);
      await loss!.data();
      loss!.dispose();
    },
  ])) as [number, number, number];
  optimizer.dispose();

  const loaded: LoadedModel = {
    id: `${family}-${size}`,
    dataset,
    inputShape: shape,
    numClasses: 10,
    weightsSha256: '-',
    logits: (input) => model.apply(input, { training: false }) as tf.Tensor2D,
    dispose: () => undefined,
  };
  const n = 4 * batch;
  const images = new Float32Array(n * shape[0] * shape[1] * shape[2]).map((_, i) => (Math.sin(i) + 1) / 2);
  // Labels are the model's own predictions, so every sample is attacked.
  const predicted = tf.tidy(() => tf.argMax(loaded.logits(tf.tensor4d(images, [n, ...shape])), 1));
  const labels = Int32Array.from(await predicted.data());
  predicted.dispose();
  const data: DatasetSplit = { images, labels, count: n, shape, source: { kind: 'file', path: '-', sha256: '-' } };
  const pgd = registry.get('attack', 'pgd');
  const params = { norm: 'linf', loss: 'ce', steps: 20, restarts: 1, 'random-start': true };
  const pgdStart = performance.now();
  const curve = await evaluateCurve({ model: loaded, attack: pgd, params, data, grid: [0.03], batchSize: batch, seed: 0, sweep: false });
  const pgdSeconds = (performance.now() - pgdStart) / 1000;
  const attacked = curve.gradientEvaluations / params.steps;
  tf.dispose([x, y]);
  model.dispose();
  const ips = (ms: number) => ((1000 * batch) / ms).toFixed(0);
  const gflops = (ms: number, mult: number) => ((mult * flops * batch) / ms / 1e6).toFixed(1);
  return [
    `${family}-${size} [${dataset}]`,
    (flops / 1e6).toFixed(1),
    `${ips(forward)} (${gflops(forward, 1)})`,
    `${ips(gradient)} (${gflops(gradient, 3)})`,
    `${ips(trainStep)} (${gflops(trainStep, 3)})`,
    (gradient / forward).toFixed(2),
    (trainStep / forward).toFixed(2),
    (attacked / pgdSeconds).toFixed(1),
  ];
}

/** What one case prints for the parent: its table row and its peak memory. */
interface CaseResult {
  row: string[];
  rssMb: number;
}

/**
 * robench train's images per second on `workers` threads: the compact baseline on Fashion-MNIST-sized
 * images for one epoch of `--train-steps` steps, timed over the training steps alone (after two
 * warm-up steps), not worker start-up, the batch-norm pass or saving; with `adversarial`, each
 * step first attacks its batch at eps 0.3 (no warm-up), and one batch is held out for the check.
 */
async function trainImagesPerSecond(workers: number, adversarial?: AdversarialMethod): Promise<number> {
  await useBackend('wasm');
  const shape: ImageShape = [28, 28, 1];
  const per = shape[0] * shape[1] * shape[2];
  const split = (n: number): DatasetSplit => ({
    images: Float32Array.from({ length: n * per }, (_, i) => (Math.sin(i * 0.37) + 1) / 2),
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    count: n,
    shape,
    source: { kind: 'bundled', path: 'synthetic', sha256: '' },
  });
  const data = {
    plugin: { id: 'synthetic', imageShape: shape, normalization: { mean: [0.5], std: [0.35] }, classNames: Array.from({ length: 10 }, (_, i) => `c${i}`) },
    train: split((Number(args['train-steps']) + (adversarial ? 1 : 0)) * batch),
    test: split(batch),
  };
  // pgd and trades take the default 10 steps; fast takes none.
  const spec = adversarial && { method: adversarial, eps: 0.3, warmupEpochs: 0, heldOut: batch };
  const out = mkdtempSync(join(tmpdir(), 'robench-bench-train-'));
  const times: number[] = [];
  await train({ model: 'baseline', dataset: 'synthetic', epochs: 1, batch, workers, data, out, progress: false, log: () => {}, onStep: () => void times.push(performance.now()), ...(spec ? { adversarial: spec } : {}) });
  rmSync(out, { recursive: true, force: true });
  return ((times.length - 2) * batch * 1000) / (times.at(-1)! - times[1]!);
}

const trainCase = (workers: number, adversarial?: AdversarialMethod): Promise<number> =>
  new Promise((resolve, reject) =>
    execFile(process.execPath, [import.meta.filename, '--batch', args.batch, '--train-steps', args['train-steps'], '--train-case', [workers, ...(adversarial ? [adversarial] : [])].join(':')], (err, stdout) =>
      err ? reject(err) : resolve((JSON.parse(stdout.trim().split('\n').at(-1)!) as { imagesPerSecond: number }).imagesPerSecond),
    ),
  );

if (args['train-case'] !== undefined) {
  const [workers, adversarial] = args['train-case'].split(':');
  console.log(JSON.stringify({ imagesPerSecond: await trainImagesPerSecond(Number(workers), adversarial as AdversarialMethod | undefined) }));
  process.exit(0);
}

if (args.case !== undefined) {
  const [backend, family, size, dataset] = args.case.split(':') as [BackendName, Family, Size, string];
  const info = await useBackend(backend);
  const row = [info.name, ...(await benchModel(family, size, dataset))];
  console.log(JSON.stringify({ row, rssMb: process.resourceUsage().maxRSS / 1024 } satisfies CaseResult));
  process.exit(0);
}

const probes = await probeBackends();
console.log(`backends: ${probes.map((p) => `${p.name} ${p.ok ? 'ok' : `unavailable (${p.reason})`}`).join('; ')}`);
const table = new Table({
  head: ['backend', 'model', 'MFLOP/img', 'forward img/s (GFLOP/s)', 'input grad img/s (GFLOP/s)', 'train step img/s (GFLOP/s)', 'grad/fwd', 'train/fwd', 'PGD-20 img/s'],
  style: { head: [], border: [] },
});
let peakRss = 0;
for (const backend of args.backends.split(',') as BackendName[]) {
  for (const size of args.sizes.split(',') as Size[]) {
    for (const family of args.models.split(',') as Family[]) {
      for (const dataset of size === 'vgg16' ? ['cifar10'] : ['fashion-mnist', 'cifar10']) {
        // Each case in a fresh process, so no figure depends on what ran before it in the same
        // V8 and wasm heap (JIT feedback, heap size): the order once made a case 1.5x slower.
        const flags = ['--batch', args.batch, '--seconds', args.seconds, '--case', [backend, family, size, dataset].join(':')];
        const output = execFileSync(process.execPath, [import.meta.filename, ...flags], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const result = JSON.parse(output.trim().split('\n').at(-1)!) as CaseResult;
        table.push(result.row);
        peakRss = Math.max(peakRss, result.rssMb);
        process.stderr.write('.');
      }
    }
  }
}
console.log(`\nbatch ${batch}, ${args.seconds}s per figure in ${ROUNDS} interleaved rounds (fastest round), each model in a fresh process; node ${process.version}, ${availableParallelism()} cores`);
console.log(table.toString());
console.log(`peak RSS of one model's measurements: ${peakRss.toFixed(0)} MB`);

if (!args['skip-train']) {
  // In turns, twice, keeping each setting's faster run, for the reason timeInTurns gives; each
  // run in a fresh process, as the table's cases.
  const best = { 1: 0, 2: 0 };
  for (let turn = 0; turn < 2; turn++) for (const w of [1, 2] as const) best[w] = Math.max(best[w], await trainCase(w));
  // The machine's own ceiling for the speed-up: two single-thread runs side by side.
  const copies = await Promise.all([trainCase(1), trainCase(1)]);
  console.log(`\nrobench train, baseline on 28x28 greyscale, batch ${batch} in micro-batches of ${Math.min(DEFAULT_MICRO_BATCH, batch)} (wasm), ${args['train-steps']} steps, faster of two runs each:`);
  console.log(`  1 thread ${best[1].toFixed(0)} img/s, 2 threads ${best[2].toFixed(0)} img/s: ${(best[2] / best[1]).toFixed(2)}x`);
  console.log(`  ceiling: 2 single-thread runs side by side, ${copies.map((c) => c.toFixed(0)).join(' and ')} img/s: ${((copies[0]! + copies[1]!) / best[1]).toFixed(2)}x`);
  // Adversarial training: the attack runs on the main thread before each step's micro-batches.
  for (const method of ['fast', 'pgd'] as const) {
    const [one, two] = [await trainCase(1, method), await trainCase(2, method)];
    console.log(`  --adversarial ${method}${method === 'pgd' ? ' (10 steps)' : ''}: 1 thread ${one.toFixed(0)} img/s, 2 threads ${two.toFixed(0)} img/s (${(best[1] / one).toFixed(1)}x the cost of a standard step)`);
  }
}

if (!args['skip-ensemble']) {
  // AutoAttack's cost per sample against its members run independently (each on every
  // clean-correct sample), on the shipped hebbian Fashion-MNIST model: what the cascade saves.
  await useBackend('wasm');
  const model = await registry.get('model', 'hebbian').load({ dataset: 'fashion-mnist' });
  const data = await registry.get('dataset', 'fashion-mnist').load({ split: 'test', samples: Number(args['ensemble-samples']), offline: true });
  const autoattack = registry.get('attack', 'autoattack');
  const params = { norm: 'linf', 'aa-version': 'standard', attacks: '', individual: false };
  const measure = async (attack: typeof autoattack, p: typeof params | Record<string, unknown>) => {
    const start = performance.now();
    const curve = await evaluateCurve({ model, attack, params: p as typeof params, data, grid: [0, 0.05], batchSize: batch, seed: 0 });
    return { curve, seconds: (performance.now() - start) / 1000 };
  };
  const ensemble = await measure(autoattack, params);
  // One after another: timed concurrently, each would be charged the others' time.
  const members: ({ name: string } & Awaited<ReturnType<typeof measure>>)[] = [];
  for (const m of await autoattack.individually!(params)) members.push({ name: m.name, ...(await measure(m.attack, m.params)) });
  const n = data.count;
  const cost = new Table({ head: ['attack', 'robust at 0.05', 'grad evals / sample', 'fwd evals / sample', 's / sample'], style: { head: [], border: [] } });
  const row = (name: string, r: { curve: { points: { correct: number }[]; gradientEvaluations: number; forwardEvaluations: number }; seconds: number }) =>
    [name, `${r.curve.points[1]!.correct}/${n}`, (r.curve.gradientEvaluations / n).toFixed(0), (r.curve.forwardEvaluations / n).toFixed(0), (r.seconds / n).toFixed(2)];
  cost.push(row('autoattack standard (cascade)', ensemble));
  for (const m of members) cost.push(row(`  ${m.name} alone`, m));
  const sum = (pick: (r: (typeof members)[number]) => number) => members.reduce((s, m) => s + pick(m), 0);
  cost.push(['members independently, total', '', (sum((m) => m.curve.gradientEvaluations) / n).toFixed(0), (sum((m) => m.curve.forwardEvaluations) / n).toFixed(0), (sum((m) => m.seconds) / n).toFixed(2)]);
  console.log(`\nAutoAttack (standard, l-inf eps 0.05) on ${n} hebbian Fashion-MNIST test images, wasm, batch ${batch}:`);
  console.log(cost.toString());
  model.dispose();
}

if (!args['skip-certify']) {
  // robench certify's rate: CERTIFY with n0 = 100 and n = 1,000 draws per image, copies batched 500
  // per forward pass, so the cost is forward passes at the backend's full rate.
  await useBackend('wasm');
  console.log('\nrobench certify, n0 100 and n 1,000 draws per image, sigma 0.25, 500 copies per forward pass (wasm):');
  for (const [id, dataset] of [['hebbian', 'fashion-mnist'], ['hebbian', 'cifar10']] as const) {
    const model = await registry.get('model', id).load({ dataset });
    const data = await registry.get('dataset', dataset).load({ split: 'test', samples: 5, offline: true });
    const start = performance.now();
    await certifySamples(model, data, [0, 1, 2, 3, 4], { sigma: 0.25, n0: 100, n: 1000, alpha: 0.001, seed: 0, batch: 500 });
    const seconds = (performance.now() - start) / 1000;
    console.log(`  ${id} ${dataset}: ${(5 / seconds).toFixed(2)} certified images/s, ${((5 * 1100) / seconds).toFixed(0)} forward img/s`);
    model.dispose();
  }
}

if (!args['skip-cli']) {
  // The shipped hebbian Fashion-MNIST model through the CLI, as a user runs it.
  const cores = availableParallelism();
  const pgd = ['run', '--model', 'hebbian', '--dataset', 'fashion-mnist', '--attack', 'pgd', '--eps', '0,0.05', '--steps', '10', '--no-sweep', '--backend', 'wasm', '--format', 'json', '--offline'];
  const out = mkdtempSync(join(tmpdir(), 'robench-bench-'));
  // Throughput from the evaluation time each run records (durationMs), on enough samples that
  // a worker thread's start-up (its own backend, model and data) is a small share.
  const samples = existsSync(args['data-dir']) ? '2000' : '1000';
  const data = existsSync(args['data-dir']) ? ['--data-dir', args['data-dir']] : [];
  // In turns, twice, keeping each setting's faster run, for the reason timeInTurns gives.
  const runs = { one: { eval: Infinity, wall: Infinity }, all: { eval: Infinity, wall: Infinity } };
  for (let turn = 0; turn < 2; turn++) {
    for (const [key, workers] of [['one', 1], ['all', cores]] as const) {
      const dir = `${out}/${key}-${turn}`;
      const { seconds } = await timedRun([...pgd, '--samples', samples, ...data, '--workers', String(workers), '--out', dir]);
      runs[key].eval = Math.min(runs[key].eval, readResults(dir)[0]!.durationMs / 1000);
      runs[key].wall = Math.min(runs[key].wall, seconds);
    }
  }
  // The machine's own ceiling for the speed-up: the same single-thread run, `cores` copies at once.
  const copies = await Promise.all(Array.from({ length: cores }, (_, i) =>
    timedRun([...pgd, '--samples', samples, ...data, '--workers', '1', '--out', `${out}/copy-${i}`])));
  const slowestCopy = Math.max(...copies.map((_, i) => readResults(`${out}/copy-${i}`)[0]!.durationMs / 1000));
  console.log(`\nrobench run, hebbian fashion-mnist, PGD-10 l-inf at eps 0.05 on ${samples} samples (wasm), faster of two runs each:`);
  console.log(`  evaluation: 1 thread ${runs.one.eval.toFixed(1)} s, ${cores} threads ${runs.all.eval.toFixed(1)} s: ${(runs.one.eval / runs.all.eval).toFixed(2)}x the throughput`);
  console.log(`  ceiling: ${cores} single-thread processes side by side, ${slowestCopy.toFixed(1)} s each: ${((cores * runs.one.eval) / slowestCopy).toFixed(2)}x`);
  console.log(`  wall time with start-up: ${runs.one.wall.toFixed(1)} s and ${runs.all.wall.toFixed(1)} s: ${(runs.one.wall / runs.all.wall).toFixed(2)}x`);
  if (existsSync(args['data-dir'])) {
    const full = await timedRun([...pgd, '--steps', '5', '--samples', '10000', '--data-dir', args['data-dir'], '--out', `${out}/full`]);
    const rss = full.peakRssMb === undefined ? 'not measurable here (no /proc)' : `${full.peakRssMb.toFixed(0)} MB`;
    console.log(`  10,000 samples, PGD-5, ${cores} threads: ${full.seconds.toFixed(0)} s, peak RSS ${rss}`);
  } else {
    console.log(`  (no ${args['data-dir']}: skipped the 10,000-sample memory figure; pass --data-dir)`);
  }
  rmSync(out, { recursive: true, force: true });
}
