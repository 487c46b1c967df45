/**
 * Issue 31, output folders, from `robench run`'s side: every setting is checked before a file in
 * --out is touched, an earlier run's files are moved aside only when compute starts, a second run
 * on a live folder is refused, an interrupt says only what is true, and --resume brings a run's
 * plugins back.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench, root } from '../helpers/cli.js';

const RUN = ['run', '--model', 'hebbian', '--dataset', 'fashion-mnist', '--attack', 'pgd', '--steps', '5', '--eps', '0,0.05', '--samples', '300', '--batch', '20', '--workers', '1', '--backend', 'wasm', '--offline', '--format', 'json'];

async function folderWithResults(): Promise<{ out: string; before: string[] }> {
  const out = join(await mkdtemp(join(tmpdir(), 'robench-folder-')), 'out');
  await mkdir(out);
  await writeFile(join(out, 'results.json'), '{"finished": "an hour of attacks"}');
  await writeFile(join(out, 'run.json'), '{"complete": true}');
  return { out, before: (await readdir(out)).sort() };
}

test('a mistyped run leaves the folder it names as it was: the usage error comes before any file is touched', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--model', 'hebian'], /unknown model 'hebian'/],
    [['--eps', '8'], /budget 8 exceeds/],
    [['--dataset', 'fashion-mnsit'], /unknown dataset 'fashion-mnsit'/],
  ];
  for (const [edit, message] of cases) {
    const { out, before } = await folderWithResults();
    const args = [...RUN];
    for (let i = 0; i < edit.length; i += 2) args[args.indexOf(edit[i]!) + 1] = edit[i + 1]!;
    const r = await robench([...args, '--out', out]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
    t.deepEqual((await readdir(out)).sort(), before, edit.join(' '));
    t.is(await readFile(join(out, 'results.json'), 'utf8'), '{"finished": "an hour of attacks"}');
  }
});

function start(args: string[]) {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { child, exited, stderr: () => stderr };
}

const waitFor = async (file: string): Promise<void> => {
  for (let i = 0; i < 1200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
};

test('a second run on a folder a live run holds is refused naming it; an interrupt before anything finished claims no saved results', async (t) => {
  const out = join(await mkdtemp(join(tmpdir(), 'robench-live-')), 'out');
  const first = start([...RUN, '--out', out]);
  await waitFor(join(out, '.robench.lock'));
  const second = await robench([...RUN, '--out', out]);
  t.is(second.code, 2, second.stderr);
  t.regex(second.stderr, new RegExp(`--out ${out} is in use by another robench \\(process ${first.child.pid}`));
  await waitFor(join(out, 'run.json'));
  first.child.kill('SIGTERM');
  t.is(await first.exited, 143);
  if (existsSync(join(out, 'results.json'))) t.regex(first.stderr(), /finished part saved in/);
  else {
    t.regex(first.stderr(), /nothing was finished yet, so nothing is saved/);
    t.notRegex(first.stderr(), /finished part saved/);
  }
  t.false(existsSync(join(out, '.robench.lock')), 'the lock goes with its process');
});

test("--resume loads the plugins the interrupted run was given, so its printed command works", async (t) => {
  const out = join(await mkdtemp(join(tmpdir(), 'robench-plugin-resume-')), 'out');
  await mkdir(out);
  const plugin = join(root, 'test/fixtures/example-attack.mjs');
  const options = { model: 'baseline', attack: 'random-sign', dataset: 'mnist', eps: '0,0.1', samples: 8, batch: 8, seed: 0, backend: 'cpu', format: 'json', inputRange: '0,1', offline: true, sweep: true, workers: 1, plugins: [plugin], attackOptions: {}, command: ['robench'], out };
  await writeFile(join(out, 'run.json'), JSON.stringify({ robench: '0.1.0', complete: false, options, pairs: ['baseline / random-sign'], finished: 0 }));
  const r = await robench(['run', '--resume', out]);
  t.is(r.code, 0, r.stderr);
  const saved = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: { attack: { id: string } }[] };
  t.is(saved.runs[0]!.attack.id, 'random-sign');
});
