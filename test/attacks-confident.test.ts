import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import fgsm from '../attacks/fgsm.js';
import pgd from '../attacks/pgd.js';
import apgd from '../attacks/apgd.js';
import { crossEntropy } from '../src/losses.js';
import { steepestDirection } from '../src/norms.js';
import { contextFor, linearModel, paramsOf, runAttack } from './helpers/tiny-models.js';
import { testBackend } from './helpers/backend.js';
import type { AttackPlugin, Params } from '../src/plugin-api.js';

/**
 * A two-class linear model on 4x4 images, f(x) = k w.(x - 1/2), and images at 1/2 + 0.1 c sign(w)
 * (c in +-[0.5, 1]): every clean logit margin is between about 24 and 48, where softmax(z)_y
 * rounds to 1 in float32 and the cross-entropy gradient is 1e-11 to 1e-21. The optimal l-inf attack
 * lowers the margin by eps k ||w||_1 and the optimal l2 attack by eps k ||w||_2 (both inside [0, 1]
 * here), so the budgets at which each sample must break are known in closed form.
 */
function confidentLinear() {
  const k = 40;
  const w = Array.from({ length: 16 }, (_, i) => Math.cos(3 * i + 2) - Math.sin(i + 1));
  const W = tf.tensor2d(w.flatMap((wi) => [0, k * wi]), [16, 2]);
  const b = tf.tensor1d([0, (-k * w.reduce((s, v) => s + v, 0)) / 2]);
  const model = linearModel(W, b, [4, 4, 1]);
  const c = Array.from({ length: 24 }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + (0.5 * i) / 23));
  const x = tf.tensor4d(c.flatMap((ci) => w.map((wi) => 0.5 + 0.1 * ci * Math.sign(wi))), [24, 4, 4, 1]);
  const y = tf.tensor1d(c.map((ci) => (ci > 0 ? 1 : 0)), 'int32');
  const l1 = w.reduce((s, v) => s + Math.abs(v), 0);
  const l2 = Math.sqrt(w.reduce((s, v) => s + v * v, 0));
  const margins = c.map((ci) => k * 0.1 * Math.abs(ci) * l1);
  return { model, x, y, k, l1, l2, margins, c };
}

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
