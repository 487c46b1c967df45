/**
 * Charts of runs as Vega-Lite specifications, rendered headless to SVG by Vega
 * and rasterised to PNG by resvg: accuracy-versus-perturbation curves with a
 * Wilson 95% band per point, and per-layer activation histograms.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CurvePoint, RunResult } from './plugin-api.js';
import { perImage } from './samples.js';

/** Fonts present on Debian and macOS first, so the browser and resvg measure text alike. */
const FONT = 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif';

/** Wilson score interval for a binomial proportion (z = 1.96 gives 95%); [0, 1] when total is 0. */
export function wilsonInterval(correct: number, total: number, z = 1.959964): { lo: number; hi: number } {
  if (!(total > 0)) return { lo: 0, hi: 1 };
  const p = correct / total;
  const z2n = (z * z) / total;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / total + z2n / (4 * total));
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/** The Wilson interval of a point, the image as the unit (noise draws of one image are correlated). */
export function pointInterval(point: CurvePoint, images: number): { lo: number; hi: number } {
  const { correct, total } = perImage(point, images);
  return wilsonInterval(correct, total);
}

/** How a run is named in legends and tables. */
export const seriesName = (r: RunResult): string => `${r.model.id} [${r.model.dataset}]`;

/** Runs of one attack configuration: the lines of one curve chart. */
export interface AttackGroup {
  /** File-name-safe, unique among the groups: the attack id, with the norm or a number when ids repeat. */
  slug: string;
  title: string;
  /** Attack options, for a subtitle. */
  params: string;
  perturbation: string;
  runs: RunResult[];
}

const paramText = (r: RunResult): string =>
  Object.entries(r.attack.params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

const safe = (s: string): string => s.replace(/[^\w.-]+/g, '_');

/** Groups runs by attack id, norm and options, in first-seen order. */
export function attackGroups(results: RunResult[]): AttackGroup[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = JSON.stringify([r.attack.id, r.attack.budget, r.attack.params]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const list = [...groups.values()];
  const idCount = new Map<string, number>();
  for (const [r] of list) idCount.set(r.attack.id, (idCount.get(r.attack.id) ?? 0) + 1);
  const used = new Set<string>();
  return list.map((runs) => {
    const { attack } = runs[0];
    let slug = safe(idCount.get(attack.id)! > 1 && attack.budget ? `${attack.id}-${attack.budget}` : attack.id);
    for (let n = 2; used.has(slug); n++) slug = safe(`${attack.id}-${attack.budget ?? 'none'}-${n}`);
    used.add(slug);
    return {
      slug,
      title: attack.budget ? `${attack.id} (${attack.budget})` : attack.id,
      params: paramText(runs[0]),
      perturbation: attack.perturbation,
      runs,
    };
  });
}

/** Makes legend names unique when one model appears twice under the same attack (e.g. two seeds). */
function uniqueSeries(runs: RunResult[]): string[] {
  const seen = new Map<string, number>();
  return runs.map((r) => {
    const name = seriesName(r);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name} #${n}`;
  });
}

export interface CurveDatum {
  series: string;
  perturbation: number;
  accuracy: number;
  correct: number;
  total: number;
  lo: number;
  hi: number;
}

/** The rows a curve chart plots: every point of every run with its Wilson interval. */
export function curveData(group: AttackGroup): CurveDatum[] {
  const names = uniqueSeries(group.runs);
  return group.runs.flatMap((r, i) =>
    r.points.map((p) => ({ series: names[i], perturbation: p.perturbation, accuracy: p.accuracy, correct: p.correct, total: p.total, ...pointInterval(p, r.dataset.samples) })),
  );
}

// The legend takes its symbols from the pale band; full opacity keeps them legible.
const baseConfig = { font: FONT, background: 'white', view: { stroke: '#ddd' }, legend: { symbolOpacity: 1 } } as const;

/** A model keeps its colour across charts when every chart gets the same colour domain. */
const colorEncoding = (domain?: string[]) =>
  ({ field: 'series', type: 'nominal', title: 'model', scale: domain ? { domain } : {}, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } }) as const;

