import test from 'ava';
import { join } from 'node:path';
import { readResults } from '../../src/cli/commands/check.js';
import { independentDifference, pairedDifference, wilsonInterval } from '../../src/core/intervals.js';
import { compareModels } from '../../src/analysis/model-comparison.js';
import type { RunResult } from '../../src/core/plugin-api.js';
import { pointsFromOutcomes } from '../../src/core/samples.js';

const GRID = [0, 2 / 255, 8 / 255];

/** A swept norm-ball run on samples `index` whose sample i first broke at point brokeAt[i] (-1: never). */
function run(model: string, index: number[], brokeAt: number[]): RunResult {
  const outcomes = { index, clean: brokeAt.map((b) => (b === 0 ? 0 : 1)), brokeAt };
  const points = pointsFromOutcomes(outcomes, GRID);
  return {
    robench: '0.1.0',
    model: { id: model, dataset: 'cifar10', weightsSha256: model },
    dataset: { id: 'cifar10', split: 'test', samples: index.length, source: { kind: 'bundled', path: '-', sha256: 'data' } },
    attack: { id: 'pgd', params: {}, budget: 'linf', perturbation: 'eps' },
    backend: 'wasm',
    seed: 0,
    sweep: true,
    cleanAccuracy: points[0].accuracy,
    points,
    outcomes,
    gradientEvaluations: 0,
    forwardEvaluations: 0,
    durationMs: 1,
    startedAt: '',
    command: [],
  };
}

const samples = Array.from({ length: 200 }, (_, i) => i);
// The second model holds every image the first holds, and a quarter more at 8/255: a difference a paired comparison sees clearly.
const first = run('baseline', samples, samples.map((i) => (i % 10 === 0 ? 0 : i % 4 === 1 ? 1 : i % 4 === 2 ? 2 : -1)));
const second = run('hebbian', samples, samples.map((i) => (i % 10 === 0 ? 0 : i % 4 === 1 ? 1 : -1)));

test('rows: clean, then each budget above 0; each accuracy with its Wilson interval over images', (t) => {
  const rows = compareModels([first, second]);
  t.deepEqual(rows.map((r) => r.perturbation), ['clean', 2 / 255, 8 / 255]);
  const [clean, , at8] = rows;
  t.like(clean.accuracies[0], { accuracy: 0.9, n: 200, ...wilsonInterval(180, 200) });
  t.like(at8.accuracies[1], { accuracy: second.points[2].accuracy, n: 200, ...wilsonInterval(second.points[2].correct, 200) });
  t.is(rows[0].differences.length, 1, 'one difference per model after the reference');
});

test('models on the same images are compared image by image, in any order of the records', (t) => {
  const order = [...samples].reverse();
  const shuffled = { ...second, outcomes: { index: order, clean: order.map((i) => second.outcomes!.clean[i]), brokeAt: order.map((i) => second.outcomes!.brokeAt![i]) } };
  const [, at2, at8] = compareModels([first, shuffled]);
  const robustAt = (r: RunResult, k: number) => samples.map((i) => (r.outcomes!.brokeAt![i] === -1 || r.outcomes!.brokeAt![i] > k ? 1 : 0));
  t.deepEqual(at8.differences[0], pairedDifference(robustAt(first, 2), robustAt(second, 2)));
  t.deepEqual(at2.differences[0], pairedDifference(robustAt(first, 1), robustAt(second, 1)));
  t.true(at8.differences[0]!.paired);
  t.true(at8.differences[0]!.estimate > 0);
  const apart = independentDifference(first.points[2].correct, 200, second.points[2].correct, 200);
  t.true(at8.differences[0]!.hi - at8.differences[0]!.lo < apart.hi - apart.lo, 'pairing narrows the interval');
  t.true(compareModels([first, second])[0].differences[0]!.paired, 'clean accuracy is paired too');
});

test('without outcomes, on other samples or other data, the difference is unpaired', (t) => {
  const { outcomes: _drop, ...old } = second;
  const otherSamples = run('hebbian', samples.map((i) => i + 1000), second.outcomes!.brokeAt!);
  const otherData = { ...second, dataset: { ...second.dataset, source: { ...second.dataset.source, sha256: 'other' } } };
  for (const other of [old, otherSamples, otherData]) {
    const [clean, , at8] = compareModels([first, other]);
    t.deepEqual(at8.differences[0], independentDifference(first.points[2].correct, 200, other.points[2].correct, 200));
    t.false(clean.differences[0]!.paired);
  }
  // Results written before outcomes were recorded: the committed fixture (mlp 100, hah-cnn 160 of 200 at sigma 0.4).
  const fixture = readResults(join(import.meta.dirname, '..', 'fixtures', 'results', 'two-models'));
  const sigma4 = compareModels(fixture.filter((r) => r.attack.id === 'gaussian')).find((r) => r.perturbation === 0.4)!;
  t.deepEqual(sigma4.differences[0], independentDifference(100, 200, 160, 200));
  // Noise draws count per image: 300 of 400 draws on 100 images weigh as 75 of 100 images.
  const draws = (r: RunResult, correct: number): RunResult => ({ ...r, outcomes: undefined, dataset: { ...r.dataset, samples: 100 }, points: [r.points[0], { ...r.points[1], correct, total: 400, accuracy: correct / 400 }, r.points[2]] });
  t.deepEqual(compareModels([draws(first, 300), draws(second, 200)])[1].differences[0], independentDifference(75, 100, 50, 100));
});

test('a budget one model lacks has no accuracy and no difference there', (t) => {
  const short = { ...second, points: second.points.slice(0, 2), outcomes: undefined };
  const rows = compareModels([first, short]);
  t.is(rows[2].accuracies[1], undefined);
  t.is(rows[2].differences[0], undefined);
  t.deepEqual(compareModels([]), []);
  t.deepEqual(compareModels([first]).map((r) => r.differences), [[], [], []]);
});
