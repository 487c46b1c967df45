import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/plugin-api.js';
import { robench, robenchOk } from '../helpers/cli.js';

test('transfer from the shipped baseline lowers the hebbian model\'s accuracy, less than white-box PGD, without touching its gradients', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'robench-transfer-'));
  try {
    await robenchOk(['run', '--model', 'hebbian', '--dataset', 'fashion-mnist', '--attack', 'transfer,pgd', '--eps', '0,0.1', '--steps', '10', '--samples', '100', '--backend', 'wasm', '--workers', '1', '--format', 'json', '--offline', '--out', out]);
    const { runs } = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: RunResult[] };
    const transfer = runs.find((r) => r.attack.id === 'transfer')!;
    const whiteBox = runs.find((r) => r.attack.id === 'pgd')!;
    t.like(transfer.attack.params, { 'source-model': 'baseline', inner: 'pgd', steps: 10 });
    t.is(transfer.gradientEvaluations, 0, 'the target model is only queried');
    const [clean, attacked] = transfer.points.map((p) => p.accuracy);
    t.true(attacked < clean - 0.1, `transfer: ${clean} -> ${attacked}`);
    t.true(whiteBox.points[1].accuracy <= attacked, `white-box ${whiteBox.points[1].accuracy} vs transfer ${attacked}`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('a transfer source that is not a white-box norm-ball attack is a usage error', async (t) => {
  const r = await robench(['run', '--model', 'hebbian', '--attack', 'transfer', '--inner', 'gaussian', '--samples', '10', '--backend', 'cpu', '--format', 'json', '--out', join(tmpdir(), 'robench-never')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--inner gaussian is not a white-box norm-ball attack/);
});

test('transfer from a model to itself breaks exactly what white-box PGD breaks, with examples pushed further past the boundary', async (t) => {
  const { createRegistry } = await import('../../src/core/registry.js');
  const { makeAttackContext } = await import('../../src/core/attack-context.js');
  const { batchTensors } = await import('../../src/core/engine.js');
  const { sampleRng } = await import('../../src/core/rng.js');
  const { marginLoss } = await import('../../src/core/losses.js');
  const { paramsOf } = await import('../helpers/tiny-models.js');
  const tf = await import('@tensorflow/tfjs');
  await (await import('../../src/runtime/backends.js')).useBackend('wasm');
  const registry = await createRegistry();
  const model = await registry.get('model', 'baseline').load({ dataset: 'fashion-mnist' });
  const data = await registry.get('dataset', 'fashion-mnist').load({ split: 'test', samples: 48, offline: true });
  const { x, y } = batchTensors(data, Array.from({ length: 48 }, (_, i) => i));
  const run = async (id: string, overrides: Record<string, unknown>) => {
    const attack = registry.get('attack', id);
    const ctx = makeAttackContext({
      logits: (input) => model.logits(input), x, y, eps: 0.05, params: paramsOf(attack, overrides as never), rng: sampleRng(0, [...Array(48).keys()]),
      numClasses: 10, dataset: 'fashion-mnist', counters: { forward: 0, gradient: 0 },
    });
    // An attack may return its batch as a one-element list (transfer returns its inner attack's).
    const out = await attack.run(ctx);
    return Array.isArray(out) ? out[0]! : out;
  };
  const whiteBox = await run('pgd', { steps: 10 });
  const transferred = await run('transfer', { 'source-model': 'baseline', steps: 10 });
  const [wb, tr] = tf.tidy(() => [whiteBox, transferred].map((xa) => Array.from(marginLoss(model.logits(xa), y).dataSync())));
  const fooled = (m: number[]) => m.map((v) => v > 0);
  t.deepEqual(fooled(tr!), fooled(wb!), 'the same samples are broken');
  const broken = wb!.map((_, i) => i).filter((i) => wb![i]! > 0);
  t.true(broken.length > 5 && broken.length < 48, `${broken.length} broken`);
  // White-box PGD keeps the first fooling iterate; transfer pushes on to the strongest.
  t.true(broken.every((i) => tr![i]! >= wb![i]! - 1e-4), 'never less misclassified');
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  t.true(mean(broken.map((i) => tr![i]!)) > 2 * mean(broken.map((i) => wb![i]!)), `mean wrong-class margin ${mean(broken.map((i) => tr![i]!))} vs ${mean(broken.map((i) => wb![i]!))}`);
  tf.dispose([whiteBox, transferred, x, y]);
});
