/**
 * Issue 30: one declaration per setting. Each case below was accepted, dropped or crashed before
 * the settings were declared once and parsed in one place; each now fails (or works) the same
 * way wherever the value enters: a flag, robench.config.json, benchmark(), or run.json on --resume.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchmark } from '../../src/index.js';
import { robench, robenchOk, root } from '../helpers/cli.js';

const tmp = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), prefix));

async function withConfig(config: unknown): Promise<string> {
  const dir = await tmp('robench-config-');
  await writeFile(join(dir, 'robench.config.json'), JSON.stringify(config));
  return dir;
}

test('values are never looked up on Object.prototype: constructor, toString and __proto__ are unknown values', async (t) => {
  const cases: [string[], RegExp][] = [
    [['run', '--input-range', 'constructor'], /--input-range 'constructor' is not one of 0,1, 0,255, -1,1/],
    [['leaderboard', 'x', '--format', 'toString'], /--format 'toString' is not one of table, md, html/],
    [['run', '--backend', '__proto__'], /--backend '__proto__' is not one of auto/],
    [['list', 'constructor'], /unknown plugin kind 'constructor'/],
  ];
  for (const [args, message] of cases) {
    const r = await robench(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.notRegex(r.stderr, /\[object|is not iterable|TypeError/);
  }
});

test('bounds: values that would exhaust memory or time are usage errors before anything loads', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--eps', '0:0.1:300000000'], /--eps '0:0\.1:300000000': the count '300000000' must be a whole number from 1 to 1000/],
    [['--workers', '100'], /--workers '100' must be a whole number at least 1 and at most 32/],
    [['--batch', '1000000'], /--batch '1000000' must be a whole number at least 1 and at most 10000/],
    [['--samples', '10000000'], /--samples '10000000' must be a whole number at least 1 and at most 1000000/],
    [['--eps', Array.from({ length: 1001 }, (_, i) => i / 1e4).join(',')], /--eps lists 1001 budgets, more than 1000/],
  ];
  for (const [args, message] of cases) {
    const r = await robench(['run', '--model', 'baseline', '--dataset', 'mnist', '--backend', 'cpu', ...args]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
  }
});

test('boolean flags work bare, before another flag, and as --no-x', async (t) => {
  const out = await tmp('robench-bool-');
  const base = ['run', '--model', 'baseline', '--dataset', 'mnist', '--attack', 'fab', '--steps', '2', '--samples', '2', '--backend', 'cpu', '--workers', '1', '--format', 'json'];
  await robenchOk([...base, '--targeted', '--eps', '0,0.1', '--out', join(out, 'on')]);
  await robenchOk([...base, '--no-targeted', '--eps', '0,0.1', '--out', join(out, 'off')]);
  const params = async (dir: string) => (JSON.parse(await readFile(join(out, dir, 'results.json'), 'utf8')) as { runs: { attack: { params: Record<string, unknown> } }[] }).runs[0].attack.params;
  t.is((await params('on')).targeted, true);
  t.is((await params('off')).targeted, false);
});

test('robench.config.json: plugins that are not strings, and a plugin that fails to load, name the config; --help and list still work', async (t) => {
  const bad = await withConfig({ plugins: [1] });
  const r = await robench(['run'], bad);
  t.is(r.code, 2);
  t.regex(r.stderr, /"plugins" must be an array of file paths or package names, not \[1\]/);
  t.notRegex(r.stderr, /startsWith/);

  const missing = await withConfig({ plugins: ['./no-such-plugin.js'] });
  t.is((await robench(['--help'], missing)).code, 0);
  const list = await robench(['list', 'attacks'], missing);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stderr, /warning: robench\.config\.json: plugin file not found/);
  const run = await robench(['run'], missing);
  t.is(run.code, 2);
  t.regex(run.stderr, /robench\.config\.json: plugin file not found: .*no-such-plugin\.js/);
});

test("a plugin param named like one of robench's own settings (resume) is a usage error naming the plugin, not a commander crash", async (t) => {
  const dir = await tmp('robench-clash-');
  const file = join(dir, 'clash.mjs');
  await writeFile(
    file,
    "export default { kind: 'attack', id: 'clash', description: 'x', params: { resume: { type: 'boolean', description: 'x', default: false } }, budget: () => 'linf', defaultGrid: () => [0], run: (ctx) => ctx.x.clone() };\n",
  );
  const r = await robench(['--plugin', file, 'list']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /attack 'clash' \(.*clash\.mjs\) declares a param 'resume' that clashes with robench's own --resume/);
});

test("a param declared with a type robench does not know ('float') is refused at registration, naming the param", async (t) => {
  const dir = await tmp('robench-float-');
  const file = join(dir, 'float.mjs');
  await writeFile(
    file,
    "export default { kind: 'attack', id: 'floaty', description: 'x', params: { size: { type: 'float', description: 'x', default: 0.5 } }, budget: () => 'linf', defaultGrid: () => [0], run: (ctx) => ctx.x.clone() };\n",
  );
  const r = await robench(['--plugin', file, 'list']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /the attack 'floaty' param 'size' has the type "float": a param's type is one of number, int, string, boolean/);
});

test('--resume checks run.json by the declarations: a shard of 5/2, a seed of -1, a batch of -5 name the file and field', async (t) => {
  const dir = await tmp('robench-resume-json-');
  const options = { model: 'baseline', attack: 'pgd', dataset: 'mnist', batch: 100, seed: 0, backend: 'cpu', format: 'json', inputRange: '0,1', sweep: true, plugins: [], attackOptions: {}, command: ['robench'] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ shard: { index: 5, count: 2 } }, /run\.json: "options\.shard" '5\/2' must be i\/n with 0 <= i < n/],
    [{ seed: -1 }, /run\.json: "options\.seed" -1 must be a whole number at least 0/],
    [{ batch: -5 }, /run\.json: "options\.batch" -5 must be a whole number at least 1/],
    [{ workers: 'many' }, /run\.json: "options\.workers" 'many' must be a whole number/],
    [{ plugins: [3] }, /run\.json: "options\.plugins" must be an array of strings/],
  ];
  for (const [edit, message] of cases) {
    const out = join(dir, String(Object.keys(edit)[0]));
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'run.json'), JSON.stringify({ robench: '0.1.0', complete: false, options: { ...options, ...edit, out }, pairs: ['baseline / pgd'], finished: 0 }));
    const r = await robench(['run', '--resume', out]);
    t.is(r.code, 2, `${JSON.stringify(edit)}: ${r.stderr}`);
    t.regex(r.stderr, message, JSON.stringify(edit));
  }
});

test('benchmark() params take the names robench list attacks --json gives, and refuse unknown ones with the nearest', async (t) => {
  const run = (params: Record<string, unknown>) => benchmark({ model: 'baseline', dataset: 'mnist', attack: 'pgd', params, eps: [0, 0.1], samples: 2, seed: 0, backend: 'cpu', workers: 1 });
  await t.throwsAsync(run({ 'step-size': -1 }), { message: /benchmark\(\) params option "step-size" -1 must be a number greater than 0/ });
  await t.throwsAsync(run({ stepz: 3 }), { message: /'stepz' is not a param of the attack 'pgd'; did you mean 'steps'\?/ });
  const result = await run({ 'random-start': false, steps: 2 });
  t.is(result.attack.params['random-start'], false);
  t.is(result.attack.params.steps, 2);
});

test('benchmark() options are checked by the same declarations as the flags, naming the option', async (t) => {
  const base = { model: 'baseline', dataset: 'mnist', attack: 'pgd', backend: 'cpu' as const };
  await t.throwsAsync(benchmark({ ...base, batch: -5 }), { message: /benchmark\(\) option "batch" -5 must be a whole number at least 1 and at most 10000/ });
  await t.throwsAsync(benchmark({ ...base, workers: 100 }), { message: /benchmark\(\) option "workers" 100 must be a whole number at least 1 and at most 32/ });
  await t.throwsAsync(benchmark({ ...base, eps: '0:0.1:300000000' }), { message: /the count '300000000' must be a whole number from 1 to 1000/ });
  await t.throwsAsync(benchmark({ ...base, sampels: 10 } as never), { message: /benchmark\(\) has no option "sampels"; did you mean "samples"\?/ });
});

function child(mode: string): Promise<{ backend: string; backendDetail?: string; points: number[][] }> {
  return new Promise((done, fail) =>
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'test/fixtures/settings/benchmark-child.ts'), mode], { cwd: root, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      err ? fail(new Error(`${mode}: ${stderr}`)) : done(JSON.parse(stdout.trim().split('\n').pop()!)),
    ),
  );
}

test("benchmark() starts the backend itself in a fresh process, records it, and gives the CLI's numbers for the same settings", async (t) => {
  const fresh = await child('none');
  const preset = await child('wasm');
  t.is(fresh.backend, 'wasm');
  t.truthy(fresh.backendDetail);
  t.truthy(preset.backendDetail, 'a backend the caller set is recorded with its detail too');
  t.deepEqual(preset.points, fresh.points);
  const out = await tmp('robench-cli-same-');
  await robenchOk(['run', '--model', 'hebbian', '--dataset', 'mnist', '--attack', 'pgd', '--steps', '5', '--eps', '0,0.1', '--samples', '24', '--seed', '0', '--workers', '1', '--format', 'json', '--out', out]);
  const cli = (JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: { points: { perturbation: number; correct: number; total: number }[] }[] }).runs[0];
  t.deepEqual(cli.points.map((p) => [p.perturbation, p.correct, p.total]), fresh.points);
});

test('a plugin importing robench by name loads from the sources, never a dist/ a build left behind', async (t) => {
  const r = await robench(['--plugin', join(root, 'test/fixtures/settings/robench-importing-plugin.mjs'), 'list', 'attacks', '--json']);
  t.is(r.code, 0, r.stderr);
  const attack = (JSON.parse(r.stdout) as { attacks: { id: string; description: string }[] }).attacks.find((a) => a.id === 'imports-robench');
  t.regex(attack?.description ?? '', /resolved robench at file:\S*\/src\/index\.ts,/);
  for (const entry of ['sdk', 'attacks', 'testing', 'layers']) t.regex(attack?.description ?? '', new RegExp(`robench/${entry} at file:\\S*/src/${entry}\\.ts(,|$)`));
});

test('environment variables go through the same parser: a bad value names the variable instead of being ignored', async (t) => {
  const r = await new Promise<{ code: number; stderr: string }>((done) =>
    execFile(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), '--plugin', join(root, 'test/fixtures/example-attack.mjs'), 'list', 'attacks'],
      { cwd: root, env: { ...process.env, ROBENCH_PLUGIN_LOAD_TIMEOUT_S: 'abc' } },
      (err, _stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /the environment variable ROBENCH_PLUGIN_LOAD_TIMEOUT_S 'abc' must be a number greater than 0/);
});
