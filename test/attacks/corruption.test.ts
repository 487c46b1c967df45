import { readFileSync } from 'node:fs';
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import corruption, { allCorruptions, commonCorruptions, corruptions, makeRandom } from '../../attacks/corruption.js';
import { affineFromPoints, gaussianFilter, image, motionBlur, reflect, reflect101, resizeBox, clippedZoom, warpAffine } from '../../src/image/image-ops.js';
import { scalarRng } from '../../src/core/rng.js';
import { contextFor, randomMlp, runAttack, type TinyModel } from '../helpers/tiny-models.js';

await tf.setBackend('cpu');

/** Smooth synthetic photos: a tilted background and a coloured disc, pixels in (0, 1). */
function photos(n: number, size: number, c: number, seed: number): tf.Tensor4D {
  const next = scalarRng(seed, 'photos');
  const data = new Float32Array(n * size * size * c);
  for (let b = 0; b < n; b++) {
    const [cy, cx, r] = [size * (0.3 + 0.4 * next()), size * (0.3 + 0.4 * next()), size * (0.15 + 0.2 * next())];
    const fg = [next(), next(), next()];
    const bg = [0.1 + 0.4 * next(), 0.1 + 0.4 * next(), 0.1 + 0.4 * next()];
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        for (let ch = 0; ch < c; ch++) {
          data[((b * size + i) * size + j) * c + ch] = (i - cy) ** 2 + (j - cx) ** 2 < r * r ? fg[ch] : bg[ch] + (0.3 * j) / size;
        }
      }
    }
  }
  return tf.tensor4d(data, [n, size, size, c]);
}

const grey = { model: randomMlp(1, [28, 28, 1], 4, 10), x: photos(4, 28, 1, 1) };
const colour = { model: randomMlp(2, [32, 32, 3], 4, 10), x: photos(4, 32, 3, 2) };
const labels = tf.tensor1d([0, 1, 2, 3], 'int32');

async function corrupt(set: { model: TinyModel; x: tf.Tensor4D }, name: string, severity: number, seed = 1, x = set.x, y = labels) {
  const { ctx } = contextFor(set.model, x, y, severity, { corruption: name }, seed);
  return runAttack(corruption, ctx);
}

const meanAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b))).dataSync()[0]);

/**
 * The published parameters of these do not grow along one axis: glass blur's sigma
 * drops from severity 3 to 4 as its iterations double, elastic trades a shrinking
 * affine jitter for a growing elastic field, frost's keep/blend pair partly cancels,
 * spatter switches from water to mud at 4, saturate desaturates at 1-2 and
 * oversaturates at 3-5. Pixelate's sizes int(28 c) = 26, 25, 23, 21, 18 alias
 * differently, so on 28x28 images severity 1 can move pixels more than 2; its
 * later severities and all of them on 32x32 images grow.
 */
const nonMonotone = new Set(['glass_blur', 'elastic_transform', 'frost', 'spatter', 'saturate']);
const monotoneFrom = (name: string, c: number): number => (name === 'pixelate' && c === 1 ? 1 : 0);

for (const name of allCorruptions) {
  test(`${name}: keeps shape and range, deterministic for a seed, severity grows the change`, async (t) => {
    for (const set of [grey, colour]) {
      const diffs: number[] = [];
      for (let severity = 1; severity <= 5; severity++) {
        const [out] = await corrupt(set, name, severity);
        t.deepEqual(out.shape, set.x.shape);
        const values = out.dataSync();
        t.true(values.every((v) => v >= 0 && v <= 1), `${name} severity ${severity} in [0, 1], no NaN`);
        diffs.push(meanAbsDiff(out, set.x));
        if (severity === 3) {
          const [again] = await corrupt(set, name, severity);
          t.deepEqual(again.dataSync(), values, 'same seed, same image');
          again.dispose();
        }
        out.dispose();
      }
      const c = set.x.shape[3];
      if (name === 'saturate' && c === 1) {
        t.deepEqual(diffs.slice(0, 3), [0, 0, 0], 'grey pixels have no saturation to scale');
      } else {
        t.true(diffs.every((d) => d > 0), `every severity changes the image: ${diffs}`);
      }
      if (!nonMonotone.has(name)) {
        diffs.forEach((d, i) => t.true(i <= monotoneFrom(name, c) || d >= diffs[i - 1] * (1 - 1e-3), `${name} (${c} channels) severities: ${diffs.map((v) => v.toFixed(4))}`));
      }
    }
  });
}

