import test from 'ava';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench, root, saveDenseModel } from '../helpers/cli.js';

const exampleAttack = join(root, 'test/fixtures/example-attack.mjs');

test('list --json names every plugin kind and the built-ins', async (t) => {
  const r = await robench(['list', '--json']);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, { id: string }[]>;
  t.deepEqual(Object.keys(out).sort(), ['attacks', 'datasets', 'models', 'reporters']);
  const ids = (k: string) => out[k].map((p) => p.id);
  for (const id of ['fgsm', 'pgd']) t.true(ids('attacks').includes(id));
  for (const id of ['table', 'json', 'csv']) t.true(ids('reporters').includes(id));
});

test('run --help names every attack an option applies to, each with its own description and default', async (t) => {
  const listing = await robench(['list', 'attacks', '--json']);
  const attacks = (JSON.parse(listing.stdout) as { attacks: { id: string; params: Record<string, { description: string; default?: unknown }> }[] }).attacks;
  const help = (await robench(['run', '--help'])).stdout.replace(/\s+/g, ' ');
  const owners = attacks.filter((a) => Object.hasOwn(a.params, 'steps'));
  t.true(owners.some((a) => a.id === 'pgd') && owners.some((a) => a.id === 'apgd'));
  const stepsHelp = help.slice(help.indexOf('--steps <value>'), help.indexOf(' --', help.indexOf('--steps <value>') + 3));
  for (const a of owners) t.true(stepsHelp.includes(`${a.id}: ${a.params.steps.description.replace(/\s+/g, ' ')} (default ${a.params.steps.default})`), a.id);
  // A default differing between owners (pgd 20, apgd 100) shows both.
  t.regex(stepsHelp, /pgd: [^;]*\(default 20\)/);
  t.regex(stepsHelp, /apgd: [^;]*\(default 100\)/);
});

test('an unknown id is a usage error that suggests the closest one', async (t) => {
  const r = await robench(['run', '--attack', 'pgdd']);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown attack 'pgdd'\. Did you mean 'pgd'\?/);
  t.regex(r.stderr, /known attacks: .*fgsm.*pgd/);
  t.notRegex(r.stderr, /at .*\.ts:\d+/, 'no stack trace without --verbose');
});

test('negative or NaN perturbation sizes and unknown flags are usage errors', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--eps', '-0.1'], /cannot be negative/],
    [['--eps', 'NaN'], /'NaN' is not a number/],
    [['--no-such-flag'], /unknown option '--no-such-flag'/],
  ];
  for (const [args, message] of cases) {
    const r = await robench(['run', '--attack', 'fgsm', ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
  }
  const r = await robench(['run', '--attack', 'fgsm', '--restarts', '3']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--restarts is not an option of the attack 'fgsm'/);
});

test('plugins load from --plugin and from robench.config.json', async (t) => {
  const viaFlag = await robench(['--plugin', exampleAttack, 'list', 'attacks', '--json']);
  t.is(viaFlag.code, 0, viaFlag.stderr);
  const flagIds = (JSON.parse(viaFlag.stdout) as { attacks: { id: string }[] }).attacks.map((a) => a.id);
  const dir = await mkdtemp(join(tmpdir(), 'robench-config-'));
  await writeFile(join(dir, 'robench.config.json'), JSON.stringify({ plugins: [exampleAttack] }));
  const viaConfig = await robench(['list', 'attacks', '--json'], dir);
  t.is(viaConfig.code, 0, viaConfig.stderr);
  const configIds = (JSON.parse(viaConfig.stdout) as { attacks: { id: string }[] }).attacks.map((a) => a.id);
  const builtins = (JSON.parse((await robench(['list', 'attacks', '--json'])).stdout) as { attacks: { id: string }[] }).attacks;
  const added = flagIds.filter((id) => !builtins.some((b) => b.id === id));
  t.is(added.length, 1);
  t.true(configIds.includes(added[0]));
  const missing = await robench(['--plugin', './nowhere.js', 'list']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /plugin file not found/);
});

test('a user model file runs end to end and results.json records the run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-user-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { softmax: true });
  const out = join(dir, 'out');
  const args = ['run', '--model', modelJson, '--dataset', 'mnist', '--attack', 'fgsm', '--eps', '0,0.1,0.3'];
  const r = await robench([...args, '--samples', '40', '--input-range', '0,255', '--backend', 'cpu', '--out', out, '--seed', '5']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /fgsm/);
  const result = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).runs[0];
  t.is(result.backend, 'cpu');
  t.is(result.seed, 5);
  t.is(result.dataset.samples, 40);
  t.is(result.model.info.softmaxStripped, true);
  t.deepEqual(result.points.map((p: { perturbation: number }) => p.perturbation), [0, 0.1, 0.3]);
  t.is(result.points[0].accuracy, result.cleanAccuracy);
  t.is(result.gradientEvaluations > 0, true);
  for (const key of ['robench', 'model', 'dataset', 'attack', 'backend', 'seed', 'cleanAccuracy', 'points', 'gradientEvaluations', 'durationMs']) {
    t.true(key in result, key);
  }
  const csv = await readFile(join(out, 'results.csv'), 'utf8');
  t.is(csv.trim().split('\n').length, 4);
});

test('a model whose input shape does not fit the dataset is a clear error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-user-'));
  const modelJson = await saveDenseModel(join(dir, 'model'), [32, 32, 3]);
  const r = await robench(['run', '--model', modelJson, '--dataset', 'mnist', '--attack', 'fgsm', '--backend', 'cpu']);
  t.is(r.code, 2);
  t.regex(r.stderr, /takes inputs of shape \[32,32,3\] but mnist images are \[28,28,1\]/);
});
