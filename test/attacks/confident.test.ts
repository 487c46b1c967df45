import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import fgsm from '../../attacks/fgsm.js';
import pgd from '../../attacks/pgd.js';
import apgd from '../../attacks/apgd.js';
import { crossEntropy } from '../../src/core/losses.js';
import { steepestDirection } from '../../src/core/norms.js';
import { confidentLinear, contextFor, paramsOf, runAttack } from '../helpers/tiny-models.js';
import { testBackend } from '../helpers/backend.js';
import type { AttackPlugin, Params } from '../../src/core/plugin-api.js';

async function fooled(attack: AttackPlugin<any>, eps: number, overrides: Params = {}): Promise<number> {
  const { model, x, y } = confidentLinear();
  const { ctx } = contextFor(model, x, y, eps, paramsOf(attack, overrides), 3);
  const [xadv] = await runAttack(attack, ctx);
  const wrong = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(tf.argMax(model.logits(xadv!), 1), y), 'int32')).dataSync()[0]!);
  tf.dispose([xadv!, x, y]);
  model.dispose();
  return wrong;
}

test(`[${testBackend}] the test model is as confident as intended: margins 24-48, softmax_y rounds to 1`, (t) => {
  const { model, x, y, margins } = confidentLinear();
  const pY = tf.tidy(() => Array.from(tf.sum(tf.mul(tf.softmax(model.logits(x)), tf.oneHot(y, 2)), 1).dataSync()));
  t.true(Math.min(...margins) > 24 && Math.max(...margins) < 49, `margins ${Math.min(...margins)}..${Math.max(...margins)}`);
  t.true(pY.every((p) => p === 1), 'softmax(z)_y is exactly 1 in float32 for every sample');
  tf.dispose([x, y]);
  model.dispose();
});

test(`[${testBackend}] cross-entropy keeps its value and gradient on confident samples`, (t) => {
  const { model, x, y, margins, c } = confidentLinear();
  const { value, grad, z } = tf.tidy(() => {
    const logits = model.logits(x);
    const g = tf.grad((zz: tf.Tensor) => tf.sum(crossEntropy(zz as tf.Tensor2D, y)))(logits);
    return { value: Array.from(crossEntropy(logits, y).dataSync()), grad: Array.from(g.dataSync()), z: Array.from(logits.dataSync()) };
  });
  margins.forEach((_, i) => {
    const label = c[i]! > 0 ? 1 : 0;
    // The float32 logits' own margin, in float64: CE = log(1 + e^-m), dCE/dz_y = -e^-m / (1 + e^-m).
    const m = z[2 * i + label]! - z[2 * i + 1 - label]!;
    const exact = Math.log1p(Math.exp(-m));
    t.true(Math.abs(value[i]! - exact) <= 1e-5 * exact, `sample ${i}: CE ${value[i]} vs ${exact}`);
    const dLabel = grad[2 * i + label]!;
    const dOther = grad[2 * i + 1 - label]!;
    t.true(Math.abs(dLabel + Math.exp(-m)) <= 1e-5 * Math.exp(-m), `sample ${i}: dCE/dz_y ${dLabel} vs ${-Math.exp(-m)}`);
    t.true(Math.abs(dOther - Math.exp(-m)) <= 1e-5 * Math.exp(-m), `sample ${i}: dCE/dz_other ${dOther}`);
  });
  tf.dispose([x, y]);
  model.dispose();
});

test(`[${testBackend}] steepest directions are exact at any gradient scale`, (t) => {
  const g = tf.tensor4d([3e-30, -1e-40, 0, 2e-8, 4e-30, 0, 0, 0], [2, 2, 2, 1]);
  const sign = Array.from(steepestDirection('linf', g).dataSync());
  t.deepEqual(sign, [1, -1, 0, 1, 1, 0, 0, 0]);
  const unit = Array.from(steepestDirection('l2', g).dataSync());
  const n0 = Math.hypot(3e-30, 1e-40, 2e-8);
  [3e-30, -1e-40, 0, 2e-8].forEach((v, i) => t.true(Math.abs(unit[i]! - v / n0) < 1e-6, `entry ${i}: ${unit[i]}`));
  t.deepEqual(unit.slice(4), [1, 0, 0, 0]);
  g.dispose();
});

