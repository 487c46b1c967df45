/**
 * Hostile input, ids: a model id or path becomes a file name (export), a CSV cell (results.csv,
 * corruptions.csv, RobustBench's unaggregated CSV) and terminal text (the run and report
 * tables, check, leaderboard, the status line). Each sink has one helper
 * (src/report/safe-text.ts), used everywhere that sink is written.
 */
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import type { CurvePoint, Params, RunResult } from '../../src/core/plugin-api.js';
import { UsageError } from '../../src/core/errors.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { leaderboardCommand } from '../../src/cli/commands/leaderboard.js';
import { checkCommand } from '../../src/cli/commands/check.js';
import { resultRows } from '../../reports/csv.js';
import { accuracyTable } from '../../reports/table.js';
import { unaggregatedCsv } from '../../src/analysis/robustbench.js';
import { csvCell, safeFileName, terminalText } from '../../src/report/safe-text.js';
import { commonCorruptions } from '../../attacks/corruption.js';
import { corruptionTables } from '../../src/report/corruption-report.js';

/** RFC 4180 rows: quoted fields may hold commas, quotes (doubled) and newlines. */
function parse(text: string, _opts?: unknown): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else cell += c;
  }
  if (cell !== '' || row.length > 0) row.push(cell), rows.push(row);
  return rows;
}

const point = (perturbation: number, correct: number, total = 200, extra: Partial<CurvePoint> = {}): CurvePoint => ({ perturbation, correct, total, accuracy: correct / total, ...extra });

function run(model: string, attack = 'autoattack', params: Params = { norm: 'linf', 'aa-version': 'standard', attacks: '', individual: false }, points = [point(0, 162), point(8 / 255, 6)]): RunResult {
  return {
    robench: '0',
    model: { id: model, dataset: 'cifar10', weightsSha256: '0' },
    dataset: { id: 'cifar10', split: 'test', samples: 200, source: { kind: 'bundled', path: '-', sha256: '-' } },
    attack: { id: attack, params, budget: attack === 'corruption' ? null : 'linf', perturbation: attack === 'corruption' ? 'severity' : 'eps' },
    backend: 'wasm',
    seed: 0,
    sweep: true,
    cleanAccuracy: points[0]!.accuracy,
    points,
    gradientEvaluations: 0,
    forwardEvaluations: 0,
    durationMs: 1,
    startedAt: '2025-01-01T00:00:00.000Z',
    command: [],
  };
}

const corruptionRun = (model: string): RunResult =>
  run(model, 'corruption', { corruption: 'common' }, [
    point(0, 170),
    ...[1, 2, 3, 4, 5].map((s) => {
      const byVersion = commonCorruptions.map((_, c) => 100 + 3 * c + s);
      return point(s, byVersion.reduce((a, b) => a + b, 0), 200 * 15, { correctByVersion: byVersion });
    }),
  ]);

function saved(...list: RunResult[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'robench-hostile-ids-'));
  writeFileSync(join(dir, 'results.json'), JSON.stringify(list));
  return dir;
}

const inside = (root: string, file: string): boolean => {
  const rel = relative(resolve(root), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
};

const HOSTILE = ['../../../m1/model.json', '../../x', '/etc/passwd', '..', '.', 'a\\..\\..\\b', 'nul\u0000byte', '\u001b[2Jclear'];

test('export writes every model id inside --out, as a safe file name', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'robench-hostile-ids-'));
  const out = join(parent, 'deep', 'out');
  const written = await exportCommand(HOSTILE.map((id) => saved(run(id))), { format: 'robustbench', out });
  t.is(written.length, HOSTILE.length);
  for (const file of written) {
    t.true(inside(out, file), `${file} lies inside ${out}`);
    t.is(relative(out, file).split(sep).length, 3, 'dataset / threat model / model file, nothing deeper');
  }
  // Nothing landed beside --out or above it.
  t.deepEqual(readdirSync(parent), ['deep']);
  t.deepEqual(readdirSync(join(parent, 'deep')), ['out']);
  // A dataset id is a path component too.
  const odd = run('m');
  odd.dataset = { ...odd.dataset, id: '../../escape' };
  const [file] = await exportCommand([saved(odd)], { format: 'robustbench', out });
  t.true(inside(out, file!), file);
});

