import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  centreImages,
  fixedPointImage,
  imageRows,
  initSmParams,
  relax,
  smArchitecture,
  smGeometry,
  type SmArchitecture,
  type SmParams,
} from '../../src/nets/similarity-matching.js';
import { useBackend } from '../../src/runtime/backends.js';
import { loadLayersModelFrom, saveLayersModelTo } from '../../src/runtime/model-io.js';
import type { DatasetSplit } from '../../src/core/plugin-api.js';
import { scalarRng } from '../../src/core/rng.js';
import { buildSmModel, hebbianUpdate, smModelId, trainSimilarityMatching } from '../../src/training/similarity-matching-train.js';
import { builtinTrainable } from '../../src/training/trainable.js';
import { robench } from '../helpers/cli.js';

test.before(async () => {
  await useBackend('cpu');
});

const normal = (seed: number): (() => number) => {
  const u = scalarRng(seed, 'test');
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
};

/** Two layers on 8x8x2 inputs with feedback, tight tolerance: every term of the dynamics matters. */
const smallArch = (tolerance = 1e-6): SmArchitecture =>
  smArchitecture(8, 2, { neuronsPerSite: 3, layers: 2, radius: 2, stride: 2, gamma: 0.4, dynamics: { tolerance, checkEvery: 5, maxSteps: 6000 } });

/** Params with non-trivial lateral weights (symmetric, L = I + 0.1 S), as training makes them. */
function smallParams(arch: SmArchitecture, seed = 1): SmParams {
  const p = initSmParams(arch, normal(seed));
  const rand = normal(seed + 100);
  const L = p.L.map((l) => {
    const [s, n] = l.shape;
    const noise = tf.tensor3d(Float32Array.from({ length: s * n * n }, () => 0.1 * rand()), [s, n, n]);
    const sym = tf.tidy(() => tf.add(l, tf.div(tf.add(noise, tf.transpose(noise, [0, 2, 1])), 2)) as tf.Tensor3D);
    noise.dispose();
    return sym;
  });
  tf.dispose(p.L);
  return { W: p.W, L };
}

const images = (n: number, side: number, c: number, seed: number): tf.Tensor4D => {
  const u = scalarRng(seed, 'images');
  return tf.tensor4d(Float32Array.from({ length: n * side * side * c }, () => u()), [n, side, side, c]);
};

// ---- The dynamics written out densely, from the definitions, on plain arrays. ----

/** Site s of a layer with output side `out` connects input pixel q when |centre - (q + 0.5)| <= R. */
function connects(inSide: number, stride: number, radius: number, s: number, q: number): boolean {
  const out = inSide / stride;
  const ci = Math.floor(s / out) * stride + stride / 2;
  const cj = (s % out) * stride + stride / 2;
  return Math.hypot(Math.floor(q / inSide) + 0.5 - ci, (q % inSide) + 0.5 - cj) <= radius;
}

/**
 * Layer p's W as a dense [neurons, inputs] matrix, neuron (site s, unit n) -> row s * nps + n and
 * input (pixel q, channel c) -> column q * cin + c, read from the compact store. Also checks
 * that the store is zero exactly off the connection mask.
 */
function denseW(t: import('ava').ExecutionContext, arch: SmArchitecture, p: SmParams, layer: number): Float64Array[] {
  const g = smGeometry(arch)[layer];
  const w = p.W[layer].arraySync() as number[][][];
  const rows = Array.from({ length: g.sites * g.nps }, () => new Float64Array(g.pixels * g.cin));
  for (let s = 0; s < g.sites; s++) {
    for (let k = 0; k < g.slots; k++) {
      const q = g.index[s * g.slots + k];
      for (let c = 0; c < g.cin; c++) {
        for (let n = 0; n < g.nps; n++) {
          const v = w[s][k * g.cin + c][n];
          if (q === g.pixels) {
            if (v !== 0) t.fail(`padding slot of site ${s} holds ${v}`);
            continue;
          }
          rows[s * g.nps + n][q * g.cin + c] = v;
        }
      }
    }
  }
  for (let s = 0; s < g.sites; s++) {
    for (let q = 0; q < g.pixels; q++) {
      const on = connects(g.inSide, arch.layers[layer].stride, arch.layers[layer].radius, s, q);
      const any = rows[s * g.nps].slice(q * g.cin, (q + 1) * g.cin).some((v) => v !== 0);
      if (on !== any) t.fail(`site ${s}, pixel ${q}: connected ${on} by the definition, weight present ${any}`);
    }
  }
  return rows;
}

