import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import apgd from '../../attacks/apgd.js';
import fgsm from '../../attacks/fgsm.js';
import pgd from '../../attacks/pgd.js';
import { buildModel, initializeWeights, type Architecture } from '../../src/nets/architectures.js';
import { makeAttackContext } from '../../src/core/attack-context.js';
import { useBackend } from '../../src/runtime/backends.js';
import { trainingLoss } from '../../src/training/hah-objective.js';
import { sampleRng, scalarRng } from '../../src/core/rng.js';
import { root, saveDenseModel } from '../helpers/cli.js';
import { confidentLinear, contextFor, paramsOf } from '../helpers/tiny-models.js';

// Backends are process-global, so every test here runs serially. CI installs lavapipe
// (scripts/install-lavapipe.sh), where WebGPU must start; elsewhere a machine without it
// only logs why.
const inCi = /^(1|true)$/i.test(process.env.CI ?? '');

let unavailable: string | undefined;
test.before(async () => {
  try {
    await useBackend('webgpu');
  } catch (err) {
    unavailable = err instanceof Error ? err.message : String(err);
  }
});

/** Fails in CI and passes with a note elsewhere when WebGPU cannot start; true when it can. */
function webgpuOrSkip(t: { fail(message: string): void; log(...values: unknown[]): void; pass(): void }): boolean {
  if (unavailable === undefined) return true;
  const message = `WebGPU did not start: ${unavailable}. On Debian run scripts/install-lavapipe.sh as root (Mesa >= 25 lavapipe from bookworm-backports) and npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0`;
  if (inCi) t.fail(message);
  else {
    t.log(`${message}; not in CI, so passing`);
    t.pass();
  }
  return false;
}

const SEED = 7;
const SHAPE: [number, number, number] = [8, 8, 3];
const CLASSES = 5;
const BATCH = 4;

/** One HaH block (normalised conv, divisive normalisation, fractional threshold) and one standard block. */
const ARCH: Architecture = {
  family: 'hebbian',
  size: 'compact',
  blocks: [
    { filters: 4, hah: true, pool: true },
    { filters: 6, hah: false, pool: true },
  ],
  hah: { alphas: [0.0045], lambda: 1, ratio: 0.1, sigma: 0.1, thresholdRatio: 0.2 },
};

interface Outcome {
  logits: Float32Array;
  inputGrad: Float32Array;
  loss: Float32Array;
  adamLosses: number[];
  weights: Float32Array[];
  xadv: Float32Array;
  advLogits: Float32Array;
  leaked: number;
}

function inputs(): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const rand = scalarRng(SEED, 'images');
  const pixels = Float32Array.from({ length: BATCH * SHAPE[0] * SHAPE[1] * SHAPE[2] }, rand);
  return { x: tf.tensor4d(pixels, [BATCH, ...SHAPE]), y: tf.tensor1d([0, 1, 2, 3], 'int32') };
}

const read = async (t: tf.Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

/**
 * Everything robench computes with a model, on the active backend: inference, input
 * gradients, a PGD attack through the attack context, and Adam on the training objective.
 * Reads are all `await data()`, the only way to read a GPU tensor.
 */
async function workload(): Promise<Outcome> {
  const before = tf.memory().numTensors;
  const model = buildModel(ARCH, SHAPE, CLASSES, { mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3] });
  initializeWeights(model, scalarRng(SEED, 'init'));
  const { x, y } = inputs();
  const logitsOf = (input: tf.Tensor4D) => model.apply(input, { training: false }) as tf.Tensor2D;

  const clean = logitsOf(x);
  const logits = await read(clean);
  clean.dispose();

  const ctx = makeAttackContext({
    logits: logitsOf,
    x,
    y,
    eps: 8 / 255,
    params: { norm: 'linf', loss: 'ce', steps: 3, restarts: 1, 'random-start': true },
    rng: sampleRng(SEED, [0, 1, 2, 3]),
    numClasses: CLASSES,
    dataset: 'webgpu-test',
    counters: { forward: 0, gradient: 0 },
  });
  const g = ctx.inputGradient(x);
  const [inputGrad, loss] = [await read(g.grad), await read(g.loss)];
  tf.dispose([g.grad, g.loss, g.logits]);

  const attacked = await pgd.run(ctx as Parameters<typeof pgd.run>[0]);
  const adv = Array.isArray(attacked) ? attacked[0] : attacked;
  const advOut = logitsOf(adv);
  const [xadv, advLogits] = [await read(adv), await read(advOut)];
  tf.dispose([attacked, advOut]);

  // As a tf.Optimizer: Adam's own applyGradients type names a NamedVariableMap, not the NamedTensorMap of gradients variableGrads returns.
  const optimizer: tf.Optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const adamLosses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => trainingLoss(model, ARCH, x, y).loss), vars);
    optimizer.applyGradients(grads);
    adamLosses.push((await read(value))[0]);
    tf.dispose([value, grads]);
  }
  const weights = await Promise.all(vars.map((v) => read(v)));
  optimizer.dispose();
  model.dispose();
  tf.dispose([x, y]);
  return { logits, inputGrad, loss, adamLosses, weights, xadv, advLogits, leaked: tf.memory().numTensors - before };
}

/** Largest |a - b| / max(1, |b|): absolute for small values, relative for large ones. */
function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

