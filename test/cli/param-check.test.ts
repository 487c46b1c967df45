/**
 * Params valid one by one but not together (AttackPlugin.check) are usage errors of the command
 * line, exit 2, in the dry run too, naming the flags: pgd's, autoattack's, an ensemble member's,
 * a plugin's (also as the inner attack of adversarial training), and before a real run loads
 * or computes anything. (benchmark() and attack(): test/core/param-check.test.ts.)
 */
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench, root } from '../helpers/cli.js';

const paired = join(root, 'test/fixtures/param-check/paired-attack.ts');
const run = ['run', '--model', 'baseline', '--dataset', 'mnist', '--samples', '2'];

const refused: [string, string[], RegExp][] = [
  ['pgd --start-sigma with --no-random-start', [...run, '--attack', 'pgd', '--start-sigma', '0.001', '--no-random-start', '--dry-run'], /^robench: attack 'pgd' refuses its params: --start-sigma 0\.001 sets the random start, which --no-random-start turns off\n {2}fix: drop one of them/],
  ['pgd --loss kl with --no-random-start', [...run, '--attack', 'pgd', '--loss', 'kl', '--no-random-start', '--dry-run'], /^robench: attack 'pgd' refuses its params: --loss kl has a zero gradient at the clean image, so without a random start \(--no-random-start\) the attack never moves\n {2}fix: keep the random start \(TRADES': --start-sigma 0\.001\)/],
  ['robench attack, pgd --loss kl with --no-random-start', ['attack', '--model', 'baseline', '--input', 'x.npy', '--labels', 'y.npy', '--out', 'adv.npy', '--attack', 'pgd', '--loss', 'kl', '--no-random-start', '--dry-run'], /attack 'pgd' refuses its params: --loss kl has a zero gradient/],
  ['autoattack --attacks without --aa-version custom', [...run, '--attack', 'autoattack', '--attacks', 'apgd-ce', '--dry-run'], /attack 'autoattack' refuses its params: --attacks is for --aa-version custom, not standard\n {2}fix: add --aa-version custom/],
  ['an autoattack member pgd:loss=kl:random-start=false', [...run, '--attack', 'autoattack', '--aa-version', 'custom', '--attacks', 'pgd:loss=kl:random-start=false', '--dry-run'], /attack 'autoattack' refuses its params: attack 'pgd \(autoattack member pgd:loss=kl:random-start=false\)' refuses its params: --loss kl has a zero gradient/],
  ["a plugin's check", ['--plugin', paired, ...run, '--attack', 'paired', '--lo', '2', '--hi', '1', '--dry-run'], /^robench: attack 'paired' refuses its params: --lo 2 is above --hi 1\n {2}fix: lower --lo or raise --hi/],
  [
    "a plugin's check, as the inner attack of adversarial training",
    ['--plugin', paired, 'train', '--model', 'baseline', '--dataset', 'mnist', '--adversarial', 'pgd', '--adversarial-attack', 'paired:lo=2:hi=1', '--dry-run'],
    /attack 'paired' refuses its params: --adversarial-attack option "lo" 2 is above --adversarial-attack option "hi" 1/,
  ],
];

for (const [what, args, message] of refused) {
  test(`exit 2 in the dry run: ${what}`, async (t) => {
    const r = await robench(args);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
    t.is(r.stdout, '', 'no dry-run summary');
  });
}

test("a plugin's check that fails as a bug would is exit 1, naming the plugin", async (t) => {
  const r = await robench(['--plugin', paired, ...run, '--attack', 'paired', '--crash', '--dry-run']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /attack 'paired' failed in check\(\): cannot read properties of undefined/);
});

test('a real run is refused before anything loads or runs: the attack never ran and no output folder was made', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-param-check-'));
  const ran = join(dir, 'ran.txt');
  process.env.ROBENCH_TEST_PAIRED_RUN_FILE = ran;
  const r = await robench(['--plugin', paired, ...run, '--attack', 'paired', '--lo', '2', '--hi', '1', '--backend', 'cpu', '--out', join(dir, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /attack 'paired' refuses its params: --lo 2 is above --hi 1/);
  t.false(existsSync(ran), 'run() was never called');
  t.false(existsSync(join(dir, 'out')), 'nothing was written');
});