test('random corruptions depend on the seed and each sample only on its own stream', async (t) => {
  for (const name of ['gaussian_noise', 'shot_noise', 'impulse_noise', 'glass_blur', 'motion_blur', 'snow', 'frost', 'fog', 'elastic_transform', 'spatter', 'speckle_noise']) {
    const [a] = await corrupt(colour, name, 4, 1);
    const [b] = await corrupt(colour, name, 4, 2);
    t.notDeepEqual(a.dataSync(), b.dataSync(), name);
    const first = tf.slice(colour.x, 0, 1);
    const [alone] = await corrupt(colour, name, 4, 1, first, tf.tensor1d([0], 'int32'));
    t.deepEqual(alone.dataSync(), a.dataSync().slice(0, 32 * 32 * 3), `${name}: batch-independent`);
    tf.dispose([a, b, first, alone]);
  }
});

test.serial('severity 0 is the clean batch; common and all return one batch per corruption; no leaks', async (t) => {
  const before = tf.memory().numTensors;
  const clean = await corrupt(grey, 'common', 0);
  t.is(clean.length, 15);
  for (const out of clean) t.deepEqual(out.dataSync(), grey.x.dataSync());
  const every = await corrupt(grey, 'all', 2);
  t.is(every.length, 19);
  t.is(tf.memory().numTensors, before + 34);
  tf.dispose([...clean, ...every]);
  t.deepEqual(commonCorruptions.slice(0, 3), ['gaussian_noise', 'shot_noise', 'impulse_noise']);
  await t.throwsAsync(corrupt(grey, 'gaussian_noise', 2.5), { message: /severity must be an integer from 0 to 5/ });
  await t.throwsAsync(corrupt(grey, 'gaussian_noise', 6), { message: /severity must be an integer from 0 to 5/ });
  await t.throwsAsync(corrupt(grey, 'rain', 1), { message: /unknown corruption "rain"/ });
  t.is(corruption.budget({ corruption: 'common' }), null);
  t.deepEqual(corruption.defaultGrid('mnist', { corruption: 'common' }), [0, 1, 2, 3, 4, 5]);
});

test('brightness on grey adds c to the value channel; contrast keeps each channel mean without clipping', async (t) => {
  const [bright] = await corrupt(grey, 'brightness', 2);
  const expected = tf.tidy(() => tf.clipByValue(tf.add(grey.x, 0.1), 0, 1));
  t.true(meanAbsDiff(bright, expected) < 1e-6);
  const mid = tf.tidy(() => tf.add(tf.mul(colour.x, 0.5), 0.25)) as tf.Tensor4D;
  const [flat] = await corrupt(colour, 'contrast', 5, 1, mid);
  const means = (v: tf.Tensor) => tf.tidy(() => Array.from(tf.mean(v, [1, 2]).dataSync()));
  means(flat).forEach((m, i) => t.true(Math.abs(m - means(mid)[i]) < 1e-5));
  tf.dispose([bright, expected, mid, flat]);
});

test('the Poisson and normal samplers have the right mean and variance', (t) => {
  const r = makeRandom(scalarRng(9, 'samplers'));
  for (const lambda of [3, 40, 400]) {
    const xs = Array.from({ length: 20000 }, () => r.poisson(lambda));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    t.true(Math.abs(mean - lambda) < 0.05 * lambda, `mean ${mean} for ${lambda}`);
    t.true(Math.abs(variance - lambda) < 0.1 * lambda, `variance ${variance} for ${lambda}`);
    t.true(xs.every((v) => Number.isInteger(v) && v >= 0));
  }
  const zs = Array.from({ length: 20000 }, () => r.normal(1, 2));
  const mean = zs.reduce((a, b) => a + b, 0) / zs.length;
  t.true(Math.abs(mean - 1) < 0.05);
  t.true(Math.abs(Math.sqrt(zs.reduce((a, b) => a + (b - mean) ** 2, 0) / zs.length) - 2) < 0.05);
  const ints = Array.from({ length: 2000 }, () => r.randint(-1, 1));
  t.deepEqual([...new Set(ints)].sort(), [-1, 0]);
});