/** Kernels a computation runs on the active backend, as tfjs's profiler records them. */
async function kernelsOf(f: () => Promise<void>): Promise<Set<string>> {
  const backend = tf.getBackend();
  const info = await tf.profile(async () => {
    await f();
    return [];
  });
  // The profiler also lists op and scope names; only registered kernels run.
  return new Set(info.kernelNames.filter((name) => tf.getKernel(name, backend) !== undefined));
}

let reference: Outcome | undefined;
let usedKernels: Set<string> | undefined;

test.serial('the cpu reference workload runs without leaking tensors', async (t) => {
  await useBackend('cpu');
  usedKernels = await kernelsOf(async () => {
    reference = await workload();
  });
  t.is(reference!.leaked, 0);
  // The attack moved the images and Adam lowered the loss: the comparison below is not vacuous.
  t.true(maxError(reference!.xadv, Array.from(reference!.inputGrad, () => 0)) > 0);
  t.true(reference!.adamLosses[2] < reference!.adamLosses[0]);
});

test.serial('the WebGPU adapter is reported with vendor, architecture and software or hardware', async (t) => {
  if (!webgpuOrSkip(t)) return;
  const info = await useBackend('webgpu');
  t.is(info.name, 'webgpu');
  t.regex(info.detail ?? '', /(software \(.+\)|hardware)/);
});

test.serial('every kernel the workload uses is registered for webgpu', (t) => {
  if (!webgpuOrSkip(t)) return;
  const registered = new Set(tf.getKernelsForBackend('webgpu').map((k) => k.kernelName));
  t.true(usedKernels!.size > 20, `profiled only ${usedKernels!.size} kernels`);
  t.deepEqual([...usedKernels!].filter((k) => !registered.has(k)), []);
});

test.serial('forward, input gradients, PGD and Adam on webgpu agree with cpu, without leaks', async (t) => {
  if (!webgpuOrSkip(t)) return;
  await useBackend('webgpu');
  const gpu = await workload();
  const ref = reference!;
  t.is(gpu.leaked, 0);
  const errors = {
    logits: maxError(gpu.logits, ref.logits),
    loss: maxError(gpu.loss, ref.loss),
    inputGrad: maxError(gpu.inputGrad, ref.inputGrad),
    xadv: maxError(gpu.xadv, ref.xadv),
    advLogits: maxError(gpu.advLogits, ref.advLogits),
    adamLosses: maxError(gpu.adamLosses, ref.adamLosses),
    weights: Math.max(...gpu.weights.map((w, i) => maxError(w, ref.weights[i]))),
  };
  t.log(errors);
  for (const [name, error] of Object.entries(errors)) t.true(error <= 1e-5, `${name} differs from cpu by ${error}`);
});

/** Runs the CLI from source; `timedOut` when it had to be killed (Dawn keeping the process alive). */
function robenchWithin(args: string[], ms: number): Promise<{ code: number; timedOut: boolean; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args],
      { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, timeout: ms, maxBuffer: 1 << 24 },
      (err, _stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, timedOut: err?.killed === true, stderr }),
    );
  });
}

test.serial('robench run on webgpu finishes, exits by itself and matches the cpu run', async (t) => {
  if (!webgpuOrSkip(t)) return;
  const dir = await mkdtemp(join(tmpdir(), 'robench-webgpu-'));
  try {
    const model = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 3 });
    const results: Record<string, { backend: string; backendDetail?: string; points: unknown[] }> = {};
    for (const backend of ['cpu', 'webgpu']) {
      const out = join(dir, backend);
      const args = ['run', '--model', model, '--dataset', 'mnist', '--attack', 'pgd', '--steps', '2', '--eps', '0,0.1', '--samples', '16', '--batch', '16', '--seed', '5', '--backend', backend, '--format', 'json', '--out', out];
      const r = await robenchWithin(args, 120_000);
      t.false(r.timedOut, `robench run --backend ${backend} did not exit within 120 s`);
      t.is(r.code, 0, r.stderr);
      results[backend] = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).runs[0];
    }
    t.is(results.webgpu.backend, 'webgpu');
    t.regex(results.webgpu.backendDetail ?? '', /(software \(.+\)|hardware)/, 'the adapter is recorded');
    t.deepEqual(results.webgpu.points, results.cpu.points);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial('on WebGPU, FGSM, PGD and APGD break every confidently classified sample where the closed form says they must', async (t) => {
  if (!webgpuOrSkip(t)) return;
  await useBackend('webgpu');
  for (const [attack, norm] of [[fgsm, 'linf'], [pgd, 'linf'], [pgd, 'l2'], [apgd, 'linf'], [apgd, 'l2']] as const) {
    const { model, x, y, margins, k, l2 } = confidentLinear();
    const budget = norm === 'linf' ? 0.12 : (1.2 * Math.max(...margins)) / (k * l2);
    const { ctx } = contextFor(model, x, y, budget, paramsOf(attack, attack === fgsm ? {} : { norm, steps: 20 }), 3);
    const xadv = (await attack.run(ctx as never)) as tf.Tensor4D;
    const wrong = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(tf.argMax(model.logits(xadv), 1), y), 'int32')));
    t.is((await wrong.data())[0], margins.length, `${attack.id} ${norm}: every sample broken`);
    tf.dispose([xadv, wrong, x, y]);
    model.dispose();
  }
});
