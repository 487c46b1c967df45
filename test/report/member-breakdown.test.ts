/**
 * AutoAttack's per-member robust accuracy (src/report/member-breakdown.ts): worked by hand on a
 * small record, and on a real custom cascade, where after the last member it is each point's
 * accuracy and never rises from member to member; the table reporter prints it.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { createRegistry } from '../../src/core/registry.js';
import type { LoadedModel, RunResult } from '../../src/core/plugin-api.js';
import { memberBreakdown, memberBreakdownLines } from '../../src/report/member-breakdown.js';
import table from '../../reports/table.js';
import { renderHtmlReport } from '../../src/report/html-report.js';
import { randomMlp, paramsOf } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

const runOf = (points: number[], outcomes: RunResult['outcomes']): RunResult =>
  ({
    model: { id: 'm' },
    attack: { id: 'autoattack', params: {}, budget: 'linf', perturbation: 'eps' },
    points: points.map((perturbation) => ({ perturbation, accuracy: 0, correct: 0, total: 5 })),
    outcomes,
  }) as unknown as RunResult;

test('by hand: five samples, two members, two budgets', (t) => {
  // sample 0 wrong clean; 1 broken at 0.1 by b; 2 broken at 0.1 by a; 3 broken at 0.2 by b; 4 robust
  const run = runOf([0, 0.1, 0.2], { index: [0, 1, 2, 3, 4], clean: [0, 1, 1, 1, 1], brokeAt: [-1, 1, 1, 2, -1], members: ['a', 'b'], brokenBy: [-1, 1, 0, 1, -1] });
  t.deepEqual(memberBreakdown(run), [
    { perturbation: 0.1, clean: 0.8, steps: [{ member: 'a', accuracy: 0.6 }, { member: 'b', accuracy: 0.4 }] },
    { perturbation: 0.2, clean: 0.8, steps: [{ member: 'a', accuracy: 0.6 }, { member: 'b', accuracy: 0.2 }] },
  ]);
  t.deepEqual(memberBreakdownLines(run), ['m under autoattack at eps 0.1: clean 80.0% → a 60.0% → b 40.0%', 'm under autoattack at eps 0.2: clean 80.0% → a 60.0% → b 20.0%']);
  t.deepEqual(memberBreakdown(runOf([0, 0.1], { index: [0], clean: [1], brokeAt: [-1] })), [], 'no members, no breakdown');
});

test('a real cascade: the last member gives each point\'s accuracy, and the table reporter prints the lines', async (t) => {
  const registry = await createRegistry();
  const autoattack = registry.get('attack', 'autoattack');
  const shape: [number, number, number] = [6, 6, 1];
  const mlp = randomMlp(5, shape, 24, 10);
  const model: LoadedModel = { id: 'mlp', dataset: 'toy', inputShape: shape, numClasses: 10, weightsSha256: '0', logits: (x) => mlp.logits(x), dispose: () => mlp.dispose() };
  const images = new Float32Array(24 * 36).map((_, i) => 0.5 + 0.45 * Math.sin(i * 12.9898 + 0.3));
  const labels = Int32Array.from(tf.tidy(() => tf.argMax(model.logits(tf.tensor4d(images, [24, ...shape])), 1).dataSync()), (l, i) => (i % 8 === 3 ? (l + 1) % 10 : l));
  const params = { ...paramsOf(autoattack), 'aa-version': 'custom', attacks: 'apgd-ce:steps=3,square:queries=60' };
  const curve = await evaluateCurve({ model, data: { images, labels, count: 24, shape, source: { kind: 'file', path: '-', sha256: '-' } }, attack: autoattack, params, grid: [0, 0.02, 0.06], seed: 4, batchSize: 8 });
  const run = {
    ...runOf([], curve.outcomes),
    model: { id: 'mlp', weightsSha256: '0'.repeat(64) },
    dataset: { id: 'toy', split: 'test', samples: 24, source: { kind: 'file', path: '-', sha256: '0'.repeat(64) } },
    seed: 4,
    sweep: true,
    backend: 'cpu',
    robench: '0',
    cleanAccuracy: curve.cleanAccuracy,
    points: curve.points,
  } as unknown as RunResult;
  const breakdown = memberBreakdown(run);
  t.is(breakdown.length, 2);
  for (const [k, b] of breakdown.entries()) {
    t.is(b.steps.at(-1)!.accuracy, curve.points[k + 1]!.accuracy);
    t.true(b.steps[0]!.accuracy <= b.clean && b.steps[1]!.accuracy <= b.steps[0]!.accuracy);
  }
  const logged: string[] = [];
  await table.write([run], { outDir: '.', log: (line: string) => void logged.push(line) } as never);
  t.true(logged.some((l) => /^mlp under autoattack at eps .*: clean [\d.]+% → apgd-ce:steps=3 [\d.]+% → square:queries=60 [\d.]+%$/.test(l)), logged.join('\n'));
  const html = await renderHtmlReport([{ ...run, params: {}, command: ['robench'], startedAt: '2026-01-01T00:00:00Z', durationMs: 1, gradientEvaluations: 0, forwardEvaluations: 0 } as unknown as RunResult]);
  const section = /<section id="members">[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
  t.regex(section, /<th>after apgd-ce:steps=3<\/th><th>after square:queries=60<\/th>/);
  t.true(section.includes(`${(100 * curve.points[2]!.accuracy).toFixed(1)}%</td></tr>`), 'the last member\'s column is the accuracy');
  mlp.dispose();
});
