import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { maxPerturbation } from '../../src/core/norms.js';
import type { AttackPlugin } from '../../src/core/plugin-api.js';
import { contextFor, paramsOf, randomMlp, runAttack, selfLabelledBatch } from '../helpers/tiny-models.js';

import '../helpers/backend.js';

const fixture = new URL('../fixtures/example-attack.mjs', import.meta.url);

test('the README shows the example attack verbatim', (t) => {
  const readme = readFileSync(new URL('../../attacks/README.md', import.meta.url), 'utf8');
  t.true(readme.includes('```js\n' + readFileSync(fixture, 'utf8') + '```'));
});

test('the example attack is a working plugin: random corners of the l-inf ball, one per draw', async (t) => {
  const attack = (await import(fixture.href)).default as AttackPlugin;
  t.is(attack.kind, 'attack');
  t.is(attack.defaultGrid('mnist', {})[0], 0);
  const model = randomMlp(1, [4, 4, 1], 8, 3);
  const { x, y } = selfLabelledBatch(model, 6, 2, 0.2, 0.8);
  const { ctx, counters } = contextFor(model, x, y, 0.1, paramsOf(attack, { draws: 2 }));
  const before = tf.memory().numTensors;
  const out = await runAttack(attack, ctx);
  t.is(tf.memory().numTensors, before + 2);
  t.is(out.length, 2);
  for (const xadv of out) {
    maxPerturbation(x, xadv, 'linf').forEach((m) => t.true(Math.abs(m - 0.1) < 1e-6));
  }
  t.notDeepEqual(out[0].dataSync(), out[1].dataSync());
  t.deepEqual(counters, { forward: 0, gradient: 0 });
  tf.dispose([...out, x, y]);
  model.dispose();
});