test(`[${testBackend}] FGSM reaches the closed-form l-inf optimum on confident samples`, async (t) => {
  const { model, x, y, k, l1, margins } = confidentLinear();
  const eps = 0.08;
  const { ctx } = contextFor(model, x, y, eps, paramsOf(fgsm), 3);
  const [xadv] = await runAttack(fgsm, ctx);
  const z = tf.tidy(() => Array.from(model.logits(xadv!).dataSync()));
  margins.forEach((m, i) => {
    const label = y.arraySync()[i]!;
    const after = z[2 * i + label]! - z[2 * i + 1 - label]!;
    t.true(Math.abs(after - (m - eps * k * l1)) < 1e-3 * m, `sample ${i}: margin ${after} vs ${m - eps * k * l1}`);
  });
  tf.dispose([xadv!, x, y]);
  model.dispose();
});

for (const [attack, overrides] of [
  [pgd, {}],
  [apgd, {}],
  [pgd, { loss: 'margin' }],
] as const) {
  const name = `${attack.id}${'loss' in overrides ? ` (${overrides.loss})` : ''}`;
  test(`[${testBackend}] ${name} l-inf breaks every confident sample at a budget the optimum breaks`, async (t) => {
    const { margins } = confidentLinear();
    // 0.1 c < 0.12 for every sample: the optimal l-inf attack leaves each a margin below -0.02 k ||w||_1.
    t.is(await fooled(attack, 0.12, { ...overrides, norm: 'linf', steps: 20 }), margins.length);
  });

  test(`[${testBackend}] ${name} l2 breaks every confident sample at a budget the optimum breaks`, async (t) => {
    const { margins, k, l2 } = confidentLinear();
    const needed = Math.max(...margins) / (k * l2);
    t.is(await fooled(attack, 1.2 * needed, { ...overrides, norm: 'l2', steps: 20 }), margins.length);
  });
}

test(`[${testBackend}] PGD l2 leaves robust exactly the samples the closed form says survive`, async (t) => {
  const { margins, k, l2 } = confidentLinear();
  // Half-way along the margins: samples whose margin needs more than eps k ||w||_2 must survive.
  const eps = (margins[11]! + margins[12]!) / 2 / (k * l2);
  const mustBreak = margins.filter((m) => m < eps * k * l2 * 0.98).length;
  const mustSurvive = margins.filter((m) => m > eps * k * l2 * 1.02).length;
  const broken = await fooled(pgd, eps, { norm: 'l2', steps: 50 });
  t.true(broken >= mustBreak && broken <= margins.length - mustSurvive, `broken ${broken}, expected ${mustBreak}..${margins.length - mustSurvive}`);
});

test(`[${testBackend}] the kernels attack maths build on keep tiny values: no threshold like wasm's Sign`, (t) => {
  const tiny = [1e-40, 1e-30, 1e-20, 1e-10, 1e-7];
  const v = tf.tensor1d(tiny);
  const read = (r: tf.Tensor) => Array.from(r.dataSync());
  tf.tidy(() => {
    t.deepEqual(read(tf.cast(tf.greater(v, 0), 'float32')), [1, 1, 1, 1, 1], 'comparisons with 0');
    t.deepEqual(read(tf.cast(tf.less(tf.neg(v), 0), 'float32')), [1, 1, 1, 1, 1], 'comparisons of negatives');
    read(tf.abs(tf.neg(v))).forEach((a, i) => t.true(a > 0 && Math.abs(a - tiny[i]!) <= 1e-6 * tiny[i]! + 1e-44, `abs ${a}`));
    t.true(read(tf.max(v))[0] === Math.fround(1e-7), 'max');
    read(tf.divNoNan(v, tf.max(v))).forEach((a, i) => t.true(Math.abs(a - tiny[i]! / 1e-7) <= 1e-5 * (tiny[i]! / 1e-7) + 1e-38, `divNoNan ${a}`));
    // exp of the logit gaps cross-entropy sums: e^-80 is 1.8e-35, a normal float32.
    const e = read(tf.exp(tf.tensor1d([-20, -50, -80])));
    [-20, -50, -80].forEach((g, i) => t.true(Math.abs(e[i]! - Math.exp(g)) <= 1e-5 * Math.exp(g), `exp(${g}) = ${e[i]}`));
    // log near 1, which the log1p identity relies on.
    const l = read(tf.log(tf.tensor1d([1 + 2 ** -20, 1.5])));
    t.true(Math.abs(l[0]! - Math.log(1 + 2 ** -20)) <= 1e-4 * 2 ** -20 && Math.abs(l[1]! - Math.log(1.5)) < 1e-6, `log ${l}`);
  });
  v.dispose();
});