/** Dense lateral matrix of a layer: block diagonal, one nps x nps block per site. */
function denseL(arch: SmArchitecture, p: SmParams, layer: number): Float64Array[] {
  const g = smGeometry(arch)[layer];
  const l = p.L[layer].arraySync() as number[][][];
  const rows = Array.from({ length: g.sites * g.nps }, () => new Float64Array(g.sites * g.nps));
  for (let s = 0; s < g.sites; s++) for (let a = 0; a < g.nps; a++) for (let b = 0; b < g.nps; b++) rows[s * g.nps + a][s * g.nps + b] = l[s][a][b];
  return rows;
}

const matVec = (m: Float64Array[], v: Float64Array): Float64Array => Float64Array.from(m, (row) => row.reduce((a, w, j) => a + w * v[j], 0));
const matTVec = (m: Float64Array[], v: Float64Array): Float64Array => {
  const out = new Float64Array(m[0].length);
  m.forEach((row, i) => row.forEach((w, j) => (out[j] += w * v[i])));
  return out;
};
const norm = (v: Float64Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

/** Sample b of a [sites, batch, nps] tensor as a vector indexed s * nps + n. */
function sampleVector(r: tf.Tensor3D, b: number): Float64Array {
  const a = r.arraySync();
  return Float64Array.from(a.flatMap((site) => site[b]));
}

test('the dynamics settle on a fixed point of the equations, written out densely from the definitions', (t) => {
  const arch = smallArch();
  const p = smallParams(arch);
  const x = images(3, 8, 2, 7);
  const x0 = tf.tidy(() => imageRows(centreImages(x)));
  const fp = relax(arch, p, x0);
  t.true(fp.converged.every((c) => c === 1), `settled: ${fp.converged}`);
  const W = [denseW(t, arch, p, 0), denseW(t, arch, p, 1)];
  const L = [denseL(arch, p, 0), denseL(arch, p, 1)];
  const xs = tf.tidy(() => tf.reshape(centreImages(x), [3, -1])).arraySync() as number[][];
  for (let b = 0; b < 3; b++) {
    const r = fp.r.map((rp) => sampleVector(rp, b));
    const input = Float64Array.from(xs[b]);
    const drive = [matVec(W[0], input), matVec(W[1], r[0])];
    for (let layer = 0; layer < 2; layer++) {
      const u = r[layer].map((v) => Math.atanh(v));
      const lat = matVec(L[layer], r[layer]);
      const fb = layer === 0 ? matTVec(W[1], r[1]) : new Float64Array(u.length);
      const residual = u.map((ui, i) => -ui + drive[layer][i] + r[layer][i] - lat[i] + arch.gamma * fb[i]);
      t.true(norm(residual) / norm(u) < 1e-4, `sample ${b} layer ${layer + 1}: |F(u*)| / |u*| = ${norm(residual) / norm(u)}`);
      // Not a trivial fixed point: the input drives the layer.
      t.true(norm(u) > 0.1);
    }
  }
  tf.dispose([x, x0, ...fp.r, ...p.W, ...p.L]);
});

test('a sample settles on the same fixed point alone as in a batch', (t) => {
  const arch = smallArch(1e-4);
  const p = smallParams(arch, 3);
  const x = images(5, 8, 2, 9);
  const all = tf.tidy(() => fixedPointImage(arch, p, centreImages(x)));
  const one = tf.tidy(() => fixedPointImage(arch, p, centreImages(tf.slice(x, [2, 0, 0, 0], [1, 8, 8, 2]))));
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(all, [2, 0, 0, 0], [1, 2, 2, 3]), one))).dataSync()[0]);
  t.true(diff < 1e-6, `max difference ${diff}`);
  tf.dispose([x, all, one, ...p.W, ...p.L]);
});

