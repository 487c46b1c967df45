/**
 * The inner attack of adversarial training is any registered norm-ball attack (issue 34): a
 * plugin attack written with robench/sdk trains the model, on the main thread, with the same
 * weights on 1 and 2 threads, and the manifest names it; `robench train --adversarial-attack`
 * refuses an unknown id and an attack that is not a norm ball, in the dry run as in a run, and
 * bounds --train-eps by the attack's norm (an l2 budget of 2 is MNIST's, an l-inf one above 1 is refused).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRegistry } from '../../src/core/registry.js';
import { useBackend } from '../../src/runtime/backends.js';
import type { AdversarialSpec } from '../../src/training/adversarial.js';
import { train, type TrainOptions } from '../../src/training/train.js';
import { robench, root } from '../helpers/cli.js';
import { linesData, tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  await useBackend('wasm');
});

/** One FGSM step of `step` x eps from the clean image, counting its calls: an l-inf attack as a plugin writes it. */
async function writePlugin(dir: string): Promise<string> {
  const file = join(dir, 'tiny-fgsm.mjs');
  await writeFile(
    file,
    `import * as tf from '${import.meta.resolve('@tensorflow/tfjs')}';
import { defineAttack, steepestDirection } from '${pathToFileURL(join(root, 'src/sdk.ts')).href}';
export default defineAttack({
  id: 'tiny-fgsm',
  description: 'one signed-gradient step of step x eps (a test plugin)',
  params: { step: { type: 'number', description: 'the step, a fraction of eps', default: 1, exclusiveMinimum: 0, maximum: 1 } },
  budget: () => 'linf',
  defaultGrid: () => [0, 0.1],
  async run(ctx) {
    globalThis.tinyFgsmCalls = (globalThis.tinyFgsmCalls ?? 0) + 1;
    return tf.tidy(() => tf.clipByValue(tf.add(ctx.x, tf.mul(ctx.eps * ctx.params.step, steepestDirection('linf', ctx.inputGradient(ctx.x).grad))), 0, 1));
  },
});
`,
  );
  return file;
}

const data = linesData(30, 12);
const adversarial: AdversarialSpec = { method: 'pgd', eps: 0.3, warmupEpochs: 1, heldOut: 6, attack: { id: 'tiny-fgsm', params: { step: 0.5 } } };

test.serial('a plugin attack trains: its examples, on 1 and 2 threads bit for bit; the manifest names it, its params and its file', async (t) => {
  const dir = await tempFolder(t, 'robench-inner-');
  const file = await writePlugin(dir);
  const registry = await createRegistry({ ignoreConfig: true, plugins: [file] });
  const base = (out: string): TrainOptions => tinyTraining(join(dir, out), { epochs: 1, microBatch: 4, seed: 3, data, adversarial, registry });
  const calls = (): number => (globalThis as { tinyFgsmCalls?: number }).tinyFgsmCalls ?? 0;
  const one = await train({ ...base('one'), workers: 1 });
  t.is(calls(), 3, 'the plugin attack made the examples of each step (24 images trained on, in batches of 8)');
  const two = await train({ ...base('two'), workers: 2 });
  t.is(two.weightsSha256, one.weightsSha256, 'two threads train the same weights');
  const manifest = JSON.parse(readFileSync(join(dir, 'one', 'manifest.json'), 'utf8'));
  t.like(manifest.adversarial, { method: 'pgd', attack: 'tiny-fgsm', params: { step: 0.5 }, source: file });
  t.regex(manifest.adversarial.description, /^the attack tiny-fgsm:step=0\.5 at l-inf eps 0\.3,/);
  t.regex(manifest.command, /--adversarial-attack tiny-fgsm:step=0\.5$/);
  const pgd = await train({ ...base('pgd'), adversarial: { ...adversarial, attack: undefined } });
  t.not(pgd.weightsSha256, one.weightsSha256, "pgd's examples train other weights");
});

test.serial("TRADES with another inner attack: the manifest's description names TRADES' loss and beta, and the attack", async (t) => {
  const dir = await tempFolder(t, 'robench-inner-trades-');
  const file = await writePlugin(dir);
  const registry = await createRegistry({ ignoreConfig: true, plugins: [file] });
  const out = join(dir, 'trades');
  await train(tinyTraining(out, { epochs: 1, microBatch: 4, workers: 1, seed: 3, data, registry, adversarial: { ...adversarial, method: 'trades', beta: 2 } }));
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  t.like(manifest.adversarial, { method: 'trades', beta: 2, attack: 'tiny-fgsm' });
  t.regex(manifest.adversarial.description, /^TRADES, beta 2 \(Zhang et al\. 2019\): CE\(f\(x\), y\) \+ 2 KL\(.*\) with x' from the attack tiny-fgsm:step=0\.5 at l-inf eps 0\.3,/);
});

test.serial('--adversarial-attack: an unknown id, an attack without a norm ball, a minimization attack or a misplaced setting is a usage error naming the flag, in a dry run and a run', async (t) => {
  const dir = await tempFolder(t, 'robench-inner-cli-');
  const file = await writePlugin(dir);
  const trainArgs = (...args: string[]): string[] => ['--plugin', file, 'train', '--model', 'baseline', '--dataset', 'mnist', ...args];
  const cases: [string[], RegExp][] = [
    [['--adversarial', 'pgd', '--adversarial-attack', 'tiny-fgsn'], /--adversarial-attack: unknown attack 'tiny-fgsn'\. Did you mean 'tiny-fgsm'\?/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'gaussian'], /--adversarial-attack gaussian: its perturbation size is a sigma, not a norm bound; adversarial training takes a norm-ball attack/],
    [['--adversarial', 'trades', '--adversarial-attack', 'corruption'], /--adversarial-attack corruption: .*not a norm bound/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'fab'], /--adversarial-attack fab: a minimization attack/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'tiny-fgsm:stp=0.5'], /'stp' is not a param of the attack 'tiny-fgsm'; did you mean 'step'\?/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'tiny-fgsm:step=2'], /--adversarial-attack option "step"/],
    [['--adversarial', 'fast', '--adversarial-attack', 'tiny-fgsm'], /--adversarial fast is FGSM as pgd takes it, not the attack 'tiny-fgsm'/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'pgd:steps=5'], /--adversarial-attack pgd takes no params/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'fgsm', '--adversarial-steps', '5'], /--adversarial-steps configures pgd, not the attack 'fgsm'/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'apgd:norm=l2'], /the attack 'apgd' is an l2 attack; the default --train-eps is the dataset's l-inf budget/],
    [['--adversarial-attack', 'fgsm'], /--adversarial-attack applies to adversarial training only/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'fgsm', '--train-eps', '1.5'], /--train-eps 1\.5 is an l-inf budget above 1/],
  ];
  for (const [args, message] of cases) {
    const r = await robench([...trainArgs(...args), '--dry-run']);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, message);
  }
  const run = await robench(trainArgs('--adversarial', 'pgd', '--adversarial-attack', 'gaussian', '--out', join(dir, 'out')));
  t.is(run.code, 2, 'a run refuses it before loading anything');
  t.regex(run.stderr, /--adversarial-attack gaussian: /);
  for (const ok of [['pgd', 'tiny-fgsm:step=0.5'], ['trades', 'fgsm'], ['pgd', 'apgd:norm=l2:steps=5', '--train-eps', '1'], ['trades', 'apgd:norm=l2', '--train-eps', '2']]) {
    const r = await robench([...trainArgs('--adversarial', ok[0]!, '--adversarial-attack', ...ok.slice(1)), '--dry-run']);
    t.is(r.code, 0, r.stderr);
  }
});
