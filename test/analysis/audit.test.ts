import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runAudit, type AuditReport } from '../../src/analysis/audit.js';
import { auditExitCode } from '../../src/cli/commands/audit.js';
import { readResults } from '../../src/cli/commands/check.js';
import { gradientHealth } from '../../src/analysis/gradient-health.js';
import { readAudits, renderHtmlReport } from '../../src/report/html-report.js';
import { saveLayersModelTo } from '../../src/runtime/model-io.js';
import { defineAttack, type DatasetSplit, type LoadedModel } from '../../src/core/plugin-api.js';
import type { Registry } from '../../src/core/registry.js';
import { createRegistry } from '../../src/core/registry.js';
import { robench } from '../helpers/cli.js';
import { linearModel, randomLinear, selfLabelledBatch, type TinyModel } from '../helpers/tiny-models.js';

await tf.setBackend('cpu');
const registry = await createRegistry();
const mnist = await registry.get('dataset', 'mnist').load({ split: 'test', samples: 1000 });

/** A softmax regression fitted on the bundled images: accurate enough and easy to attack. */
function fitLinear(data: DatasetSplit): { w: tf.Variable; b: tf.Variable } {
  const x = tf.tensor2d(data.images, [data.count, 784]);
  const y = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  const w = tf.variable(tf.zeros([784, 10]));
  const b = tf.variable(tf.zeros([10]));
  const opt = tf.train.adam(0.05);
  for (let i = 0; i < 60; i++) opt.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(x, w), b)));
  tf.dispose([x, y]);
  opt.dispose();
  return { w, b };
}

const { w, b } = fitLinear(mnist);
const linear = (x: tf.Tensor4D) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], 784]), w), b) as tf.Tensor2D;
/** The same classifier behind a zero gradient: the textbook case of gradient masking. */
const masked = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = inputs[0] as tf.Tensor4D;
  return { value: linear(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(x) };
});
/** The same decisions with logits x1000: softmax saturates and cross-entropy's gradient underflows to 0. */
const overconfident = (x: tf.Tensor4D) => tf.tidy(() => tf.mul(linear(x), 1000) as tf.Tensor2D);

const model = (id: string, logits: (x: tf.Tensor4D) => tf.Tensor2D, dataset = 'mnist'): LoadedModel => ({
  id,
  dataset,
  inputShape: [28, 28, 1],
  numClasses: 10,
  weightsSha256: '-',
  logits,
  dispose: () => undefined,
});

const sample = { ...mnist, count: 60, images: mnist.images.subarray(0, 60 * 784), labels: mnist.labels.subarray(0, 60) };
const options = { data: sample, norm: 'linf' as const, eps: 0.1, seed: 0, batchSize: 60, squareQueries: 100 };
const row = (r: AuditReport, name: string) => r.checks.find((c) => c.name === name);
const verdict = (r: AuditReport, name: string) => row(r, name)?.verdict;
const GRADIENT_ROWS = ['input gradients not zero', 'input gradients above float32 epsilon', 'softmax not saturated'];

test('an honest linear model passes the audit', async (t) => {
  const r = await runAudit(registry, { ...options, model: model('linear', linear) });
  t.is(verdict(r, 'falls to chance at a large budget'), 'pass');
  t.is(verdict(r, 'iterative at least as strong as FGSM'), 'pass');
  t.is(verdict(r, 'black box no stronger than white box'), 'pass');
  t.is(verdict(r, 'accuracy non-increasing in the budget'), 'pass');
  t.is(verdict(r, 'cross-entropy PGD as strong as margin-loss PGD'), 'pass');
  for (const name of GRADIENT_ROWS) t.is(verdict(r, name), 'pass', name);
  t.is(verdict(r, 'logits repeat, or the model says it is random'), 'pass');
  t.true(r.accuracies['pgd-20 @ 0.1'] < r.accuracies['pgd-20 no sweep @ 0']);
  // PGD-20 leaves 2 of 60 (3.3%), within noise of 0%, where the no-sweep curve still has 41.7% at 0.05.
  t.regex(r.trivialBudget ?? '', /--eps 0\.05$/);
});

test('masked gradients are caught', async (t) => {
  const r = await runAudit(registry, { ...options, model: model('masked', (x) => masked(x) as tf.Tensor2D) });
  t.is(verdict(r, 'falls to chance at a large budget'), 'warn');
  t.is(verdict(r, 'black box no stronger than white box'), 'warn');
  t.is(verdict(r, 'input gradients not zero'), 'warn');
  t.is(r.trivialBudget, undefined, 'PGD fails here, so the comparisons can warn');
});

