import test from 'ava';
import { accuracyTable } from '../../reports/table.js';
import { listCommand } from '../../src/cli/commands/list.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { Registry } from '../../src/core/registry.js';

/** Runs `fn` as if in a terminal `columns` wide, returning what it logged. */
function inTerminal(columns: number | undefined, fn: () => void): string {
  const saved = { columns: process.stdout.columns, log: console.log };
  const lines: string[] = [];
  process.stdout.columns = columns as number;
  console.log = (line: string) => lines.push(line);
  try {
    fn();
  } finally {
    process.stdout.columns = saved.columns;
    console.log = saved.log;
  }
  return lines.join('\n');
}
const widest = (text: string): number => Math.max(...text.split('\n').map((l) => [...l].length));

const LONG_ID = 'acme-adversarial-patch-reporter-v2';
const DESCRIPTION = 'writes every adversarial patch as a PNG beside a summary of where on the image each one sits';

test.serial('robench list wraps descriptions to the terminal and shows whole ids', (t) => {
  const registry = new Registry();
  registry.add({ kind: 'reporter', id: LONG_ID, description: DESCRIPTION, write: async () => [] }, 'test');
  for (const columns of [60, 80]) {
    const out = inTerminal(columns, () => listCommand(registry, 'reporters', false));
    t.true(widest(out) <= columns, `${columns} columns:\n${out}`);
    t.regex(out, new RegExp(`^│ ${LONG_ID} │`, 'm'), `the id is whole:\n${out}`);
    const column = (i: number): string => out.split('\n').map((l) => l.split('│')[i]?.trim()).filter(Boolean).join(' ');
    t.true(column(2).includes(DESCRIPTION), `the description, wrapped:\n${out}`);
  }
});

const run = (model: string, points: [number, number][]): RunResult =>
  ({
    model: { id: model, dataset: 'mnist', weightsSha256: '-' },
    dataset: { id: 'mnist', split: 'test', samples: 100, source: { kind: 'bundled', path: '-', sha256: '-' } },
    attack: { id: 'pgd', params: {}, budget: 'linf', perturbation: 'eps' },
    seed: 0,
    cleanAccuracy: points[0][1],
    points: points.map(([perturbation, accuracy]) => ({ perturbation, accuracy, correct: accuracy * 100, total: 100 })),
  }) as RunResult;
const grid = (shift: number): [number, number][] => Array.from({ length: 9 }, (_, i) => [i / 255, 0.9 - i * 0.1 + shift]);

test.serial('an accuracy table too wide for the terminal turns a row per perturbation size, every number whole', (t) => {
  const results = [run('baseline', grid(0)), run('./zoo/my-long-model/model.json', grid(0.05))];
  const out = accuracyTable(results, 80);
  t.true(widest(out) <= 80, out);
  t.regex(out, /^│ eps +│ 10\.0% +│ 15\.0% \(9\.3–23\.3\) +│ \+5\.0 pt \(−4\.4 +│$/m, `transposed:\n${out}`);
  t.regex(out, /^│ 8\/255 +│ \(5\.5–17\.4\) +│ +│ to \+14\.4\) +│$/m, 'each interval beside or under its accuracy');
  t.regex(out, /│ \.\/zoo\/my-long-model\/model\.json +│ Δ vs baseline +│$/m, 'the difference column right of its model');
  for (const acc of ['90.0%', '95.0%', '50.0%', '55.0%']) t.true(out.includes(acc), acc);
  t.regex(out, /│ \.\/zoo\/my-long-model\/model\.json +│/, 'the model id is whole');
});

test.serial('an accuracy table that fits keeps a row per model; in no terminal it keeps whole rows', (t) => {
  const results = [run('baseline', grid(0).slice(0, 3)), run('hebbian', grid(0.05).slice(0, 3))];
  const out = accuracyTable(results, 160);
  t.regex(out, /│ baseline \[mnist\] +│ pgd \(linf\) │ 90\.0% \(82\.6–94\.5\) +│ 80\.0% \(71\.1–86\.7\) +│ 70\.0% \(60\.4–78\.1\) +│/);
  t.regex(out, /│ hebbian \[mnist\] − baseline \[mnist\] \(unpaired\) │ pgd \(linf\) │ \+5\.0 pt \(−2\.6 to \+13\.0\) +│/);
  t.is(inTerminal(undefined, () => console.log(accuracyTable(results))), out);
  const narrow = accuracyTable(results, 70);
  t.true(widest(narrow) <= 70, narrow);
  t.regex(narrow, /│ baseline +│/, `wrapped, still a row per model:\n${narrow}`);
});
