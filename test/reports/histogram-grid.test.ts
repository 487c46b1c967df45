/** Issue 35: five histograms in a two-column grid draw five x axes, none under the empty sixth cell, each with its layer's own bins. */
import test from 'ava';
import { renderSvg } from '../../src/report/charts.js';
import { sparsitySpec, type HistogramDatum } from '../../src/report/histogram-chart.js';

test('a grid of five histogram panels has an axis per panel and no bare one', async (t) => {
  const rows: HistogramDatum[] = [1, 2, 3, 4, 5].flatMap((k) =>
    ['= 0', `(0, ${k})`, `≥ ${k}`].map((bin, order) => ({ series: 'm [cifar10]', layer: `block${k}`, panel: `block${k}`, bin, order, count: 10 + order, fraction: (10 + order) / 33 })),
  );
  const svg = await renderSvg(sparsitySpec(rows));
  // The x axis title appears once per drawn x axis.
  t.is(svg.match(/>activation</g)?.length, 5);
  // Each panel lists only its own layer's bins.
  t.is(svg.match(/>≥ 5</g)?.length, 1);
  t.is(svg.match(/>\(0, 1\)</g)?.length, 1);
  // Bars fill their bins: a shared offset scale drew them a quarter of a pixel wide.
  const widths = [...svg.matchAll(/role="graphics-symbol"[^>]*d="M[\d.-]+,[\d.-]+h([\d.-]+)/g)].map((m) => Number(m[1]));
  t.is(widths.length, 15);
  t.true(widths.every((w) => w > 20), `bar widths ${widths}`);
});
