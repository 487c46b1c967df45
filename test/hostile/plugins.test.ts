/**
 * Hostile input, plugins: attacks checked on what they do, not only on what they return.
 * Every attack call goes through one guarded path (runAttack in src/core/attack-checks.ts):
 * copies of the batch and labels it cannot use to reach the engine's, results checked for
 * type, tensors counted per call, a time limit per call, and process.exit refused.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateCurve } from '../../src/core/engine.js';
import { RobenchError } from '../../src/core/errors.js';
import { defineAttack, type AttackContext, type AttackPlugin } from '../../src/core/plugin-api.js';
import { resetPluginLedger } from '../../src/core/attack-checks.js';
import '../helpers/backend.js';
import { linearFixture as fixture, randomSignAttack } from '../helpers/tiny-models.js';

const base = { params: {}, seed: 3, batchSize: 16, grid: [0, 0.05, 0.1] };

const attack = (id: string, run: (ctx: AttackContext) => unknown): AttackPlugin => defineAttack({ ...randomSignAttack, id, run: run as never });

/** The run's curve under the identity attack: what an attack that changes nothing must give. */
async function identityCurve(): Promise<number[]> {
  const { model, data } = fixture();
  const r = await evaluateCurve({ ...base, model, data, attack: attack('identity', async ({ x }) => x.clone()) });
  return r.points.map((p) => p.correct);
}

test('an attack writing a full-range change into ctx.x through dataSync() is caught by the budget check', async (t) => {
  const { model, data } = fixture();
  // The backing array of ctx.x (cpu) set to a full-range perturbation, then ctx.x returned as "unperturbed".
  const writer = attack('writes-x', async ({ x }) => {
    const values = x.dataSync() as Float32Array;
    for (let i = 0; i < values.length; i++) values[i] = values[i]! > 0.5 ? 0 : 1;
    return x;
  });
  // On cpu dataSync() hands out the tensor's own storage; on wasm a copy, so the write changes nothing.
  const probe = tf.tensor1d([0]);
  (probe.dataSync() as Float32Array)[0] = 1;
  const aliases = probe.dataSync()[0] === 1;
  probe.dispose();
  if (aliases) await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: writer }), { instanceOf: RobenchError, message: /attack 'writes-x'.*exceeds the budget/ });
  else t.deepEqual((await evaluateCurve({ ...base, model, data, attack: writer })).points.map((p) => p.correct), await identityCurve());
});

test('an attack overwriting ctx.y through dataSync() changes no number', async (t) => {
  const { model, data } = fixture();
  const relabel = attack('writes-y', async ({ x, y }) => {
    const labels = y.dataSync() as Int32Array;
    for (let i = 0; i < labels.length; i++) labels[i] = (labels[i]! + 1) % 3;
    return x.clone();
  });
  const r = await evaluateCurve({ ...base, model, data, attack: relabel });
  t.deepEqual(r.points.map((p) => p.correct), await identityCurve());
});

test('an attack disposing ctx.x harms only its own copy; returning a disposed or non-tensor value names the attack', async (t) => {
  const { model, data } = fixture();
  const disposer = attack('disposes-x', async ({ x }) => {
    const out = tf.tidy(() => x.add(0) as tf.Tensor4D);
    x.dispose();
    return out;
  });
  const r = await evaluateCurve({ ...base, model, data, attack: disposer });
  t.deepEqual(r.points.map((p) => p.correct), await identityCurve());
  for (const [id, value, what] of [
    ['returns-undefined', undefined, /returned undefined/],
    ['returns-null', null, /returned null/],
    ['returns-42', 42, /returned number 42/],
    ['returns-strings', ['a'], /returned an array holding string a/],
  ] as const) {
    await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: attack(id, async () => value) }), { instanceOf: RobenchError, message: new RegExp(`attack '${id}' ${what.source}.*not a tf\\.Tensor4D`) });
  }
  const returnsDisposed = attack('returns-disposed', async ({ x }) => {
    x.dispose();
    return x;
  });
  await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: returnsDisposed }), { instanceOf: RobenchError, message: /attack 'returns-disposed' returned a disposed tensor/ });
});

