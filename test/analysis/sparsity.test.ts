import test from 'ava';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readResults } from '../../src/cli/commands/check.js';
import { renderHtmlReport } from '../../src/report/html-report.js';
import { mergeShards } from '../../src/evaluation/shards.js';
import { SparsityAccumulator, sparsityStats } from '../../src/analysis/sparsity.js';
import { mergeHistograms } from '../../src/analysis/histogram-bins.js';
import { disparity } from '../../src/report/sparsity-format.js';
import { sparsityTable } from '../../src/cli/commands/sparsity.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;

// Serial: the leak checks count every live tensor, and async tests would interleave.
test.serial('statistics match a hand computation', async (t) => {
  // Positions: [0,0,3,4] (l1 7, l2 5), [1,1,1,1] (l1 4, l2 2), [0,0,0,0] (all zero: Hoyer 1).
  const values = tf.tensor4d([0, 0, 3, 4, 1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 3, 4]);
  const before = tf.memory().numTensors;
  const [s] = await sparsityStats([{ name: 'block1', values }], { ratio: 0.25, bins: 8 });
  t.is(tf.memory().numTensors, before);
  t.is(s.name, 'block1');
  t.true(close(s.zeroFraction, 6 / 12));
  t.true(close(s.hoyer, ((2 - 7 / 5) / 1 + 0 + 1) / 3), `hoyer ${s.hoyer}`);
  // K = 1: top means 4, 1, 0; rest means 1, 1, 0.
  t.true(close(s.topKMean, 5 / 3));
  t.true(close(s.restMean, 2 / 3));
  // Bins of 1 (about 8 over the range to the 4), the last holding what lies beyond.
  t.deepEqual(s.histogram, { edges: [0, 1, 2, 3, 4, 5, 6], counts: [6, 4, 0, 1, 1, 0] });
  values.dispose();
});

test.serial('accumulating batches and merging accumulators equals one pass over everything', async (t) => {
  const all = tf.tidy(() => tf.relu(tf.sub(tf.randomUniform([6, 3, 3, 10], 0, 2, 'float32', 7), 0.8))) as tf.Tensor4D;
  const parts = [tf.slice(all, [0, 0, 0, 0], [2, 3, 3, 10]), tf.slice(all, [2, 0, 0, 0], [4, 3, 3, 10])] as tf.Tensor4D[];
  const whole = await sparsityStats([{ name: 'a', values: all }]);
  const a = new SparsityAccumulator();
  await a.add([{ name: 'a', values: parts[0] }]);
  const b = new SparsityAccumulator();
  await b.add([{ name: 'a', values: parts[1] }]);
  a.merge(b);
  const [merged] = a.result();
  for (const k of ['zeroFraction', 'hoyer', 'topKMean', 'restMean'] as const) t.true(Math.abs(merged[k] - whole[0][k]) < 1e-5, k);
  t.deepEqual(merged.histogram, whole[0].histogram);
  t.true(merged.zeroFraction > 0.2 && merged.zeroFraction < 0.6);
  t.throws(() => a.merge(new SparsityAccumulator({ bins: 3 })), { message: /different/ });
  tf.dispose([all, ...parts]);
});

/** Values in [edges[b], edges[b + 1]), the last bin open above, counted directly. */
const directCounts = (values: number[], edges: number[]): number[] =>
  edges.slice(1).map((_, b) => values.filter((v) => v >= edges[b] && (b === edges.length - 2 || v < edges[b + 1])).length);

test.serial("the histogram's range comes from the data: no long tail in the last bin, no axis left empty (issue 35)", async (t) => {
  // A long tail up to 30 (a fixed range to 4 put 87% of it in the last bin), and small activations
  // under 0.1 (which a fixed range squeezed into its first bin).
  const tail = Array.from({ length: 2000 }, (_, i) => (i % 4 === 0 ? 0 : (30 * i) / 2000));
  const small = Array.from({ length: 2000 }, (_, i) => (0.1 * i) / 2000);
  for (const [name, values] of [['tail', tail], ['small', small]] as const) {
    const x = tf.tensor4d(values, [1, 1, values.length / 2, 2]);
    const [s] = await sparsityStats([{ name, values: x }], { bins: 20 });
    x.dispose();
    const { edges, counts } = s.histogram;
    t.deepEqual(counts, directCounts(values, edges), `${name}: every value in the bin its edges say`);
    const positive = values.filter((v) => v > 0).sort((a, b) => a - b);
    const last = edges[edges.length - 2];
    t.true(counts[counts.length - 1] <= 0.005 * positive.length, `${name}: the last bin (from ${last}) holds ${counts[counts.length - 1]} of ${positive.length}`);
    // The regular bins end within a bin of the 99.5th percentile: the axis is not wasted.
    const width = edges[1];
    t.true(last - width <= positive[Math.ceil(0.995 * positive.length) - 1], `${name}: range to ${last}, bins of ${width}`);
    t.true(counts.length - 1 >= 10 && counts.length - 1 <= 20, `${name}: ${counts.length - 1} regular bins`);
  }
});

