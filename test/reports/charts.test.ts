import test from 'ava';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import type { View } from 'vega';
import { compile } from 'vega-lite';
import pngReporter from '../../reports/png.js';
import svgReporter from '../../reports/svg.js';
import { attackGroups } from '../../src/report/attack-groups.js';
import { buildCharts, chartView, renderSvg } from '../../src/report/charts.js';
import { readResults } from '../../src/cli/commands/check.js';
import { budgetScale, curveSpec } from '../../src/report/curve-chart.js';
import { sparsityData } from '../../src/report/histogram-chart.js';
import { wilsonInterval } from '../../src/core/intervals.js';
import type { RunResult } from '../../src/core/plugin-api.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models');
const fixture = (): RunResult[] => readResults(FIXTURE);
const ctx = (outDir: string) => ({ outDir, log: () => {} });

interface SceneNode {
  marktype?: string;
  name?: string;
  items?: SceneNode[];
  x?: number;
  y?: number;
  y2?: number;
  datum?: Record<string, unknown>;
}

/**
 * The root node of a view's scenegraph. vega-typings declare scenegraph() as returning a Scene,
 * but vega's View returns the Scenegraph object that holds the root Scene as `root`.
 */
const sceneRoot = (view: View): SceneNode => (view.scenegraph() as unknown as { root: SceneNode }).root;

/** Every mark node of the scenegraph with the given name (a faceted line has one per series). */
function marksNamed(node: SceneNode, name: string, out: SceneNode[] = []): SceneNode[] {
  if (node.marktype && node.name === name) out.push(node);
  for (const child of node.items ?? []) marksNamed(child, name, out);
  return out;
}

test('Wilson interval matches published values and stays inside [0, 1]', (t) => {
  // 8 of 10: 0.4902-0.9433 (Wilson 1927; Newcombe 1998, table I); 0 of 10: 0-0.2775.
  const a = wilsonInterval(8, 10);
  t.true(Math.abs(a.lo - 0.4902) < 1e-4 && Math.abs(a.hi - 0.9433) < 1e-4, JSON.stringify(a));
  const b = wilsonInterval(0, 10);
  t.is(b.lo, 0);
  t.true(Math.abs(b.hi - 0.2775) < 1e-4, JSON.stringify(b));
  t.deepEqual(wilsonInterval(0, 0), { lo: 0, hi: 1 });
  const c = wilsonInterval(1000, 1000);
  t.is(c.hi, 1);
  t.true(c.lo > 0.995 && c.lo < 1);
});

test('runs group by attack configuration; ids that repeat get the norm in the file name', (t) => {
  const runs = fixture();
  t.deepEqual(
    attackGroups(runs).map((g) => [g.slug, g.runs.map((r) => r.model.id)]),
    [
      ['pgd', ['mlp', 'hah-cnn']],
      ['gaussian', ['mlp', 'hah-cnn']],
    ],
  );
  const l2 = { ...runs[0], attack: { ...runs[0].attack, budget: 'l2' as const, params: { ...runs[0].attack.params, norm: 'l2' } } };
  const strange = { ...runs[0], attack: { ...runs[0].attack, id: 'my attack/v2' } };
  t.deepEqual(
    attackGroups([runs[0], l2, strange]).map((g) => g.slug),
    ['pgd-linf', 'pgd-l2', 'my_attack_v2'],
  );
});

test('curve chart data are the points of results.json with their Wilson intervals', async (t) => {
  const runs = fixture();
  for (const group of attackGroups(runs)) {
    const view = await chartView(curveSpec(group));
    try {
      const rows = view.data('curve') as Record<string, number | string>[];
      const expected = group.runs.flatMap((r) =>
        r.points.map((p) => ({ series: `${r.model.id} [${r.model.dataset}]`, perturbation: p.perturbation, accuracy: p.accuracy, correct: p.correct, total: p.total, ...wilsonInterval(p.correct, p.total) })),
      );
      t.deepEqual(
        rows.map(({ series, perturbation, accuracy, correct, total, lo, hi }) => ({ series, perturbation, accuracy, correct, total, lo, hi })),
        expected,
      );
      // The drawn line goes through the points: each vertex sits where the scales put the point.
      const x = view.scale('x') as (v: number) => number;
      const y = view.scale('y') as (v: number) => number;
      const lines = marksNamed(sceneRoot(view), 'curve_marks');
      t.is(lines.length, group.runs.length, 'one line per model');
      for (const line of lines) {
        for (const item of line.items!) {
          t.true(Math.abs(item.x! - x(item.datum!.perturbation as number)) < 1e-6);
          t.true(Math.abs(item.y! - y(item.datum!.accuracy as number)) < 1e-6);
        }
      }
      const bands = marksNamed(sceneRoot(view), 'band_marks');
      t.is(bands.length, group.runs.length, 'one band per model');
      for (const band of bands) {
        for (const item of band.items!) {
          t.true(Math.abs(item.y! - y(item.datum!.lo as number)) < 1e-6);
          t.true(Math.abs(item.y2! - y(item.datum!.hi as number)) < 1e-6);
        }
      }
    } finally {
      view.finalize();
    }
  }
});