test('safe file names: one path component, never hidden, distinct for distinct ids, plain ids unchanged', (t) => {
  for (const id of [...HOSTILE, '', '...', 'x'.repeat(500)]) {
    const name = safeFileName(id);
    t.regex(name, /^[A-Za-z0-9_][A-Za-z0-9._-]*$/, id);
    t.true(name.length <= 120);
  }
  t.not(safeFileName('a/b'), safeFileName('a_b'));
  t.not(safeFileName('a/b'), safeFileName('a:b'));
  for (const id of ['hebbian', 'baseline-deep', 'ekdaa.v2', 'model_1']) t.is(safeFileName(id), id);
});

test('CSV cells that start a formula are neutralised; numbers, negative ones included, are not', async (t) => {
  const evil = "=cmd|' /C calc'!A0/model.json";
  for (const start of ['=', '+', '-', '@', '\t', '\r']) t.is(csvCell(`${start}x`), `'${start}x`);
  t.is(csvCell(-0.25), -0.25);
  t.is(csvCell('plain'), 'plain');
  const rows = resultRows([run(evil, 'pgd', { steps: 20, note: '@SUM(A1)', shift: -3 })]);
  t.is(rows[0]!.model, `'${evil}`);
  t.is(rows[0]!.param_note, "'@SUM(A1)");
  t.is(rows[0]!.param_shift, -3, 'a negative number stays a number');
  // RobustBench's unaggregated CSV: the id neutralised, and quoted where it holds a comma.
  const csv = unaggregatedCsv([corruptionRun(evil), corruptionRun('a,b')]);
  const table = parse(csv, { relax_column_count: false }) as string[][];
  t.is(table[2]![0], `'${evil}`);
  t.is(table[3]![0], 'a,b');
  t.is(table[3]!.length, table[0]!.length, 'a comma in an id does not shift the columns');
});

test('control characters in ids are shown escaped in the run/report table, check, leaderboard and corruption tables', async (t) => {
  const id = 'm\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202e';
  const tables = [accuracyTable([run(id, 'pgd', { steps: 20 })], 200), leaderboardCommand([saved(run(id))], 'table'), ...corruptionTables([corruptionRun(id)])];
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    const base = saved(run(id, 'pgd', { steps: 20 }));
    await checkCommand(base, base, { tolerance: 0.01, alpha: 0.01, allowMismatch: false, update: false });
  } finally {
    console.log = log;
  }
  tables.push(lines.join('\n'));
  for (const text of tables) {
    t.false(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(text), text);
    t.true(text.includes('m\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202e'), text);
  }
  // The Markdown leaderboard: a newline in an id cannot end its row.
  const md = leaderboardCommand([saved(run('two\nlines|x'))], 'md');
  t.is(md.trim().split('\n').length, 3, md);
  t.true(md.includes('two\\nlines\\|x'), md);
  t.is(terminalText('a\nb'), 'a\\nb');
  t.is(terminalText('a\nb', true), 'a\nb');
  t.is(terminalText('hebbian [cifar10]'), 'hebbian [cifar10]');
});

test('an exported results.csv never reaches a spreadsheet unescaped: the csv reporter writes neutralised cells', async (t) => {
  const { default: csv } = await import('../../reports/csv.js');
  const out = mkdtempSync(join(tmpdir(), 'robench-hostile-ids-'));
  await csv.write([run('=HYPERLINK("http://x")', 'pgd', { steps: 20 })], { outDir: out, log: () => {} });
  const text = readFileSync(join(out, 'results.csv'), 'utf8');
  const [, row] = parse(text) as string[][];
  t.is(row![0], `'=HYPERLINK("http://x")`);
});

test('error messages and hints, which name ids and paths, show their control characters escaped', (t) => {
  const err = new UsageError('cannot load the model \u001b]0;pwned\u0007m.json\nsecond line\tkept', 'pass \u009b2J instead');
  t.is(err.message, 'cannot load the model \\x1b]0;pwned\\x07m.json\nsecond line\tkept');
  t.is(err.hint, 'pass \\x9b2J instead');
  t.is(err.exitCode, 2);
});

test('chart file names come from attack ids through the same mapping: a plugin id cannot name a path', async (t) => {
  const { attackGroups } = await import('../../src/report/attack-groups.js');
  const groups = attackGroups([run('m', '../../../etc/x', { steps: 1 }), run('m', 'pgd', { steps: 1 })]);
  const slugs = groups.map((g) => g.slug);
  t.is(slugs[1], 'pgd', 'plain ids keep their names (curve-pgd.svg)');
  t.regex(slugs[0]!, /^[A-Za-z0-9_][A-Za-z0-9._-]*$/);
  t.false(slugs[0]!.includes('/'));
});