test('logits scaled x1000 are caught: zero and underflowing gradients, saturated softmax, CE weaker than the margin loss', async (t) => {
  const r = await runAudit(registry, { ...options, model: model('overconfident', overconfident) });
  for (const name of GRADIENT_ROWS) {
    t.is(verdict(r, name), 'warn', name);
    t.true(row(r, name)!.values.share > 0.5, name);
  }
  t.is(verdict(r, 'cross-entropy PGD as strong as margin-loss PGD'), 'warn');
  t.true(r.accuracies['pgd-20 margin loss @ 0.1'] < r.accuracies['pgd-20 @ 0.1']);
  // Tiny gradients and saturated softmax only weaken other tools' attacks: robench's withstand them, so their advice says there is nothing to do.
  for (const name of ['input gradients above float32 epsilon', 'softmax not saturated']) {
    t.true(row(r, name)!.informational, name);
    t.regex(row(r, name)!.detail, /Nothing to do for robench's figures/, name);
  }
  // A zero gradient defeats every gradient attack, robench's included: the user has to act.
  t.falsy(row(r, 'input gradients not zero')!.informational);
  t.regex(row(r, 'input gradients not zero')!.detail, /To do: report the lowest accuracy of every row/);
  t.is(auditExitCode(r), 1);
});

test('warnings with nothing for the user to do do not fail the exit code; one with advice for them does', (t) => {
  const base = { model: 'm', dataset: 'mnist', norm: 'linf' as const, eps: 0.1, samples: 60, seed: 0, accuracies: {} };
  const pass = { name: 'iterative at least as strong as FGSM', verdict: 'pass' as const, detail: '', values: {} };
  const note = { name: 'softmax not saturated', verdict: 'warn' as const, detail: '', values: {}, informational: true as const };
  const act = { name: 'black box no stronger than white box', verdict: 'warn' as const, detail: '', values: {} };
  t.is(auditExitCode({ ...base, checks: [pass, note] }), 0);
  t.is(auditExitCode({ ...base, checks: [pass, note, act] }), 1);
});

test('the default budget is the largest of the dataset ladder where PGD-20 leaves accuracy, not the trivial standard one', async (t) => {
  const { chooseBudget, BUDGET_LADDER } = await import('../../src/analysis/audit.js');
  const m = model('linear', linear);
  const chosen = await chooseBudget(registry, { model: m, data: sample, norm: 'linf', seed: 0, batchSize: 60 });
  t.deepEqual(chosen.tried.map((x) => x.eps), [...BUDGET_LADDER.linf.mnist!].sort((a, b) => a - b));
  // At 0.1 PGD-20 leaves this model within noise of 0% (the honest-model test above); 0.05 leaves over 30%.
  t.is(chosen.eps, 0.05);
  t.regex(chosen.reason, /the standard 0\.3 would let no comparison warn/);
  const r = await runAudit(registry, { ...options, eps: chosen.eps, model: m });
  t.is(r.trivialBudget, undefined, 'the audit does not call its own default budget trivial');
});

/** A tiny model on 4x4 images as a LoadedModel, with a self-labelled split (clean accuracy 1). */
function toy(tiny: TinyModel, n: number): { model: LoadedModel; data: DatasetSplit } {
  const { x, y } = selfLabelledBatch(tiny, n, 3);
  const data: DatasetSplit = { images: x.dataSync() as Float32Array, labels: y.dataSync() as unknown as Int32Array, count: n, shape: [4, 4, 1], source: { kind: 'bundled', path: '-', sha256: '-' } };
  tf.dispose([x, y]);
  const model: LoadedModel = { id: 'toy', dataset: 'toy', inputShape: [4, 4, 1], numClasses: tiny.numClasses, weightsSha256: '-', logits: (t) => tiny.logits(t), dispose: () => tiny.dispose() };
  return { model, data };
}
const toyOptions = { norm: 'linf' as const, seed: 0, batchSize: 40, squareQueries: 50 };

// Serial: the tensor count would otherwise include the concurrent tests' tensors.
test.serial('clean-point gradient shares match closed form: margins 16 (not saturated), 17.5 (saturated), 39.6 (underflow), 4000 (zero), one misclassified', async (t) => {
  // logits [0, 40 x] on a one-pixel image: the margin is 40 x and the CE gradient is 40 exp(-40 x).
  const tiny = linearModel(tf.tensor2d([[0, 40]]), tf.tensor1d([0, 0]), [1, 1, 1]);
  const scaled = linearModel(tf.tensor2d([[0, 40000]]), tf.tensor1d([0, 0]), [1, 1, 1]);
  const pixels = [16 / 40, 17.5 / 40, 0.99, 0.5];
  const data: DatasetSplit = { images: Float32Array.from(pixels), labels: Int32Array.from([1, 1, 1, 0]), count: 4, shape: [1, 1, 1], source: { kind: 'bundled', path: '-', sha256: '-' } };
  const as = (m: TinyModel): LoadedModel => ({ id: 'm', dataset: 'toy', inputShape: [1, 1, 1], numClasses: 2, weightsSha256: '-', logits: m.logits, dispose: m.dispose });
  const before = tf.memory().numTensors;
  // exp(-16) = 1.1e-7 > 2^-24 > exp(-17.5) = 2.5e-8; 40 exp(-17.5) = 1e-6 > 1.19e-7 > 40 exp(-39.6) = 2.5e-16.
  t.deepEqual(await gradientHealth(as(tiny), data, 3), { correct: 3, zeroGradient: 0, underflowGradient: 1, saturatedSoftmax: 2 });
  t.deepEqual(await gradientHealth(as(scaled), data, 2), { correct: 3, zeroGradient: 3, underflowGradient: 3, saturatedSoftmax: 3 });
  t.is(tf.memory().numTensors, before);
  tiny.dispose();
  scaled.dispose();
});

test('a model whose logits change between identical calls is flagged unless it says it is random', async (t) => {
  const { model, data } = toy(randomLinear(6, [4, 4, 1], 3), 40);
  let calls = 0;
  // A random defence in miniature: every other call adds a small offset to the logits.
  const noisy: LoadedModel = { ...model, logits: (x) => tf.tidy(() => (calls++ % 2 === 1 ? tf.add(model.logits(x), 1e-3) : model.logits(x)) as tf.Tensor2D) };
  const name = 'logits repeat, or the model says it is random';
  const quiet = await runAudit(registry, { ...toyOptions, model: noisy, data, eps: 0.05 });
  t.is(verdict(quiet, name), 'warn');
  t.is(row(quiet, name)!.values.share, 1);
  const declared = await runAudit(registry, { ...toyOptions, model: { ...noisy, stochastic: true }, data, eps: 0.05 });
  t.is(verdict(declared, name), 'pass');
  t.regex(row(declared, name)!.detail, /--eot/);
  model.dispose();
});

test('no check disappears: one that cannot run is a skipped row with the reason', async (t) => {
  // Two classes: APGD's DLR loss needs three, and no zoo surrogate has weights for this data.
  const { model, data } = toy(randomLinear(5, [4, 4, 1], 2), 40);
  const r = await runAudit(registry, { ...toyOptions, model, data, eps: 0.05, transferSource: 'baseline' });
  t.is(r.checks.length, 12);
  t.is(verdict(r, 'APGD not far below PGD'), 'skipped');
  t.regex(row(r, 'APGD not far below PGD')!.detail, /DLR loss needs at least 3 classes/);
  t.is(verdict(r, 'transfer no stronger than white box'), 'skipped');
  t.regex(row(r, 'transfer no stronger than white box')!.detail, /baseline for toy/);
  t.is(auditExitCode({ ...r, checks: r.checks.filter((c) => c.verdict !== 'warn') }), 0, 'skipped rows alone do not fail the audit');
  model.dispose();
});

test('a failing attack is an error row with its message, and fails the audit', async (t) => {
  const { model, data } = toy(randomLinear(6, [4, 4, 1], 3), 40);
  const square = registry.get('attack', 'square');
  const broken = defineAttack({ ...square, run: async (ctx) => tf.fill(ctx.x.shape, NaN) as tf.Tensor4D });
  const withBroken = Object.create(registry, { get: { value: (kind: string, id: string) => (kind === 'attack' && id === 'square' ? broken : registry.get(kind as 'attack', id)) } }) as Registry;
  const r = await runAudit(withBroken, { ...toyOptions, model, data, eps: 0.05 });
  const black = row(r, 'black box no stronger than white box')!;
  t.is(black.verdict, 'error');
  t.regex(black.detail, /^square-50: .*(NaN|finite)/);
  t.is(verdict(r, 'iterative at least as strong as FGSM'), 'pass', 'the other checks still run');
  t.is(auditExitCode(r), 1);
  model.dispose();
});

test('a budget at which PGD-20 reaches 0% is recorded as trivial, with a smaller budget to try', async (t) => {
  const { model, data } = toy(randomLinear(7, [4, 4, 1], 3), 40);
  const r = await runAudit(registry, { ...toyOptions, model, data, eps: 0.5 });
  t.truthy(r.trivialBudget);
  const suggested = Number(/--eps ([\d.e-]+)/.exec(r.trivialBudget!)![1]);
  t.true(suggested < 0.5);
  t.true(r.accuracies[`pgd-20 no sweep @ ${suggested}`] > 0, 'the suggested budget leaves samples to compare attacks on');
  model.dispose();
});

test('robench audit takes a model file, writes every row to audit.json and exits 1 when a check warns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-audit-'));
  const dense = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
  const scaled = [tf.mul(w, 1000), tf.mul(b, 1000)];
  dense.layers[1].setWeights(scaled);
  await saveLayersModelTo(dense, join(dir, 'model'));
  dense.dispose();
  tf.dispose(scaled);
  const file = join(dir, 'model', 'model.json');
  const out = join(dir, 'out');
  const r = await robench(['audit', '--model', file, '--dataset', 'mnist', '--samples', '30', '--batch', '30', '--queries', '20', '--eps', '0.1', '--backend', 'cpu', '--out', out]);
  t.is(r.code, 1, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'audit.json'), 'utf8')) as AuditReport;
  t.is(report.model, file);
  t.is(report.checks.length, 12);
  for (const name of GRADIENT_ROWS) t.is(verdict(report, name), 'warn', name);
  t.regex(r.stdout, /softmax not saturated/);
  // stderr is a pipe here, not a terminal: plain lines, no spinner frames, symbols or colour codes.
  t.notRegex(r.stderr, /\u001b\[|[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔✖]/);
  t.regex(r.stderr, /^audit of .*: pgd-20$/m);
});