test.serial('histograms of different ranges (shards of a run) merge exactly', async (t) => {
  const low = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? 0 : (2 * i) / 600));
  const high = Array.from({ length: 600 }, (_, i) => (9 * i) / 600);
  const histogramOf = async (values: number[]) => {
    const x = tf.tensor4d(values, [1, 1, values.length / 2, 2]);
    const [s] = await sparsityStats([{ name: 'a', values: x }]);
    x.dispose();
    return s.histogram;
  };
  const parts = [await histogramOf(low), await histogramOf(high)];
  t.notDeepEqual(parts[0].edges, parts[1].edges);
  const merged = mergeHistograms(parts);
  t.deepEqual(merged.counts, directCounts([...low, ...high], merged.edges));
  t.deepEqual(mergeHistograms([parts[0], parts[0]]).counts, parts[0].counts.map((n) => 2 * n), 'equal edges add up');
  t.throws(() => mergeHistograms([parts[0], { edges: [0, 0.3, 0.6], counts: [1, 1] }]), { message: /do not nest/ });
});

test.serial('pre-threshold activations get the same measures, by hand, beside the thresholded output', async (t) => {
  // Positions of the ReLU output: [1,2,3,4] (l1 10, l2 sqrt 30) and [0,0,0,5] (Hoyer 1); the
  // threshold then zeroed the 1 and the 2 of the first.
  const pre = tf.tensor4d([1, 2, 3, 4, 0, 0, 0, 5], [1, 1, 2, 4]);
  const values = tf.tensor4d([0, 0, 3, 4, 0, 0, 0, 5], [1, 1, 2, 4]);
  const before = tf.memory().numTensors;
  const [s] = await sparsityStats([{ name: 'block1', values, preThreshold: pre }], { ratio: 0.25, bins: 4 });
  t.is(tf.memory().numTensors, before);
  t.true(close(s.zeroFraction, 5 / 8));
  t.true(close(s.hoyer, (2 - 7 / 5 + 1) / 2));
  // K = 1: output top 4, 5 and rest 1, 0; before the threshold top 4, 5 and rest 2, 0.
  t.true(close(s.topKMean, 4.5) && close(s.restMean, 0.5));
  const p = s.preThreshold!;
  t.true(close(p.zeroFraction, 3 / 8));
  t.true(close(p.hoyer, (2 - 10 / Math.sqrt(30) + 1) / 2), `hoyer ${p.hoyer}`);
  t.true(close(p.topKMean, 4.5) && close(p.restMean, 1));
  t.deepEqual(s.histogram, { edges: [0, 2, 4, 6, 8], counts: [5, 1, 2, 0] }, 'the histogram stays that of the output');
  t.is(disparity(p.topKMean, p.restMean), '4.5');
  t.is(disparity(s.topKMean, s.restMean), '9.0');
  t.is(disparity(2, 0), 'inf');
  t.is(disparity(0, 0), '-');
  // tanh activations: a negative rest mean makes the ratio meaningless, not infinite.
  t.is(disparity(0.53, -0.15), '-');

  const [plain] = await sparsityStats([{ name: 'block2', values }]);
  t.is(plain.preThreshold, undefined, 'a block without a threshold has no pre-threshold measures');
  tf.dispose([pre, values]);
});

