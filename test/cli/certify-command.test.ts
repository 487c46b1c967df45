/**
 * `robench certify` end to end: bad settings are usage errors naming their flag before anything
 * loads or is written; a certify run writes results.json that reads back through the results
 * reader and the certify reader, with the same certificates whatever the batch size; an edited
 * count or radius is refused; shards (`--shard i/n`) merged by `robench report` give the runs of
 * one unsharded command, and shards of other settings are refused.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../helpers/backend.js';
import { CERTIFY_SETTINGS } from '../../src/cli/commands/certify.js';
import { UsageError } from '../../src/core/errors.js';
import type { Setting } from '../../src/core/settings.js';
import { readCertifyResults } from '../../src/report/certify-results.js';
import { robench, robenchOk, root, saveCentroidModel, saveDenseModel } from '../helpers/cli.js';

const tmp = (): Promise<string> => mkdtemp(join(tmpdir(), 'robench-certify-'));

test('bad settings are usage errors naming the flag', (t) => {
  const cases: [Setting, string, RegExp][] = [
    [CERTIFY_SETTINGS.sigma, '0', /--sigma '0' must be 1 to 100 comma-separated numbers, each greater than 0/],
    [CERTIFY_SETTINGS.sigma, '0.25,-0.5', /--sigma '0\.25,-0\.5' must be/],
    [CERTIFY_SETTINGS.sigma, 'wide', /--sigma 'wide' must be/],
    [CERTIFY_SETTINGS.n0, '0', /--n0 '0' must be a whole number at least 1/],
    [CERTIFY_SETTINGS.n, '2000000', /--n '2000000' must be a whole number at least 1 and at most 1000000/],
    [CERTIFY_SETTINGS.alpha, '1', /--alpha '1' must be a number greater than 0 and less than 1/],
    [CERTIFY_SETTINGS.alpha, '0', /--alpha '0' must be a number greater than 0/],
    [CERTIFY_SETTINGS.radius, '0,-0.5', /--radius '0,-0\.5' must be 1 to 100 comma-separated numbers, each at least 0/],
  ];
  for (const [setting, value, message] of cases) t.throws(() => setting.parse(value, { source: 'flag' }), { instanceOf: UsageError, message }, value);
  t.deepEqual(CERTIFY_SETTINGS.sigma.parse('0.5,1/8,0.25', { source: 'flag' }), [0.125, 0.25, 0.5]);
});

test('on the command line a bad setting exits 2 naming the flag, before an output folder is made', async (t) => {
  const dir = await tmp();
  const cases = [
    [['--sigma', '0'], /--sigma '0' must be/],
    [['--sigma', '0.25', '--alpha', '1'], /--alpha '1' must be/],
    [[], /--sigma/],
    // --shard is robench run's i/n, 0 <= i < n, and a slice must hold an image.
    [['--sigma', '0.25', '--shard', '3/2'], /--shard '3\/2' must be i\/n with 0 <= i < n/],
    [['--sigma', '0.25', '--shard', '2/2'], /--shard '2\/2' must be i\/n with 0 <= i < n/],
    [['--sigma', '0.25', '--shard', 'half'], /--shard 'half' must be i\/n/],
    [['--sigma', '0.25', '--samples', '2', '--shard', '0/3'], /--shard 0\/3 of 2 samples holds no sample/],
  ] as const;
  for (const [args, message] of cases) {
    const out = join(dir, 'never');
    const r = await robench(['certify', '--model', 'baseline', '--dataset', 'mnist', '--backend', 'cpu', '--out', out, ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.false(existsSync(out), `${args.join(' ')} made its output folder`);
  }
});

test('a certify run writes results that read back, the same at any batch size, and edits are refused', async (t) => {
  const dir = await tmp();
  const model = await saveDenseModel(join(dir, 'model'), [28, 28, 1], { seed: 3 });
  const args = ['certify', '--model', model, '--dataset', 'mnist', '--sigma', '0.1,0.3', '--n0', '20', '--n', '300', '--samples', '4', '--radius', '0,0.1,0.2', '--backend', 'cpu', '--format', 'json'];
  const stdout = await robenchOk([...args, '--out', join(dir, 'a'), '--batch', '64']);
  t.regex(stdout, /sigma.*abstained.*smoothed clean.*radius 0\b.*radius 0\.1.*radius 0\.2/s);
  await robenchOk([...args, '--out', join(dir, 'b'), '--batch', '7']);
  const [a, b] = [readCertifyResults(join(dir, 'a')), readCertifyResults(join(dir, 'b'))];
  t.deepEqual(a.map((r) => r.smoothing.sigma), [0.1, 0.3]);
  t.deepEqual(a.map((r) => r.points.map((p) => p.perturbation)), [[0, 0.1, 0.2], [0, 0.1, 0.2]]);
  t.deepEqual(b.map((r) => r.smoothing), a.map((r) => r.smoothing));
  for (const run of a) {
    const { smoothing: s } = run;
    t.deepEqual(run.attack.params, { sigma: s.sigma, n0: 20, n: 300, alpha: 0.001 });
    t.is(run.forwardEvaluations, 4 * 320);
    // The curve is what the radii say: certified with the true class at that radius or more.
    t.deepEqual(run.points.map((p) => p.correct), [0, 0.1, 0.2].map((r) => s.index.filter((_, i) => s.certified[i] === s.label[i] && s.radius[i]! >= r).length));
  }
  // An edited radius never reaches a table: radii are recomputed from the counts.
  const file = join(dir, 'a', 'results.json');
  const original = await readFile(file, 'utf8');
  const edit = async (change: (s: { certified: number[]; topCount: number[]; radius: number[] }) => void): Promise<void> => {
    const parsed = JSON.parse(original);
    change(parsed.runs[0].smoothing);
    await writeFile(file, JSON.stringify(parsed));
  };
  await edit((s) => (s.radius[0] = 100));
  t.deepEqual(readCertifyResults(join(dir, 'a'))[0]!.smoothing.radius, a[0]!.smoothing.radius);
  // A count that turns an abstention into a certificate (or back) is refused.
  await edit((s) => (s.topCount[0] = s.certified[0] === -1 ? 300 : 0));
  t.throws(() => readCertifyResults(join(dir, 'a')), { message: /abstentions its counts imply/ });
  await writeFile(file, original);
  // `robench report` reads a certify folder like any other.
  const report = await robench(['report', join(dir, 'a'), '--out', join(dir, 'report'), '--format', 'csv']);
  t.is(report.code, 0, report.stderr);
  t.regex(await readFile(join(dir, 'report', 'results.csv'), 'utf8'), /certified radius/);
});

test("the README's certify and smoothed-classifier commands run as written, each in a folder of its own", async (t) => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Certified robustness'), readme.indexOf('\n## ', readme.indexOf('## Certified robustness') + 3));
  const lines = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.trim().split('\n'));
  t.deepEqual(lines.map((l) => l.split(' ').slice(0, 3).join(' ')), ['npx robench certify', 'npx robench run']);
  const [certify, smoothed] = await Promise.all(lines.map(async (line) => {
    const cwd = await tmp();
    return { cwd, r: await robench(line.split(/\s+/).slice(2), cwd) };
  }));
  t.is(certify!.r.code, 0, certify!.r.stderr);
  t.regex(certify!.r.stdout, /baseline \[mnist\] │ 0\.25 .*\n.*\n.*baseline \[mnist\] │ 0\.5 /);
  const [folder] = await readdir(join(certify!.cwd, 'robench-results'));
  t.deepEqual(readCertifyResults(join(certify!.cwd, 'robench-results', folder!)).map((run) => run.dataset.samples), [5, 5]);
  t.is(smoothed!.r.code, 0, smoothed!.r.stderr);
  t.regex(smoothed!.r.stdout, /baseline\+smooth\(0\.25,n=100\) \[mnist\] │ pgd \(l2\)/);
});

test('--shard: the shards of a certify command, merged by robench report, are the unsharded runs image by image; shards of other settings are refused', async (t) => {
  const dir = await tmp();
  // A linear model that classifies MNIST, so that the images are certified at different radii.
  const model = await saveCentroidModel(join(dir, 'model'));
  const certify = (out: string, ...extra: string[]): Promise<string> =>
    robenchOk(['certify', '--model', model, '--dataset', 'mnist', '--sigma', '0.5,1', '--n0', '20', '--n', '300', '--samples', '6', '--radius', '0,0.5,1', '--backend', 'cpu', '--format', 'json', ...extra, '--out', join(dir, out)]);
  const help = await robenchOk(['certify', '--help']);
  t.regex(help, /--shard <i\/n>\s+certify only the i-th of n disjoint slices of the --samples images \(merge with robench report\)/);
  await certify('full', '--batch', '64');
  // Another batch size for each shard: neither changes an image's draws.
  await certify('s0', '--shard', '0/2', '--batch', '7');
  await certify('s1', '--shard', '1/2');
  const full = readCertifyResults(join(dir, 'full'));
  const [s0, s1] = [readCertifyResults(join(dir, 's0')), readCertifyResults(join(dir, 's1'))];
  t.deepEqual(s0.map((r) => [r.shard, r.dataset.samples, r.smoothing.index]), [0.5, 1].map(() => [{ index: 0, count: 2, start: 0, end: 3, samples: 6 }, 3, [0, 1, 2]]));
  t.deepEqual(s1.map((r) => [r.shard, r.dataset.samples, r.smoothing.index]), [0.5, 1].map(() => [{ index: 1, count: 2, start: 3, end: 6, samples: 6 }, 3, [3, 4, 5]]));
  // Shards given in any order merge into the unsharded runs, per sigma.
  const report = await robench(['report', join(dir, 's1'), join(dir, 's0'), '--out', join(dir, 'merged'), '--format', 'json']);
  t.is(report.code, 0, report.stderr);
  const merged = readCertifyResults(join(dir, 'merged'));
  t.deepEqual(merged.map((r) => r.smoothing.sigma), [0.5, 1]);
  for (const [k, run] of merged.entries()) {
    t.is(run.shard, undefined);
    t.is(run.dataset.samples, 6);
    t.deepEqual(run.smoothing, full[k]!.smoothing, `sigma ${run.smoothing.sigma}: the per-image records`);
    t.deepEqual(run.points, full[k]!.points, `sigma ${run.smoothing.sigma}: the certified-accuracy curve`);
    t.deepEqual(run.outcomes, full[k]!.outcomes);
    t.is(run.cleanAccuracy, full[k]!.cleanAccuracy);
    t.is(run.forwardEvaluations, full[k]!.forwardEvaluations);
  }
  // Curves that fall with the radius, from records that differ from image to image.
  t.true(full.every((r) => r.points[0]!.correct > 0 && r.points.some((p) => p.correct < r.points[0]!.correct)), JSON.stringify(full.map((r) => r.points.map((p) => p.correct))));
  t.true(new Set(full.flatMap((r) => r.smoothing.topCount)).size > 2);
  // A shard of another n, or another sigma, is refused naming both files and the setting.
  await certify('s1-n', '--shard', '1/2', '--n', '200');
  await certify('s1-sigma', '--shard', '1/2', '--sigma', '0.5,0.75');
  for (const [other, message] of [['s1-n', /attack settings \(n 200 vs 300\)/], ['s1-sigma', /attack settings \(sigma 0\.75 vs 1\)/]] as const) {
    const r = await robench(['report', join(dir, 's0'), join(dir, other), '--out', join(dir, `merged-${other}`), '--format', 'json']);
    t.is(r.code, 2, `${other}: ${r.stderr}`);
    t.regex(r.stderr, message, other);
    t.true(r.stderr.includes(`shard 1 (${join(dir, other, 'results.json')}) differs from shard 0 (${join(dir, 's0', 'results.json')})`), r.stderr);
    t.false(existsSync(join(dir, `merged-${other}`, 'results.json')));
  }
});