test('report.html shows error and skipped rows with their reasons, and the trivial-budget note', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-audit-html-'));
  const audit = {
    model: 'm',
    checks: [
      { name: 'softmax not saturated', verdict: 'warn', detail: 'saturated' },
      { name: 'black box no stronger than white box', verdict: 'error', detail: 'square-50: returned NaN' },
      { name: 'transfer no stronger than white box', verdict: 'skipped', detail: 'no weights of the surrogate baseline for toy' },
    ],
    trivialBudget: 'PGD-20 leaves 0.0% <at> linf 0.5',
  };
  writeFileSync(join(dir, 'audit.json'), JSON.stringify(audit));
  const html = await renderHtmlReport(readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models')), readAudits(dir));
  t.regex(html, /<h3>Audit of m: 1 warning, 1 error, 1 skipped<\/h3>/);
  t.regex(html, /<span class="verdict error">ERROR<\/span><\/td><td>square-50: returned NaN/);
  t.regex(html, /<span class="verdict skipped">skipped<\/span><\/td><td>no weights of the surrogate baseline for toy/);
  t.regex(html, /<p class="audit-note">PGD-20 leaves 0\.0% &lt;at&gt; linf 0\.5<\/p>/);
});

test('report.html shows a warning with nothing for the user to do as a note, not counted as a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-audit-html-'));
  const audit = {
    model: 'm',
    checks: [
      { name: 'softmax not saturated', verdict: 'warn', detail: "Nothing to do for robench's figures", informational: true },
      { name: 'black box no stronger than white box', verdict: 'warn', detail: 'masked' },
    ],
  };
  writeFileSync(join(dir, 'audit.json'), JSON.stringify(audit));
  const html = await renderHtmlReport(readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models')), readAudits(dir));
  t.regex(html, /<h3>Audit of m: 1 warning, 1 note \(nothing to do\)<\/h3>/);
  t.regex(html, /<td>softmax not saturated<\/td><td><span class="verdict skipped">note<\/span>/);
  t.regex(html, /<td>black box no stronger than white box<\/td><td><span class="verdict warn">WARN<\/span>/);
});