test.serial('pre-threshold sums accumulate and merge like the output, and must be given consistently', async (t) => {
  const pre = tf.tidy(() => tf.relu(tf.sub(tf.randomUniform([6, 3, 3, 10], 0, 2, 'float32', 3), 0.5))) as tf.Tensor4D;
  const out = tf.tidy(() => tf.mul(pre, tf.cast(tf.greater(pre, 1), 'float32'))) as tf.Tensor4D;
  const part = (x: tf.Tensor4D, start: number, n: number) => tf.slice(x, [start, 0, 0, 0], [n, 3, 3, 10]) as tf.Tensor4D;
  const parts = [part(out, 0, 2), part(pre, 0, 2), part(out, 2, 4), part(pre, 2, 4)];
  const [whole] = await sparsityStats([{ name: 'a', values: out, preThreshold: pre }]);
  const a = new SparsityAccumulator();
  await a.add([{ name: 'a', values: parts[0], preThreshold: parts[1] }]);
  const b = new SparsityAccumulator();
  await b.add([{ name: 'a', values: parts[2], preThreshold: parts[3] }]);
  a.merge(b);
  const [merged] = a.result();
  for (const k of ['zeroFraction', 'hoyer', 'topKMean', 'restMean'] as const) {
    t.true(Math.abs(merged.preThreshold![k] - whole.preThreshold![k]) < 1e-5, k);
  }
  t.true(whole.preThreshold!.zeroFraction < whole.zeroFraction, 'the threshold adds zeros');
  t.true(whole.preThreshold!.hoyer < whole.hoyer, 'and sparsity');

  await t.throwsAsync(a.add([{ name: 'a', values: parts[0] }]), { message: /layer a came with pre-threshold activations before and without them now/ });
  const c = new SparsityAccumulator();
  await c.add([{ name: 'a', values: parts[0] }]);
  t.throws(() => c.merge(b), { message: /came without pre-threshold activations before and with them now/ });
  await t.throwsAsync(new SparsityAccumulator().add([{ name: 'a', values: parts[0], preThreshold: parts[3] }]), {
    message: /layer a's pre-threshold activations are \[4,3,3,10\], its output \[2,3,3,10\]/,
  });
  tf.dispose([pre, out, ...parts]);
});

test('the sparsity table puts each block output beside its pre-threshold figures', (t) => {
  const measures = { zeroFraction: 0.8, hoyer: 0.75, topKMean: 2, restMean: 0.1 };
  const histogram = { edges: [0, 1], counts: [1] };
  const table = sparsityTable(
    [
    {
      model: 'hebbian-deep',
      dataset: 'cifar10',
      samples: 10,
      layers: [
        { name: 'block1', ...measures, histogram, preThreshold: { zeroFraction: 0.4, hoyer: 0.5, topKMean: 3, restMean: 0.5 } },
        { name: 'block7', ...measures, restMean: 0, histogram },
      ],
    },
  ],
    500,
  );
  const rows = table
    .split('\n')
    .filter((l) => l.includes('hebbian-deep'))
    .map((l) => l.split('│').map((c) => c.trim()).filter((c) => c !== ''));
  t.deepEqual(rows, [
    ['hebbian-deep [cifar10]', 'block1', '80.0%', '0.750', '2.000', '0.1000', '20.0', '40.0%', '0.500', '6.0'],
    ['hebbian-deep [cifar10]', 'block7', '80.0%', '0.750', '2.000', '0.0000', 'inf', '80.0%', '0.750', 'inf'],
  ]);
});

test('shards merge the output and pre-threshold measures sample-weighted, and report.html shows them beside the output', async (t) => {
  const [run] = readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models')).filter((r) => r.model.id === 'hah-cnn' && r.attack.id === 'gaussian');
  const withPre = (hoyer: number, restMean: number) => run.sparsity!.map((l) => ({ ...l, preThreshold: { zeroFraction: 0.5, hoyer, topKMean: 2, restMean } }));
  const shards = [
    { ...run, dataset: { ...run.dataset, samples: 50 }, shard: { index: 0, count: 2, start: 0, end: 50 }, sparsity: withPre(0.2, 0.2) },
    { ...run, dataset: { ...run.dataset, samples: 150 }, shard: { index: 1, count: 2, start: 50, end: 200 }, sparsity: withPre(0.6, 1).map((l) => ({ ...l, zeroFraction: l.zeroFraction + 0.4 })) },
  ];
  const [merged] = mergeShards(shards);
  t.true(Math.abs(merged.sparsity![1].zeroFraction - (run.sparsity![1].zeroFraction + (0.4 * 150) / 200)) < 1e-12);
  const pre = merged.sparsity![1].preThreshold!;
  t.true(Math.abs(pre.hoyer - (0.2 * 50 + 0.6 * 150) / 200) < 1e-12);
  t.true(Math.abs(pre.restMean - (0.2 * 50 + 1 * 150) / 200) < 1e-12);
  t.is(pre.zeroFraction, 0.5);

  const html = await renderHtmlReport([merged]);
  const out = merged.sparsity![1];
  const cells = [out.name, `${(100 * out.zeroFraction).toFixed(1)}%`, String(out.hoyer), String(out.topKMean), String(out.restMean), (out.topKMean / out.restMean).toFixed(1), '50.0%', '0.5', (2 / 0.8).toFixed(1)];
  t.true(html.includes(`<td>${cells.join('</td><td>')}</td>`), cells.join(' '));
  t.regex(html, /<th>Hoyer pre-threshold<\/th>/);
});
