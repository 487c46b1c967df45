/**
 * Adversarial training's defaults and bounds are one function's (adversarialSettings): train()
 * from code takes robench train's defaults (TRADES' beta among them) and refuses what the CLI
 * refuses, an l-inf budget above 1 among them, with the CLI's messages. A spec records pgd's
 * steps only where pgd is the inner attack, as it records beta only for TRADES.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { useBackend } from '../../src/runtime/backends.js';
import { createRegistry } from '../../src/core/registry.js';
import { TRADES_BETA, adversarialSettings, type AdversarialOptions } from '../../src/training/adversarial.js';
import { train, type TrainOptions } from '../../src/training/train.js';
import { robench } from '../helpers/cli.js';
import { linesData, tempFolder, tinyTraining } from '../helpers/tiny-training.js';

test.before(async () => {
  await useBackend('wasm');
});

const data = linesData(24, 8);
const tiny = (out: string, adversarial: AdversarialOptions, dataset = 'synthetic'): TrainOptions => tinyTraining(out, { dataset, epochs: 1, microBatch: 4, workers: 1, seed: 3, data, progress: false, adversarial });

test('a spec records pgd steps for pgd and trades only: fast takes one, a chosen attack its own params', async (t) => {
  const registry = await createRegistry({ ignoreConfig: true });
  const spec = (given: AdversarialOptions) => adversarialSettings(given, 'mnist', registry).spec;
  t.deepEqual(spec({ method: 'fast' }), { method: 'fast', eps: 0.3, warmupEpochs: 1, heldOut: 500 });
  t.false('steps' in spec({ method: 'pgd', attack: { id: 'fgsm', params: {} } }));
  t.false('steps' in spec({ method: 'trades', attack: { id: 'fgsm', params: {} } }));
  // Key order too: checkpoints are compared as JSON text, and the pgd and trades ones recorded steps after eps.
  t.deepEqual(Object.keys(spec({ method: 'pgd' })), ['method', 'eps', 'steps', 'warmupEpochs', 'heldOut']);
  t.like(spec({ method: 'pgd', steps: 40 }), { steps: 40 });
  t.like(spec({ method: 'trades' }), { steps: 10, beta: TRADES_BETA });
  // Given anyway, steps are refused rather than dropped, before any compute, naming the flag and the fix.
  const err = t.throws(() => spec({ method: 'fast', steps: 1 }), { instanceOf: UsageError, message: /^--adversarial-steps applies to --adversarial pgd and trades/ });
  t.is(err?.hint, 'drop --adversarial-steps');
});

test.serial("train() with TRADES and no beta takes the CLI's default beta", async (t) => {
  const dir = await tempFolder(t, 'robench-adv-settings-');
  await train(tiny(join(dir, 'trades'), { method: 'trades', eps: 0.3, steps: 2, warmupEpochs: 0, heldOut: 4 }));
  const manifest = JSON.parse(readFileSync(join(dir, 'trades', 'manifest.json'), 'utf8'));
  t.is(manifest.adversarial.beta, TRADES_BETA);
  t.regex(manifest.command, new RegExp(`--trades-beta ${TRADES_BETA}$`));
});

test.serial('train() and robench train refuse the same adversarial settings with the same message', async (t) => {
  const dir = await tempFolder(t, 'robench-adv-settings-');
  const cases: [string[], AdversarialOptions, RegExp][] = [
    [['--adversarial', 'pgd', '--train-eps', '1.5'], { method: 'pgd', eps: 1.5 }, /^--train-eps 1\.5 is an l-inf budget above 1/],
    [['--adversarial', 'trades', '--adversarial-attack', 'fgsm', '--train-eps', '2'], { method: 'trades', eps: 2, attack: { id: 'fgsm', params: {} } }, /^--train-eps 2 is an l-inf budget above 1/],
    [['--adversarial', 'trades', '--trades-beta', '0'], { method: 'trades', beta: 0 }, /^--trades-beta '0' must be a number greater than 0/],
    [['--adversarial', 'pgd', '--trades-beta', '3'], { method: 'pgd', beta: 3 }, /^--trades-beta applies to --adversarial trades only/],
    [['--adversarial', 'fast', '--adversarial-steps', '5'], { method: 'fast', steps: 5 }, /^--adversarial-steps applies to --adversarial pgd and trades: fast takes one FGSM step/],
    [['--adversarial', 'trades', '--adversarial-attack', 'fgsm', '--adversarial-steps', '5'], { method: 'trades', steps: 5, attack: { id: 'fgsm', params: {} } }, /^--adversarial-steps configures pgd, not the attack 'fgsm'/],
    [['--adversarial', 'pgd', '--held-out', '0'], { method: 'pgd', heldOut: 0 }, /^--held-out '0' must be a whole number at least 1/],
    [['--adversarial', 'pgd', '--adversarial-steps', '1001'], { method: 'pgd', steps: 1001 }, /^--adversarial-steps '1001' must be a whole number/],
    [['--adversarial', 'pgd', '--adversarial-attack', 'apgd:norm=l2'], { method: 'pgd', attack: { id: 'apgd', params: { norm: 'l2' } } }, /^the attack 'apgd' is an l2 attack; the default --train-eps/],
  ];
  for (const [flags, adversarial, message] of cases) {
    const err = await t.throwsAsync(train(tiny(join(dir, 'x'), adversarial, 'mnist')), { instanceOf: UsageError, message }, flags.join(' '));
    const cli = await robench(['train', '--model', 'baseline', '--dataset', 'mnist', ...flags, '--dry-run']);
    t.is(cli.code, 2, flags.join(' '));
    t.true(err !== undefined && cli.stderr.includes(err.message), `${flags.join(' ')}: the CLI says ${cli.stderr}`);
  }
  const none = await t.throwsAsync(train(tiny(join(dir, 'y'), { method: 'fast' })), { instanceOf: UsageError, message: /^there is no standard training budget for the dataset 'synthetic'/ });
  t.truthy(none);
});