test('image primitives: borders, filters and resampling behave like their library counterparts', (t) => {
  t.deepEqual([-2, -1, 0, 3, 4, 5].map((i) => reflect101(i, 4)), [2, 1, 0, 3, 2, 1]);
  t.deepEqual([-2, -1, 0, 3, 4, 5].map((i) => reflect(i, 4)), [1, 0, 0, 3, 3, 2]);
  const ramp = image(6, 6, 1, Float64Array.from({ length: 36 }, (_, k) => (k % 6) / 5));
  const constant = image(6, 6, 1, new Float64Array(36).fill(0.4));
  for (const out of [gaussianFilter(constant, 1.3), motionBlur(constant, 6, 2, 30), resizeBox(resizeBox(constant, 4, 4), 6, 6)]) {
    t.true(out.data.every((v) => Math.abs(v - 0.4) < 1e-9));
  }
  t.deepEqual(Array.from(clippedZoom(ramp, 1).data), Array.from(ramp.data));
  t.deepEqual(Array.from(resizeBox(ramp, 6, 6).data), Array.from(ramp.data));
  const m = [1.1, 0.2, -0.5, -0.1, 0.9, 0.7];
  const src = [[3, 4], [1, 1], [5, 0]];
  const dst = src.map(([x, y]) => [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]]);
  affineFromPoints(src, dst).forEach((v, i) => t.true(Math.abs(v - m[i]) < 1e-9));
  t.deepEqual(Array.from(warpAffine(ramp, [1, 0, 0, 0, 1, 0]).data), Array.from(ramp.data));
  const shifted = warpAffine(ramp, [1, 0, 1, 0, 1, 0]);
  t.true(Math.abs(shifted.data[2] - ramp.data[1]) < 1e-12, 'a +1 x translation moves content right');
});

interface ReferenceStats {
  mean: number[];
  sd: number[];
}
interface Reference {
  seeds: number;
  images: { colour: number[][]; grey: number[][] };
  colour: Record<string, ReferenceStats[][]>;
  grey: Record<string, ReferenceStats[][]>;
}
const reference = JSON.parse(readFileSync(new URL('../fixtures/corruptions-reference.json', import.meta.url), 'utf8')) as Reference;

/** PIL and ImageMagick hand back rounded 8-bit pixels; the generator truncates its float outputs to uint8. */
const roundedByLibrary = new Set(['pixelate', 'jpeg_compression', 'motion_blur']);
/**
 * Allowed systematic gap in grey levels: 0.25 for float rounding, 1 for the mean of motion blur,
 * whose images come out 0.5-1 grey level brighter than ImageMagick's (its edge handling differs).
 */
const floor = (name: string, stat: number): number => (name === 'motion_blur' && stat === 1 ? 1 : 0.25);

/** [mean |x - clean|, mean, std] in grey levels of the image as the reference generator saves it. */
function greyLevelStats(name: string, clean: number[], out: Float64Array): number[] {
  const toByte = roundedByLibrary.has(name) ? Math.round : (v: number) => Math.trunc(v + 1e-6);
  const x = Array.from(out, (v) => toByte(Math.min(1, Math.max(0, v)) * 255));
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  return [
    x.reduce((a, v, k) => a + Math.abs(v - clean[k]), 0) / x.length,
    mean,
    Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length),
  ];
}

/**
 * Every corruption against the published generator run on the same two CIFAR-10 images
 * (scripts/reference-corruptions.py): per severity, robench's mean statistic over its draws must
 * lie within 4 standard errors of the reference's mean over its seeds, plus the floor above.
 * Deterministic corruptions have no spread, so they must agree to the floor. A wrong severity
 * table, or glass blur's true swap on colour images (12.4 -> 17.0 grey levels), fails.
 */
for (const kind of ['colour', 'grey'] as const) {
  const c = kind === 'colour' ? 3 : 1;
  for (const name of Object.keys(reference[kind])) {
    test(`${name} on ${kind} images matches the CIFAR-10-C generator at every severity`, (t) => {
      const draws = 16;
      reference.images[kind].forEach((clean, im) => {
        for (const severity of [1, 2, 3, 4, 5]) {
          const stats = Array.from({ length: draws }, (_, d) => {
            const x = image(32, 32, c, Float64Array.from(clean, (v) => v / 255));
            return greyLevelStats(name, clean, corruptions[name](x, severity, makeRandom(scalarRng(d, `reference ${name} ${severity}`))).data);
          });
          const ref = reference[kind][name][im][severity - 1];
          ['mean change', 'mean', 'std'].forEach((label, i) => {
            const ours = stats.reduce((a, row) => a + row[i], 0) / draws;
            const allowed = 4 * ref.sd[i] * Math.sqrt(1 / draws + 1 / reference.seeds) + floor(name, i);
            t.true(Math.abs(ours - ref.mean[i]) <= allowed, `image ${im} severity ${severity} ${label}: robench ${ours.toFixed(2)}, reference ${ref.mean[i]} (sd ${ref.sd[i]}), allowed ${allowed.toFixed(2)}`);
          });
        }
      });
    });
  }
}

test('the reference fixture covers every robench corruption', (t) => {
  t.deepEqual(Object.keys(reference.colour).sort(), [...allCorruptions].sort());
  t.deepEqual(Object.keys(reference.grey), ['glass_blur']);
});
