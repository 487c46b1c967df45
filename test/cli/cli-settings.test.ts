/** Every setting is checked before any compute: bad flags, budgets and config values exit 2 naming the fix. */
import test from 'ava';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench, saveDenseModel } from '../helpers/cli.js';

test('attack params outside their bounds exit 2 naming the flag and its range', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--attack', 'pgd', '--steps', '0'], /--steps '0' must be a whole number at least 1/],
    [['--attack', 'pgd', '--restarts', '0'], /--restarts '0' must be a whole number at least 1/],
    [['--attack', 'pgd', '--restarts', '-2'], /--restarts '-2' must be a whole number at least 1/],
    [['--attack', 'pgd', '--step-size', '-1'], /--step-size '-1' must be a number greater than 0/],
    [['--attack', 'apgd', '--restarts', '0'], /--restarts '0' must be a whole number at least 1/],
    [['--attack', 'transfer', '--inner', 'pgd', '--steps', '0'], /--steps '0' must be a whole number at least 1/],
  ];
  for (const [args, message] of cases) {
    const r = await robench(['run', ...args, '--backend', 'cpu']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
  }
});

test('a budget larger than the pixel range or the image diameter exits 2 and suggests the /255 form', async (t) => {
  const linf = await robench(['run', '--model', 'baseline', '--dataset', 'mnist', '--attack', 'fgsm', '--eps', '0,8', '--backend', 'cpu']);
  t.is(linf.code, 2, linf.stderr);
  t.regex(linf.stderr, /l-inf budget 8 exceeds the whole pixel range/);
  t.regex(linf.stderr, /did you mean 8\/255\?/);
  // sqrt(28 * 28 * 1) = 28: no two MNIST images are farther apart in l2.
  const l2 = await robench(['run', '--model', 'baseline', '--dataset', 'mnist', '--attack', 'pgd', '--norm', 'l2', '--eps', '0,1,30', '--backend', 'cpu']);
  t.is(l2.code, 2, l2.stderr);
  t.regex(l2.stderr, /l2 budget 30 exceeds the diameter of a 28x28x1 image, sqrt\(28\*28\*1\) = 28/);
});

async function withConfig(config: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'robench-config-'));
  await writeFile(join(dir, 'robench.config.json'), JSON.stringify(config));
  return dir;
}

test('robench.config.json: unknown keys and invalid values exit 2 naming them', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ plugin: [] }, /unknown key "plugin"\. Did you mean "plugins"\?/],
    [{ run: { sampels: 10 } }, /"run\.sampels" is not a run setting or attack param; did you mean "samples"\?/],
    [{ run: { samples: 0 } }, /"run\.samples" 0 must be a whole number at least 1 and at most 1000000/],
    [{ run: { steps: 0 } }, /"run\.steps" 0 must be a whole number at least 1/],
    [{ run: { backend: 'gpu' } }, /"run\.backend" 'gpu' is not one of auto, tensorflow/],
    [{ run: { eps: '0,-1' } }, /"run\.eps".*cannot be negative/],
    [{ run: { offline: 'yes' } }, /"run\.offline" 'yes' must be true or false/],
    [{ run: [] }, /"run" must be an object/],
  ];
  for (const [config, message] of cases) {
    const r = await robench(['run', '--attack', 'pgd', '--backend', 'cpu'], await withConfig(config));
    t.is(r.code, 2, `${JSON.stringify(config)}: ${r.stderr}`);
    t.regex(r.stderr, message, JSON.stringify(config));
  }
});

test('robench.config.json values win over defaults and lose to flags given on the command line', async (t) => {
  // The config's attack replaces the default pgd...
  const fromConfig = await robench(['run', '--backend', 'cpu'], await withConfig({ run: { attack: 'pgdd' } }));
  t.is(fromConfig.code, 2, fromConfig.stderr);
  t.regex(fromConfig.stderr, /unknown attack 'pgdd'/);
  // ...and a flag replaces the config's value.
  const dir = await withConfig({ run: { seed: 7, samples: 6, format: 'json', backend: 'cpu', eps: '0,0.1' } });
  const model = await saveDenseModel(join(dir, 'model'), [28, 28, 1]);
  const r = await robench(['run', '--model', model, '--dataset', 'mnist', '--attack', 'fgsm', '--seed', '3', '--out', join(dir, 'out')], dir);
  t.is(r.code, 0, r.stderr);
  // An untrained model scores about 10%: the run says the pixel range is the likely cause.
  t.regex(r.stderr, /hint: clean accuracy [\d.]+% is near chance \(10\.0%\) with --input-range 0,1.*try --input-range 0,255 or -1,1/);
  const result = JSON.parse(await readFile(join(dir, 'out', 'results.json'), 'utf8')).runs[0];
  t.is(result.seed, 3);
  t.is(result.dataset.samples, 6);
  t.is(result.backend, 'cpu');
  t.deepEqual(result.points.map((p: { perturbation: number }) => p.perturbation), [0, 0.1]);
});