test('curve SVG draws one line and one confidence band per model, in distinct colours', async (t) => {
  const [pgd] = buildCharts(fixture());
  const svg = await renderSvg(pgd.spec);
  t.true(svg.startsWith('<svg'));
  const groups = (cls: string): string[] => [...svg.matchAll(new RegExp(`<g class="${cls}"[^>]*>(.*?)</g>`, 'g'))].map((m) => m[1]);
  const lines = groups('mark-line role-mark curve_marks');
  const bands = groups('mark-area role-mark band_marks');
  t.is(lines.length, 2);
  t.is(bands.length, 2);
  const stroke = (s: string) => /stroke="(#[0-9a-f]+)"/.exec(s)?.[1];
  const fill = (s: string) => /fill="(#[0-9a-f]+)"/.exec(s)?.[1];
  t.not(stroke(lines[0]), stroke(lines[1]));
  t.deepEqual(bands.map(fill), lines.map(stroke), 'each band in its line colour');
  // Five grid points: a path with four segments; a band is a closed polygon.
  for (const l of lines) t.is((/ d="([^"]+)"/.exec(l)![1].match(/L/g) ?? []).length, 4);
  for (const b of bands) t.regex(/ d="([^"]+)"/.exec(b)![1], /Z$/);
  t.regex(svg, /mlp \[mnist\]/);
  t.regex(svg, /hah-cnn \[mnist\]/);
  t.is(await renderSvg(pgd.spec), svg, 'the same results give the same file');
});

test('a model keeps its colour across charts even where another model is missing', async (t) => {
  const runs = fixture();
  // Alone under gaussian, mlp would take the first colour; beside hah-cnn under pgd, the second.
  const charts = buildCharts([runs[0], runs[2], runs[1]]);
  const colourOf = async (spec: (typeof charts)[number]['spec'], series: string) => {
    const view = await chartView(spec);
    try {
      return (view.scale('color') as (s: string) => string)(series);
    } finally {
      view.finalize();
    }
  };
  t.is(await colourOf(charts[0].spec, 'mlp [mnist]'), await colourOf(charts[1].spec, 'mlp [mnist]'));
});

test('sparsity chart: a panel per layer, exact zeros apart, the overflow bin named, HaH blocks marked', async (t) => {
  const runs = fixture();
  const charts = buildCharts(runs);
  t.deepEqual(charts.map((c) => c.name), ['curve-pgd', 'curve-gaussian', 'sparsity']);
  // Mark conv1 of hah-cnn as a HaH block, as a thresholding block records it.
  const hah = runs.map((r) => (r.model.id === 'hah-cnn' ? { ...r, sparsity: r.sparsity!.map((l) => (l.name === 'conv1' ? { ...l, preThreshold: l } : l)) } : r));
  const view = await chartView(buildCharts(hah).at(-1)!.spec);
  try {
    const rows = view.data('histogram') as { series: string; layer: string; panel: string; bin: string; order: number; count: number; fraction: number }[];
    // Each model once, although it appears under two attacks.
    t.deepEqual([...new Set(rows.map((d) => d.series))], ['mlp [mnist]', 'hah-cnn [mnist]']);
    for (const r of [runs[0], runs[2]]) {
      for (const layer of r.sparsity!) {
        const mine = rows.filter((d) => d.series === `${r.model.id} [mnist]` && d.layer === layer.name);
        const { counts, edges } = layer.histogram;
        const total = counts.reduce((a, b) => a + b, 0);
        const zeros = Math.round(layer.zeroFraction * total);
        // The fixture's first bin holds only zeros, so after the zero bar it is empty and has no row (a log scale has no 0).
        const expected = [{ bin: '= 0', count: zeros }, { bin: '(0, 0.4)', count: counts[0] - zeros }, ...counts.slice(1).map((c, b) => ({ bin: b + 1 === counts.length - 1 ? '≥ 3.6' : `[${edges[b + 1]}, ${edges[b + 2]})`, count: c }))].filter((d) => d.count > 0);
        t.deepEqual(mine.map((d) => ({ bin: d.bin, count: d.count })), expected, `${r.model.id} ${layer.name}`);
        t.deepEqual(mine.map((d) => d.fraction), expected.map((d) => d.count / total));
        t.true(mine.every((d, i) => i === 0 || d.order > mine[i - 1].order), 'bins in axis order');
      }
    }
    t.deepEqual([...new Set(rows.map((d) => d.panel))], ['conv1 · HaH block in hah-cnn [mnist]', 'conv2']);
    t.is(marksNamed(sceneRoot(view), 'histogram_marks').length, 2, 'one panel per layer');
    // Bars start at the bottom of the log scale, so every bin is drawn, the smallest too.
    const bars = marksNamed(sceneRoot(view), 'histogram_marks').flatMap((m) => m.items!) as (SceneNode & { height: number })[];
    t.is(bars.length, rows.length);
    t.true(bars.every((b) => b.height > 0), 'no bar vanishes');
  } finally {
    view.finalize();
  }
  const noSparsity = runs.map(({ sparsity: _drop, ...r }) => r);
  t.deepEqual(buildCharts(noSparsity).map((c) => c.name), ['curve-pgd', 'curve-gaussian']);
});