/** `domain`: every series name of the report, in colour order. */
export function curveSpec(group: AttackGroup, domain?: string[]): TopLevelSpec {
  const x = { field: 'perturbation', type: 'quantitative', title: group.perturbation, axis: { format: '~g' } } as const;
  const color = colorEncoding(domain);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `accuracy under ${group.title}`, subtitle: group.params || undefined, anchor: 'start' },
    width: 440,
    height: 280,
    config: baseConfig,
    datasets: { curve: curveData(group) as unknown as Record<string, number | string>[] },
    data: { name: 'curve' },
    layer: [
      {
        name: 'band',
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
      },
      {
        name: 'curve',
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 36 } },
        encoding: {
          x,
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (band: Wilson 95%)', scale: { domain: [0, 1] }, axis: { format: '%' } },
          color,
        },
      },
    ],
  };
}

export interface HistogramDatum {
  series: string;
  layer: string;
  binStart: number;
  binEnd: number;
  fraction: number;
}

/**
 * Histogram rows of every model that recorded sparsity. Runs of one model under
 * several attacks measured the same clean activations, so each model counts once.
 */
export function sparsityData(results: RunResult[]): HistogramDatum[] {
  const seen = new Set<string>();
  const rows: HistogramDatum[] = [];
  for (const r of results) {
    const key = JSON.stringify([r.model.id, r.model.dataset, r.model.weightsSha256]);
    if (!r.sparsity || seen.has(key)) continue;
    seen.add(key);
    for (const layer of r.sparsity) {
      const { edges, counts } = layer.histogram;
      if (edges.length !== counts.length + 1) {
        throw new Error(`sparsity of ${r.model.id}, layer ${layer.name}: ${counts.length} counts need ${counts.length + 1} edges, got ${edges.length}`);
      }
      const sum = counts.reduce((a, b) => a + b, 0);
      counts.forEach((c, b) => rows.push({ series: seriesName(r), layer: layer.name, binStart: edges[b], binEnd: edges[b + 1], fraction: sum > 0 ? c / sum : 0 }));
    }
  }
  return rows;
}

export function sparsitySpec(rows: HistogramDatum[], domain?: string[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'activation histograms per layer (clean test images)', subtitle: 'square-root scale, so the tails stay visible next to the zeros', anchor: 'start' },
    config: baseConfig,
    datasets: { histogram: rows as unknown as Record<string, number | string>[] },
    data: { name: 'histogram' },
    facet: { field: 'layer', type: 'nominal', title: null, sort: null, header: { labelFontSize: 12 } },
    columns: 3,
    spec: {
      name: 'histogram',
      width: 220,
      height: 140,
      mark: { type: 'bar', fillOpacity: 0.2, strokeWidth: 1.5, binSpacing: 0 },
      encoding: {
        x: { field: 'binStart', type: 'quantitative', title: 'activation', bin: { binned: true } },
        x2: { field: 'binEnd' },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of activations', stack: null, scale: { type: 'sqrt' }, axis: { format: '~%' } },
        color: colorEncoding(domain),
        stroke: colorEncoding(domain),
      },
    },
  };
}

export interface Chart {
  /** Base file name without extension: `curve-<attack>` or `sparsity`. */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** One curve chart per attack configuration, and the sparsity chart when runs carry sparsity. */
export function buildCharts(results: RunResult[]): Chart[] {
  const groups = attackGroups(results);
  const domain = [...new Set(groups.flatMap((g) => uniqueSeries(g.runs)))];
  const charts: Chart[] = groups.map((g) => ({ name: `curve-${g.slug}`, title: `accuracy under ${g.title}`, spec: curveSpec(g, domain) }));
  const rows = sparsityData(results);
  if (rows.length > 0) charts.push({ name: 'sparsity', title: 'activation sparsity', spec: sparsitySpec(rows, domain) });
  return charts;
}

/** A Vega view of a Vega-Lite spec with its dataflow run; call `finalize()` when done. */
export async function chartView(spec: TopLevelSpec): Promise<vega.View> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  await view.runAsync();
  return view;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = await chartView(spec);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG at twice its size, for sharp images on high-density screens. */
export function svgToPng(svg: string): Uint8Array {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return resvg.render().asPng();
}