test('the implicit gradient at the fixed point agrees with autodiff through the unrolled steps and with finite differences', (t) => {
  const arch = smallArch(1e-7);
  const p = smallParams(arch, 5);
  const x = images(2, 8, 2, 11);
  const readout = tf.tidy(() => tf.randomNormal([2 * 2 * 3, 1], 0, 1, 'float32', 3) as tf.Tensor2D);
  const loss = (g: 'implicit' | 'unrolled') => (xi: tf.Tensor): tf.Scalar =>
    tf.sum(tf.matMul(tf.reshape(fixedPointImage(arch, p, centreImages(xi as tf.Tensor4D), g), [2, -1]), readout));
  const implicit = tf.grad(loss('implicit'))(x);
  const unrolled = tf.grad(loss('unrolled'))(x);
  const rel = tf.tidy(() => tf.div(tf.norm(tf.sub(implicit, unrolled)), tf.norm(unrolled)).dataSync()[0]);
  t.true(rel < 1e-3, `|implicit - unrolled| / |unrolled| = ${rel}`);
  // Central differences along two random directions.
  for (const seed of [1, 2]) {
    const dir = tf.tidy(() => tf.randomNormal(x.shape, 0, 1, 'float32', seed));
    const h = 1e-2;
    const f = (s: number) => tf.tidy(() => loss('implicit')(tf.add(x, tf.mul(dir, s))).dataSync()[0]);
    const numeric = (f(h) - f(-h)) / (2 * h);
    const analytic = tf.tidy(() => tf.sum(tf.mul(implicit, dir)).dataSync()[0]);
    t.true(Math.abs(numeric - analytic) <= 2e-2 * Math.abs(analytic) + 1e-3, `direction ${seed}: finite difference ${numeric}, gradient ${analytic}`);
    dir.dispose();
  }
  tf.dispose([x, readout, implicit, unrolled, ...p.W, ...p.L]);
});

test("one image's update is the authors' rule, computed directly; batches keep L exactly symmetric", (t) => {
  const arch = smallArch(1e-5);
  const p = smallParams(arch, 8);
  const eta = 0.01;
  const x = images(1, 8, 2, 13);
  const x0 = tf.tidy(() => imageRows(centreImages(x)));
  const fp = relax(arch, p, x0);
  const next = hebbianUpdate(arch, p, x0, fp.r, eta);
  const input = Float64Array.from(tf.tidy(() => tf.reshape(centreImages(x), [-1])).dataSync());
  const r = fp.r.map((rp) => sampleVector(rp, 0));
  for (let layer = 0; layer < 2; layer++) {
    const before = denseW(t, arch, p, layer);
    const after = denseW(t, arch, next, layer);
    const pre = layer === 0 ? input : r[0];
    const g = smGeometry(arch)[layer];
    let worst = 0;
    for (let i = 0; i < before.length; i++) {
      for (let j = 0; j < pre.length; j++) {
        const on = connects(g.inSide, 2, 2, Math.floor(i / g.nps), Math.floor(j / g.cin));
        const want = on ? before[i][j] + eta * (r[layer][i] * pre[j] - before[i][j]) : 0;
        worst = Math.max(worst, Math.abs(after[i][j] - want));
      }
    }
    t.true(worst < 1e-6, `layer ${layer + 1} W: largest error ${worst}`);
    const lBefore = denseL(arch, p, layer);
    const lAfter = denseL(arch, next, layer);
    const decay = layer === 1 ? 1 : 1 / (1 + arch.gamma);
    let worstL = 0;
    for (let i = 0; i < lBefore.length; i++) {
      for (let j = 0; j < lBefore.length; j++) {
        const site = Math.floor(i / g.nps) === Math.floor(j / g.nps);
        const want = site ? lBefore[i][j] + (eta / 2) * (r[layer][i] * r[layer][j] - decay * lBefore[i][j]) : 0;
        worstL = Math.max(worstL, Math.abs(lAfter[i][j] - want));
      }
    }
    t.true(worstL < 1e-6, `layer ${layer + 1} L: largest error ${worstL}`);
  }
  tf.dispose([x, x0, ...fp.r, ...p.W, ...p.L]);
  // A batch: L stays symmetric to the last bit.
  let q = next;
  const xb = images(6, 8, 2, 17);
  const xb0 = tf.tidy(() => imageRows(centreImages(xb)));
  for (let step = 0; step < 3; step++) {
    const f = relax(arch, q, xb0);
    const q2 = hebbianUpdate(arch, q, xb0, f.r, eta);
    tf.dispose([...f.r, ...q.W, ...q.L]);
    q = q2;
  }
  for (const l of q.L) {
    const asym = tf.tidy(() => tf.max(tf.abs(tf.sub(l, tf.transpose(l, [0, 2, 1])))).dataSync()[0]);
    t.is(asym, 0);
  }
  tf.dispose([xb, xb0, ...q.W, ...q.L]);
});

