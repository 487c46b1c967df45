/**
 * Charts of runs as Vega-Lite specifications (src/report/curve-chart.ts, src/report/histogram-chart.ts),
 * rendered headless to SVG by Vega and rasterised to PNG by resvg.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { attackGroups } from './attack-groups.js';
import { curveSpec } from './curve-chart.js';
import { sparsityData, sparsitySpec } from './histogram-chart.js';
import type { RunResult } from '../core/plugin-api.js';

export { pointInterval, wilsonInterval } from '../core/intervals.js';

export interface Chart {
  /** Base file name without extension: `curve-<attack>` or `sparsity`. */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** One curve chart per attack configuration, and the sparsity chart when runs carry sparsity. */
export function buildCharts(results: RunResult[]): Chart[] {
  const groups = attackGroups(results);
  const domain = [...new Set(groups.flatMap((g) => g.names))];
  const charts: Chart[] = groups.map((g) => ({ name: `curve-${g.slug}`, title: `accuracy under ${g.title}`, spec: curveSpec(g, domain) }));
  const rows = sparsityData(results);
  if (rows.length > 0) charts.push({ name: 'sparsity', title: 'activation sparsity', spec: sparsitySpec(rows, [...new Set([...domain, ...rows.map((d) => d.series)])]) });
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