test.serial('the guarded path leaves the numbers of a well-behaved attack unchanged and frees what it made', async (t) => {
  const { model, data } = fixture();
  const before = tf.memory().numTensors;
  const r = await evaluateCurve({ ...base, model, data, attack: randomSignAttack });
  t.is(tf.memory().numTensors, before, 'no tensor left behind by the copies');
  // The same curve as the attack run straight on the engine's batch: random-sign's known counts.
  const again = await evaluateCurve({ ...base, model, data, attack: randomSignAttack });
  t.deepEqual(r.points, again.points);
});

/** Runs `fn` with stderr captured. */
async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; err: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: await fn(), err };
  } catch (error) {
    return { error, err };
  } finally {
    process.stderr.write = write;
  }
}

test.serial('an attack leaking 50 tensors a call is named with the count, and stopped past the limit', async (t) => {
  const { model, data } = fixture();
  const leaky = (id: string) =>
    attack(id, async ({ x }) => {
      for (let i = 0; i < 50; i++) tf.zeros([2]);
      return x.clone();
    });
  resetPluginLedger();
  const warned = await stderrOf(() => evaluateCurve({ ...base, model, data, attack: leaky('leaky') }));
  t.is(warned.error, undefined);
  t.regex(warned.err, /warning: attack 'leaky' left 50 tensors behind in call 2/);
  t.is(warned.err.match(/attack 'leaky'/g)?.length, 1, 'warned once, not once a batch');
  process.env.ROBENCH_PLUGIN_TENSOR_LIMIT = '120';
  try {
    const stopped = await stderrOf(() => evaluateCurve({ ...base, model, data, attack: leaky('very-leaky') }));
    t.true(stopped.error instanceof RobenchError);
    t.regex((stopped.error as Error).message, /attack 'very-leaky' has left 150 tensors behind over 4 calls, past the limit of 120/);
  } finally {
    delete process.env.ROBENCH_PLUGIN_TENSOR_LIMIT;
  }
  tf.disposeVariables();
});

test.serial('a call that never settles is stopped after the time limit, naming the attack', async (t) => {
  const { model, data } = fixture();
  process.env.ROBENCH_PLUGIN_TIMEOUT_S = '0.3';
  // What keeps the process alive meanwhile (a server that never answers): without it the CLI
  // would end at once and name the call (test/hostile/unsettled.test.ts).
  const alive = setInterval(() => {}, 1000);
  try {
    const hangs = attack('hangs', () => new Promise(() => {}));
    const started = Date.now();
    await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: hangs }), { instanceOf: RobenchError, message: /attack 'hangs' did not finish run\(\) within 0\.3 s/ });
    t.true(Date.now() - started < 5000);
  } finally {
    clearInterval(alive);
    delete process.env.ROBENCH_PLUGIN_TIMEOUT_S;
  }
});

test.serial('process.exit inside an attack is refused, naming the attack, and robench goes on', async (t) => {
  const { model, data } = fixture();
  const exits = attack('exits', async () => process.exit(0));
  await t.throwsAsync(evaluateCurve({ ...base, model, data, attack: exits }), { instanceOf: RobenchError, message: /attack 'exits' called process\.exit\(0\) during run\(\)/ });
  t.is(typeof process.exit, 'function');
  t.notRegex(process.exit.toString(), /called process\.exit/, 'the real process.exit is back after the call');
});

test.serial('a plugin whose load never finishes is given up on, naming it', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Registry, loadPluginModule } = await import('../../src/core/registry.js');
  const { UsageError } = await import('../../src/core/errors.js');
  const file = join(mkdtempSync(join(tmpdir(), 'robench-hostile-plugin-')), 'hangs.mjs');
  writeFileSync(file, 'await new Promise(() => {});\nexport default {};\n');
  process.env.ROBENCH_PLUGIN_LOAD_TIMEOUT_S = '0.5';
  try {
    await t.throwsAsync(loadPluginModule(new Registry(), file), { instanceOf: UsageError, message: new RegExp(`plugin ${file.replace(/[.]/g, '\\.')} did not finish loading within 0\\.5 s`) });
  } finally {
    delete process.env.ROBENCH_PLUGIN_LOAD_TIMEOUT_S;
  }
});
