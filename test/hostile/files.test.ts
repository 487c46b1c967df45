/**
 * Hostile input, files read back: results.json and run.json as a careless or hostile user
 * leaves them. Every command reads them through one validating reader
 * (src/report/results-file.ts), which names the file and the field and exits 2, and
 * recomputes every figure from the counts and per-sample outcomes.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { checkCommand, readResults } from '../../src/cli/commands/check.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { leaderboardCommand } from '../../src/cli/commands/leaderboard.js';
import { resultsJson } from '../../src/report/results-json.js';
import { readRunRecord } from '../../src/evaluation/run-state.js';
import { MAX_RESULTS_BYTES } from '../../src/report/results-file.js';
import { runResult } from '../helpers/run-results.js';

const N = 1000;

/**
 * A swept PGD run on N samples with per-sample outcomes: `clean` samples right clean, of
 * which `robust` survive eps 0.1 (the others break there).
 */
function run(clean: number, robust: number, over: Partial<RunResult> = {}): RunResult {
  const index = Array.from({ length: N }, (_, i) => i);
  const outcomes = { index, clean: index.map((i) => (i < clean ? 1 : 0)), brokeAt: index.map((i) => (i >= clean ? 0 : i < robust ? -1 : 1)) };
  return runResult(
    {
      model: { id: 'hebbian', dataset: 'cifar10', weightsSha256: 'x' },
      dataset: { id: 'cifar10', split: 'test', samples: N, source: { kind: 'bundled', path: '-', sha256: '-' } },
      attack: { id: 'pgd', params: { steps: 20 }, budget: 'linf', perturbation: 'eps' },
      cleanAccuracy: clean / N,
      points: [
        { perturbation: 0, accuracy: clean / N, correct: clean, total: N },
        { perturbation: 0.1, accuracy: robust / N, correct: robust, total: N },
      ],
    },
    { sweep: true, outcomes, ...over },
  );
}