test('budget axis: a tick at every grid point, labelled as the tables label budgets; the doubling grid log-spaced', async (t) => {
  const [pgd] = fixture();
  const doubling = [0, 1, 2, 4, 8, 16].map((v) => v / 255);
  const run = (grid: number[], budget: 'linf' | 'l2') => ({
    ...pgd,
    attack: { ...pgd.attack, budget, params: { ...pgd.attack.params, norm: budget } },
    points: grid.map((perturbation, k) => ({ perturbation, accuracy: 1 - k / grid.length, correct: 200 - k * 20, total: 200 })),
  });
  const cases: [number[], 'linf' | 'l2', string[], 'linear' | 'symlog'][] = [
    [doubling, 'linf', ['0', '1/255', '2/255', '4/255', '8/255', '16/255'], 'symlog'],
    [[0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3], 'linf', ['0', '0.025', '0.05', '0.075', '0.1', '0.15', '0.2', '0.25', '0.3'], 'linear'],
    [[0, 0.1, 0.25, 0.5, 0.75, 1, 1.5], 'l2', ['0', '0.1', '0.25', '0.5', '0.75', '1', '1.5'], 'symlog'],
  ];
  for (const [grid, budget, labels, scale] of cases) {
    t.is(budgetScale(grid).type, scale, `${grid}`);
    const [group] = attackGroups([run(grid, budget)]);
    const view = await chartView(curveSpec(group));
    try {
      const x = view.scale('x') as (v: number) => number;
      const width = x(grid.at(-1)!) - x(0);
      const gaps = grid.slice(1).map((v, i) => (x(v) - x(grid[i])) / width);
      // Linearly, 1/255 would sit 1/16 of the axis from 0; no grid point is squeezed that close.
      t.true(Math.min(...gaps) > 0.08, `${budget} ${grid}: gaps ${gaps.map((g) => g.toFixed(3))}`);
      const svg = await view.toSVG();
      const ticks = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).filter((s) => labels.includes(s));
      t.deepEqual(ticks, labels, 'every grid point labelled, in order');
    } finally {
      view.finalize();
    }
  }
});

test('sparsity histograms with mismatched edges and counts are rejected', (t) => {
  const [r] = fixture();
  const bad = { ...r, sparsity: [{ ...r.sparsity![0], histogram: { edges: [0, 1], counts: [1, 2] } }] };
  t.throws(() => sparsityData([bad]), { message: /2 counts need 3 edges, got 2/ });
});

test('the specs compile without Vega-Lite warnings', (t) => {
  for (const chart of buildCharts(fixture())) {
    const warnings: unknown[] = [];
    const logger = { level: () => logger, error: (...m: unknown[]) => warnings.push(m), warn: (...m: unknown[]) => warnings.push(m), info: () => logger, debug: () => logger };
    compile(chart.spec, { logger: logger as never });
    t.deepEqual(warnings, [], chart.name);
  }
});

test('svg and png reporters write one file per chart; the PNG is the SVG at twice its size', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'robench-charts-'));
  const runs = fixture();
  const svgs = await svgReporter.write(runs, ctx(dir));
  const pngs = await pngReporter.write(runs, ctx(dir));
  t.deepEqual(svgs.map((f) => f.slice(dir.length + 1)), ['curve-pgd.svg', 'curve-gaussian.svg', 'sparsity.svg']);
  t.deepEqual(pngs.map((f) => f.slice(dir.length + 1)), ['curve-pgd.png', 'curve-gaussian.png', 'sparsity.png']);
  t.deepEqual((await readdir(dir)).sort(), [...svgs, ...pngs].map((f) => f.slice(dir.length + 1)).sort());
  const svg = await readFile(join(dir, 'curve-pgd.svg'), 'utf8');
  const [, w, h] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
  const bytes = await readFile(join(dir, 'curve-pgd.png'));
  t.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const png = decode(bytes);
  t.is(png.width, 2 * w);
  t.is(png.height, 2 * h);
  t.true(png.width > 600 && png.height > 400);
  // The lines are drawn in the scheme's first two colours (#4c78a8 blue, #f58518 orange).
  const has = (rgb: number[]): boolean => {
    for (let i = 0; i < png.data.length; i += png.channels) {
      if (Math.abs(png.data[i] - rgb[0]) + Math.abs(png.data[i + 1] - rgb[1]) + Math.abs(png.data[i + 2] - rgb[2]) < 12) return true;
    }
    return false;
  };
  t.true(has([0x4c, 0x78, 0xa8]), 'blue line drawn');
  t.true(has([0xf5, 0x85, 0x18]), 'orange line drawn');
});
