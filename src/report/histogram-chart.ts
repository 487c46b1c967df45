/**
 * Activation histograms per layer, one panel per layer with the models' bars side by side.
 * Exact zeros get a bar of their own (results record how many: zeroFraction), so the first
 * bin shows the small positive activations rather than being swamped by the zeros; each layer's
 * bins span the range its activations take (src/analysis/histogram-bins.ts), and the last bin
 * holds every value above its lower edge and says so; the scale is logarithmic, so bins
 * a thousand times smaller than the zeros stay readable. A panel names the models for which
 * the layer is a HaH block (one that thresholds its output, so it records `preThreshold`).
 */
import type { TopLevelSpec } from 'vega-lite';
import { seriesName } from './attack-groups.js';
import { baseConfig, colorEncoding } from './chart-style.js';
import type { RunResult } from '../core/plugin-api.js';
import { COVERED } from '../analysis/histogram-bins.js';

export interface HistogramDatum {
  series: string;
  layer: string;
  /** The panel's title: the layer, and the models for which it is a HaH block. */
  panel: string;
  /** "= 0" (exact zeros), "(0, 0.25)", "[0.25, 0.5)", ..., "≥ 5" (the overflow bin). */
  bin: string;
  /** Position of the bin on the axis. */
  order: number;
  count: number;
  /** Of all the layer's activations. */
  fraction: number;
}

const edge = (v: number): string => String(Number(v.toPrecision(4)));

/** The bins of one layer's histogram with exact zeros split from the first bin. */
function bins(edges: number[], counts: number[], zeroFraction: number): { bin: string; count: number }[] {
  const total = counts.reduce((a, b) => a + b, 0);
  // Every exact zero lies in the first bin; rounding of the recorded fraction must not move it out.
  const zeros = Math.min(counts[0], Math.max(0, Math.round(zeroFraction * total)));
  const last = counts.length - 1;
  return [
    { bin: '= 0', count: zeros },
    ...counts.map((count, b) => ({
      bin: b === last ? `≥ ${edge(edges[b])}` : b === 0 ? `(0, ${edge(edges[1])})` : `[${edge(edges[b])}, ${edge(edges[b + 1])})`,
      count: b === 0 ? count - zeros : count,
    })),
  ];
}

/**
 * Histogram rows of every model that recorded sparsity. Runs of one model under several attacks
 * measured the same clean activations, so each model counts once; bins without activations
 * have no row (the log scale has no zero).
 */
export function sparsityData(results: RunResult[]): HistogramDatum[] {
  const models = new Map<string, RunResult>();
  for (const r of results) {
    const key = JSON.stringify([r.model.id, r.model.dataset, r.model.weightsSha256]);
    if (r.sparsity && !models.has(key)) models.set(key, r);
  }
  const runs = [...models.values()];
  // Two weights of one model id are told apart by their hash.
  const name = (r: RunResult): string =>
    runs.filter((s) => seriesName(s) === seriesName(r)).length > 1 ? `${seriesName(r)} (weights ${r.model.weightsSha256.slice(0, 8)})` : seriesName(r);
  const hah = new Map<string, string[]>();
  for (const r of runs) for (const l of r.sparsity!) if (l.preThreshold) hah.set(l.name, [...(hah.get(l.name) ?? []), name(r)]);
  const panel = (layer: string): string => {
    const hahIn = hah.get(layer);
    if (!hahIn) return layer;
    const holders = runs.filter((r) => r.sparsity!.some((l) => l.name === layer));
    return `${layer} · HaH block${hahIn.length === holders.length ? '' : ` in ${hahIn.join(', ')}`}`;
  };
  return runs.flatMap((r) =>
    r.sparsity!.flatMap((layer) => {
      const { edges, counts } = layer.histogram;
      if (edges.length !== counts.length + 1) {
        throw new Error(`sparsity of ${r.model.id}, layer ${layer.name}: ${counts.length} counts need ${counts.length + 1} edges, got ${edges.length}`);
      }
      const total = counts.reduce((a, b) => a + b, 0);
      return bins(edges, counts, layer.zeroFraction)
        .map((b, order) => ({ series: name(r), layer: layer.name, panel: panel(layer.name), bin: b.bin, order, count: b.count, fraction: total > 0 ? b.count / total : 0 }))
        .filter((d) => d.count > 0);
    }),
  );
}

export function sparsitySpec(rows: HistogramDatum[], domain?: string[]): TopLevelSpec {
  const floor = Math.floor(Math.log10(Math.min(...rows.map((d) => d.fraction))));
  const decades = Array.from({ length: 1 - floor }, (_, i) => 10 ** (floor + i));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'activation histograms per layer (clean test images)',
      subtitle: [`log scale; exact zeros have a bar of their own; each layer's bins span the range of ${100 * COVERED}% of its positive activations, and its last bin holds every larger value`],
      anchor: 'start',
    },
    config: baseConfig,
    datasets: { histogram: rows as unknown as Record<string, number | string>[] },
    data: { name: 'histogram' },
    facet: { field: 'panel', type: 'nominal', title: null, sort: null, header: { labelFontSize: 12, labelLimit: 400 } },
    columns: 2,
    // Each layer has bins of its own (its own edges), so each panel has its own x scale and axis:
    // a shared one mixed the layers' bins, and with an odd number of panels drew a bare axis
    // under the empty last cell of the grid. The models' offsets within a bin follow that bin's
    // width, so they are per panel too: shared, they drew every bar a quarter of a pixel wide.
    resolve: { scale: { x: 'independent', xOffset: 'independent' }, axis: { x: 'independent' } },
    spec: {
      name: 'histogram',
      width: 380,
      height: 170,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'bin', type: 'ordinal', title: 'activation', sort: { field: 'order' }, axis: { labelAngle: -60, labelFontSize: 9 } },
        xOffset: { field: 'series', type: 'nominal' },
        y: {
          field: 'fraction',
          type: 'quantitative',
          title: 'fraction of activations',
          scale: { type: 'log', domain: [decades[0], 1] },
          axis: { values: decades, format: '~%' },
        },
        // A bar on a log scale starts at the bottom of the domain, as there is no zero.
        y2: { datum: decades[0] },
        color: colorEncoding(domain),
      },
    },
  };
}
