import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareOutDir } from '../../src/runtime/out-dir.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { robench, robenchOk, root } from '../helpers/cli.js';

const RUN = ['run', '--model', 'hebbian', '--dataset', 'fashion-mnist', '--attack', 'pgd', '--steps', '5', '--eps', '0,0.05,0.1', '--samples', '300', '--batch', '20', '--workers', '1', '--backend', 'wasm', '--offline', '--format', 'json'];

const readRuns = async (dir: string): Promise<RunResult[]> => (JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as { runs: RunResult[] }).runs;

/** What must not depend on an interrupt: every number and every sample's outcome. */
const numbers = (r: RunResult) => ({ points: r.points, outcomes: r.outcomes, gradients: r.gradientEvaluations, forwards: r.forwardEvaluations, samples: r.dataset.samples, complete: r.complete });

test('SIGINT saves the finished part marked incomplete and exits 130; --resume gives the numbers of an uninterrupted run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-resume-'));
  try {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), ...RUN, '--out', join(dir, 'cut')], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    // Interrupt as soon as the first slice of samples is saved.
    for (let i = 0; i < 600 && !existsSync(join(dir, 'cut', 'results.json')); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    t.is(await exited, 130, stderr);
    t.regex(stderr, /interrupted by SIGINT during hebbian under pgd; 0 of 1 model\/attack pairs finished/);
    t.regex(stderr, /robench run --resume /);
    const [partial] = await readRuns(join(dir, 'cut'));
    t.is(partial!.complete, false);
    t.true(partial!.pending!.samples > 0 && partial!.dataset.samples + partial!.pending!.samples === 300, JSON.stringify(partial!.pending));
    const refused = await robench(['report', join(dir, 'cut'), '--out', join(dir, 'report')]);
    t.is(refused.code, 2);
    t.regex(refused.stderr, /unfinished run .*missing \d+ samples/);

    await robenchOk(['run', '--resume', join(dir, 'cut')]);
    await robenchOk([...RUN, '--out', join(dir, 'whole')]);
    const [resumed] = await readRuns(join(dir, 'cut'));
    const [whole] = await readRuns(join(dir, 'whole'));
    t.deepEqual(numbers(resumed!), numbers(whole!));
    t.is(resumed!.complete, undefined);
    t.true(JSON.parse(await readFile(join(dir, 'cut', 'run.json'), 'utf8')).complete);
    const again = await robench(['run', '--resume', join(dir, 'cut')]);
    t.is(again.code, 2);
    t.regex(again.stderr, /complete: there is nothing to resume/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--resume keeps the interrupted run\'s settings: other flags with it are a usage error', async (t) => {
  const r = await robench(['run', '--resume', join(tmpdir(), 'robench-never'), '--steps', '10']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--steps cannot be given with it/);
});

test('--out is prepared before anything loads: a file, or a folder under /proc, fails at once naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-out-'));
  try {
    await writeFile(join(dir, 'taken'), 'x');
    const file = await robench([...RUN, '--out', join(dir, 'taken')]);
    t.is(file.code, 2);
    t.regex(file.stderr, /--out .*taken exists and is not a folder/);
    t.notRegex(file.stderr, /loading/);
    const proc = await robench([...RUN, '--out', '/proc/self/robench']);
    t.is(proc.code, 2);
    t.regex(proc.stderr, /inside \/proc/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('default output folders are claimed: two runs with the same name in the same second get two folders', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-out-'));
  try {
    const name = join(dir, '2026-12-01_10-00-00-hebbian-pgd');
    const [a, b] = await Promise.all([prepareOutDir(name, { claim: true }), prepareOutDir(name, { claim: true })]);
    t.not(a, b);
    t.deepEqual([a, b].sort(), [name, `${name}-2`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a reused --out moves an earlier run\'s files aside, so its report holds only the new run and nothing is lost, and says so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-out-'));
  try {
    const out = join(dir, 'reused');
    await mkdir(out);
    await writeFile(join(out, 'audit.json'), '{}');
    await writeFile(join(out, 'curve-fgsm.svg'), '<svg/>');
    await writeFile(join(out, 'notes.txt'), 'mine');
    const r = await robench([...RUN.map((a) => (a === '300' ? '40' : a)), '--out', out]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /held an earlier run's audit\.json, curve-fgsm\.svg; moved them to .*earlier-/);
    t.false(existsSync(join(out, 'audit.json')));
    t.false(existsSync(join(out, 'curve-fgsm.svg')));
    const aside = (await readdir(out)).filter((f) => f.startsWith('earlier-'));
    t.is(aside.length, 1);
    t.is(await readFile(join(out, aside[0]!, 'audit.json'), 'utf8'), '{}');
    t.true(existsSync(join(out, 'notes.txt')), 'files robench did not write stay');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