/** Writes `value` to a fresh file, synchronously (for t.throws): a file per call. */
let counter = 0;
const scratch = await mkdtemp(join(tmpdir(), 'robench-hostile-files-'));
function readyFile(value: unknown): string {
  const file = join(scratch, `r${counter++}.json`);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

const folder = (): Promise<string> => mkdtemp(join(tmpdir(), 'robench-hostile-files-'));

async function saved(value: unknown): Promise<string> {
  const file = join(await folder(), 'results.json');
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

/** What a command's error says, and that it is a usage error (exit 2). */
function refused(t: import('ava').ExecutionContext, fn: () => unknown, message: RegExp): void {
  const err = t.throws(fn, { instanceOf: UsageError, message });
  t.is(err?.exitCode, 2);
}

const quiet = async <T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> => {
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { value: await fn(), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
};

test('an accuracy field set to the string "NaN" is not read: the figure comes from the counts', async (t) => {
  const edited = run(900, 609);
  (edited.points[1] as unknown as Record<string, unknown>).accuracy = 'NaN';
  (edited as unknown as Record<string, unknown>).cleanAccuracy = 'NaN';
  const [read] = readResults(await saved(edited));
  t.is(read.points[1].accuracy, 0.609);
  t.is(read.cleanAccuracy, 0.9);
  // check prints the recomputed figure, never "NaN%".
  const { value, out } = await quiet(() => checkCommand(readyFile(run(900, 609)), readyFile(edited), { tolerance: 0.01, alpha: 0.01, allowMismatch: false, update: false }));
  t.is(value, 0);
  t.regex(out, /60\.9%/);
  t.notRegex(out, /NaN/);
});

test('check: an edited accuracy field can neither fake nor hide a drop; the drop comes from the outcomes', async (t) => {
  const base = await saved(run(900, 609));
  // The real run lost 30.9 points at eps 0.1, but its accuracy field claims the baseline's 0.609.
  const dropped = run(900, 300);
  dropped.points[1].accuracy = 0.609;
  const droppedFile = await saved(dropped);
  const hidden = await quiet(() => checkCommand(base, droppedFile, { tolerance: 0.01, alpha: 0.01, allowMismatch: false, update: false }));
  t.is(hidden.value, 1);
  t.regex(hidden.out, /-30\.9 pt/);
  t.regex(hidden.out, /REGRESSED/);
  // An identical run whose accuracy field alone was edited down is no regression.
  const same = run(900, 609);
  same.points[1].accuracy = 0.3;
  const sameFile = await saved(same);
  const faked = await quiet(() => checkCommand(base, sameFile, { tolerance: 0.01, alpha: 0.01, allowMismatch: false, update: false }));
  t.is(faked.value, 0);
  t.regex(faked.out, /\+0\.0 pt/);
});

test('check: --alpha outside (0, 1) and --tolerance outside [0, 1) exit 2 naming the flag', async (t) => {
  const base = await saved(run(900, 609));
  const now = await saved(run(900, 300));
  for (const [alpha, tolerance, flag] of [
    [2, 0.01, /--alpha 2 .*\(0, 1\)/],
    [0, 0.01, /--alpha 0 /],
    [1, 0.01, /--alpha 1 /],
    [Number.NaN, 0.01, /--alpha NaN/],
    [0.01, -1, /--tolerance -1 .*\[0, 1\)/],
    [0.01, 5, /--tolerance 5 /],
    [0.01, 1, /--tolerance 1 /],
  ] as const) {
    const err = await t.throwsAsync(checkCommand(base, now, { tolerance, alpha, allowMismatch: false, update: false }), { instanceOf: UsageError, message: flag });
    t.is(err?.exitCode, 2);
  }
  // The ranges' edges that make sense pass, and a real 30.9-point drop fails.
  t.is((await quiet(() => checkCommand(base, now, { tolerance: 0, alpha: 0.5, allowMismatch: false, update: false }))).value, 1);
});

test('a results.json without dataset, or with points of the wrong type, names the file and the field', async (t) => {
  const noDataset = { ...run(900, 609) } as Partial<RunResult>;
  delete noDataset.dataset;
  const file = await saved(noDataset);
  refused(t, () => readResults(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*field dataset is missing, expected an object`));
  refused(t, () => readResults(join(file, '..')), /field dataset is missing/);
  refused(t, () => readResults(readyFile(run(900, 609, { points: 'many' as never }))), /field points is a?n? ?string "many", expected an array/);
  refused(t, () => readResults(readyFile(run(900, 609, { points: [{ perturbation: '0.1', correct: 1, total: N }] as never }))), /field points\[0\]\.perturbation is string "0\.1"/);
  refused(t, () => readResults(readyFile(run(900, 609, { points: [] }))), /field points .*at least one point/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), model: { id: 7 } })), /field model\.id is number 7, expected a non-empty string/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), attack: null })), /field attack is null/);
});

test('counts out of range or inconsistent are refused: correct 1e12 of total -3, correct above total, a total no multiple of the samples', (t) => {
  const legacy = (points: unknown): RunResult => ({ ...run(900, 609), outcomes: undefined, points } as never);
  refused(t, () => readResults(readyFile(legacy([{ perturbation: 0, accuracy: 1, correct: 1e12, total: -3 }]))), /field points\[0\]\.total is number -3, expected an integer in \[0, /);
  refused(t, () => readResults(readyFile(legacy([{ perturbation: 0, accuracy: 1, correct: 1001, total: 1000 }]))), /field points\[0\]\.correct is number 1001, expected an integer in \[0, 1000\]/);
  refused(t, () => readResults(readyFile(legacy([{ perturbation: 0, accuracy: 1, correct: 1.5, total: 1000 }]))), /points\[0\]\.correct/);
  refused(t, () => readResults(readyFile(legacy([{ perturbation: 0, accuracy: 0.5, correct: 500, total: 999 }]))), /points\[0\]\.total is number 999, expected a multiple of dataset\.samples \(1000\)/);
  refused(t, () => readResults(readyFile(legacy([{ perturbation: -0.1, accuracy: 0.5, correct: 500, total: 1000 }]))), /points\[0\]\.perturbation is number -0\.1/);
  refused(t, () => readResults(readyFile({ ...legacy([{ perturbation: 0, accuracy: 0.5, correct: 500, total: 1000 }]), cleanAccuracy: 7 })), /field cleanAccuracy is number 7, expected a finite number in \[0, 1\]/);
  // Per-sample outcomes: a count that disagrees with them, or an outcome out of range.
  const inflated = run(900, 609);
  inflated.points[1].correct = 700;
  refused(t, () => readResults(readyFile(inflated)), /per-sample outcomes do not reproduce the recorded curve/);
  const bad = run(900, 609);
  bad.outcomes!.brokeAt![5] = 9;
  refused(t, () => readResults(readyFile(bad)), /field outcomes\.brokeAt\[5\] is number 9, expected an integer in \[-1, 1\]/);
  const twice = run(900, 609);
  twice.outcomes!.index[1] = 0;
  refused(t, () => readResults(readyFile(twice)), /outcomes\.index .*each sample once/);
});

test('a results.json holding no run, or not runs at all, is refused; export of [] writes nothing', async (t) => {
  refused(t, () => readResults(readyFile([])), /holds no runs/);
  refused(t, () => readResults(readyFile(42)), /does not hold robench results/);
  refused(t, () => readResults(readyFile('{"format":"robench-results","version":2,"runs":{}}')), /field runs is object \{\}, expected an array/);
  refused(t, () => readResults(readyFile('{"format":"robench-results","version":3,"runs":[]}')), /this robench reads version 2/);
  const out = await folder();
  await t.throwsAsync(exportCommand([readyFile([])], { format: 'robustbench', out }), { instanceOf: UsageError, message: /holds no runs/ });
  t.throws(() => leaderboardCommand([readyFile({ ...run(900, 609), dataset: undefined })], 'table'), { instanceOf: UsageError, message: /field dataset is missing/ });
});

test('results.json has one shape for any number of runs, and the older shapes still read', async (t) => {
  const one = JSON.parse(resultsJson([run(900, 609)]));
  const two = JSON.parse(resultsJson([run(900, 609), run(800, 100, { model: { id: 'baseline', dataset: 'cifar10', weightsSha256: 'y' } })]));
  for (const [value, count] of [[one, 1], [two, 2]] as const) {
    t.is(value.format, 'robench-results');
    t.is(value.version, 2);
    t.is(value.runs.length, count);
  }
  t.deepEqual(readResults(readyFile(one)).map((r) => r.points[1].correct), [609]);
  t.deepEqual(readResults(readyFile(two)).map((r) => r.points[1].correct), [609, 100]);
  // Version 1: one run as an object, several as an array.
  t.deepEqual(readResults(readyFile(run(900, 609))).map((r) => r.points[1].correct), [609]);
  t.deepEqual(readResults(readyFile([run(900, 609), run(800, 100)])).map((r) => r.points[1].correct), [609, 100]);
});

test('a hand-edited run.json names the field before --resume touches anything', async (t) => {
  const dir = await folder();
  const record = { robench: '0.1.0', complete: false, options: {}, pairs: ['hebbian / pgd'], finished: 0 };
  await writeFile(join(dir, 'run.json'), JSON.stringify({ ...record, finished: 5 }));
  refused(t, () => readRunRecord(dir), /run\.json: field finished is not an integer in \[0, 1\]/);
  await writeFile(join(dir, 'run.json'), JSON.stringify({ ...record, pairs: 'hebbian / pgd' }));
  refused(t, () => readRunRecord(dir), /field pairs/);
  await writeFile(join(dir, 'run.json'), '{"complete": fal');
  refused(t, () => readRunRecord(dir), /run\.json is not valid JSON/);
  // The partial results.json beside it goes through the same reader (unfinished runs allowed).
  await writeFile(join(dir, 'run.json'), JSON.stringify(record));
  await writeFile(join(dir, 'results.json'), JSON.stringify({ ...run(900, 609), complete: false, points: 3 }));
  refused(t, () => readRunRecord(dir), /field points is number 3/);
  await writeFile(join(dir, 'results.json'), resultsJson([{ ...run(900, 609), complete: false }]));
  t.is(readRunRecord(dir).results[0].points[1].correct, 609);
  t.is(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')).runs.length, 1);
});


test('a results path that is a FIFO, a folder without results, or a file larger than any results.json is refused before reading', async (t) => {
  const dir = await folder();
  execFileSync('mkfifo', [join(dir, 'results.json')]);
  refused(t, () => readResults(dir), /results\.json is not a regular file/);
  const empty = await folder();
  refused(t, () => readResults(empty), /no results at .*results\.json/);
  const big = join(await folder(), 'results.json');
  await writeFile(big, '');
  await truncate(big, MAX_RESULTS_BYTES + 1);
  refused(t, () => readResults(big), /results\.json is \d+ bytes, more than the \d+ a results\.json of robench can hold/);
});

test('sparsity records, attack settings and the command are checked too: the reports draw and print them', (t) => {
  const layer = { name: 'block1', zeroFraction: 0.5, hoyer: 0.4, topKMean: 2, restMean: 0.1, histogram: { edges: [0, 1, 2], counts: [3, 4] } };
  t.notThrows(() => readResults(readyFile(run(900, 609, { sparsity: [layer] }))));
  t.notThrows(() => readResults(readyFile(run(900, 609, { sparsity: [{ ...layer, hoyer: null }] as never }))), 'NaN written as null');
  refused(t, () => readResults(readyFile(run(900, 609, { sparsity: [{ ...layer, zeroFraction: 'half' }] as never }))), /field sparsity\[0\]\.zeroFraction is string "half"/);
  refused(t, () => readResults(readyFile(run(900, 609, { sparsity: [{ ...layer, histogram: { edges: [0, 1, 2], counts: [3] } }] as never }))), /field sparsity\[0\]\.histogram\.counts\.length is number 1, expected 2/);
  const nested = run(900, 609);
  nested.attack = { ...nested.attack, params: { steps: { toString: 1 } } as never };
  refused(t, () => readResults(readyFile(nested)), /field attack\.params\.steps is object .*expected a number, string or true\/false/);
  refused(t, () => readResults(readyFile(run(900, 609, { command: [1, 2] as never }))), /field command\[0\] is number 1, expected a string/);
});

test('gallery entries are checked before any picture is looked for: a wrong type names the field', (t) => {
  const item = { sample: 3, perturbation: 0.1, trueLabel: '1', cleanPrediction: '1', advPrediction: '2', images: { clean: 'gallery/a.png', adversarial: 'gallery/b.png', difference: 'gallery/c.png' }, amplification: 2 };
  t.is((readResults(readyFile({ ...run(900, 609), gallery: [item] }))[0] as { gallery?: unknown[] }).gallery?.length, 1);
  refused(t, () => readResults(readyFile({ ...run(900, 609), gallery: 5 })), /field gallery is number 5, expected an array/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), gallery: [null] })), /field gallery\[0\] is null, expected an object/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), gallery: [{ ...item, images: null }] })), /field gallery\[0\]\.images is null/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), gallery: [{ ...item, trueLabel: 7 }] })), /field gallery\[0\]\.trueLabel is number 7, expected a string/);
  refused(t, () => readResults(readyFile({ ...run(900, 609), gallery: [{ label: 'sample 3', perturbation: 0.1, trueLabel: '1', cleanPrediction: '1', advPrediction: '2', cleanPng: 5, advPng: '' }] })), /field gallery\[0\]\.cleanPng is number 5/);
});