test('the model survives a save and load, and trains and resumes to the same weights', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-sm-'));
  try {
    const count = 120;
    const u = scalarRng(4, 'data');
    const split = (n: number): DatasetSplit => ({
      images: Float32Array.from({ length: n * 8 * 8 }, () => u()),
      labels: Int32Array.from({ length: n }, (_, i) => i % 3),
      count: n,
      shape: [8, 8, 1],
      source: { kind: 'bundled', path: 'memory', sha256: '' },
    });
    const data = { plugin: { id: 'tiny', imageShape: [8, 8, 1] as [number, number, number], classNames: ['a', 'b', 'c'] }, train: split(count), test: split(30) };
    const base = { model: 'similarity-matching', dataset: 'tiny', data, neuronsPerSite: 2, batch: 20, chunkSize: 40, readoutEpochs: 2, log: () => {} };
    const full = await trainSimilarityMatching({ ...base, chunks: 3, out: join(dir, 'full') });
    // Interrupted after the first chunk's checkpoint, then resumed.
    const stop = (c: number): void => {
      if (c === 1) throw new Error('interrupted');
    };
    await t.throwsAsync(trainSimilarityMatching({ ...base, chunks: 3, out: join(dir, 'resumed'), onChunk: stop }), { message: 'interrupted' });
    const resumed = await trainSimilarityMatching({ ...base, chunks: 3, out: join(dir, 'resumed'), resume: true });
    t.is(resumed.weightsSha256, full.weightsSha256);
    t.is(full.manifest.chunks, 3);
    // The shipped model loads and gives the logits it was scored with.
    const model = await loadLayersModelFrom(join(dir, 'full'));
    const x = images(4, 8, 1, 3);
    const logits = model.predict(x) as tf.Tensor;
    t.deepEqual(logits.shape, [4, 3]);
    const again = await saveLayersModelTo(model, join(dir, 'again'));
    t.is(again, full.weightsSha256);
    tf.dispose([x, logits]);
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an image side the stride does not divide is refused with the numbers', (t) => {
  t.throws(() => smArchitecture(28, 1, { stride: 3 }), { message: /28 is not a multiple of the stride 3/ });
});

test('buildSmModel gives logits from the fixed point through the readout', (t) => {
  const arch = smallArch(1e-5);
  const p = smallParams(arch, 2);
  const kernel = tf.randomNormal([12, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
  const bias = tf.zeros([5]) as tf.Tensor1D;
  const model = buildSmModel(arch, p, { kernel, bias }, 'sm-test');
  const x = images(2, 8, 2, 21);
  const got = model.predict(x) as tf.Tensor;
  const want = tf.tidy(() => tf.matMul(tf.reshape(fixedPointImage(arch, p, centreImages(x)), [2, -1]), kernel));
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]);
  t.true(diff < 1e-5, `${diff}`);
  tf.dispose([x, got, want, kernel, bias, ...p.W, ...p.L]);
  model.dispose();
});

test('train names the model by its neurons per site, and refuses what does not apply before any compute', async (t) => {
  const trainable = await builtinTrainable();
  t.is(smModelId('similarity-matching', undefined, trainable), 'similarity-matching');
  t.is(smModelId('similarity-matching', 4, trainable), 'similarity-matching');
  t.is(smModelId('similarity-matching', 8, trainable), 'similarity-matching-8', 'the zoo model of that width');
  t.is(smModelId('similarity-matching-8', 4, trainable), 'similarity-matching');
  t.is(smModelId('similarity-matching', 16, trainable), 'similarity-matching-16');
  t.throws(() => smModelId('similarity-matching-8', 16, trainable), { message: /has 8 neurons per site, not 16/ });
  // The width is the plugin's declaration, not its name.
  const declared = new Map([['sm', { trainer: 'similarity-matching', neuronsPerSite: 4 }], ['sm-wide', { trainer: 'similarity-matching', neuronsPerSite: 32 }]] as const);
  t.is(smModelId('sm', 32, declared), 'sm-wide');
  const epochs = await robench(['train', '--model', 'similarity-matching', '--dataset', 'mnist', '--epochs', '3']);
  t.is(epochs.code, 2);
  t.regex(epochs.stderr, /--epochs and --lr do not apply/);
  const other = await robench(['train', '--model', 'hebbian', '--dataset', 'mnist', '--neurons-per-site', '8']);
  t.is(other.code, 2);
  t.regex(other.stderr, /apply to similarity matching only/);
});

test.serial('solving, differentiating and training leave no tensor behind', (t) => {
  const arch = smallArch(1e-4);
  const p = smallParams(arch, 12);
  const x = images(4, 8, 2, 23);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const x0 = tf.tidy(() => imageRows(centreImages(x)));
    const fp = relax(arch, p, x0);
    const next = hebbianUpdate(arch, p, x0, fp.r, 0.01);
    tf.dispose([x0, ...fp.r, ...next.W, ...next.L]);
    const g = tf.grad((xi: tf.Tensor) => tf.sum(fixedPointImage(arch, p, centreImages(xi as tf.Tensor4D))))(x);
    g.dispose();
  }
  t.is(tf.memory().numTensors, before);
  tf.dispose([x, ...p.W, ...p.L]);
});
