import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { parseBackendName, probeBackends, useBackend } from '../src/backends.js';
import { RobenchError, UsageError } from '../src/errors.js';

// Backends are process-global, so every test here runs serially.

test.serial('wasm loads with the conv2d gradient kernels installed', async (t) => {
  const info = await useBackend('wasm');
  t.is(info.name, 'wasm');
  t.is(info.requested, 'wasm');
  t.is(tf.getBackend(), 'wasm');
  t.regex(info.detail ?? '', /SIMD/);
  t.truthy(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'));
  // Training a conv layer needs the filter gradient, which stock tfjs-backend-wasm lacks.
  const before = tf.memory().numTensors;
  const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 1, 1]);
  const dw = tf.grad((v: tf.Tensor) => tf.conv2d(x, v as tf.Tensor4D, 1, 'valid').sum())(w);
  t.deepEqual(Array.from(dw.dataSync()), new Array(9).fill(4));
  tf.dispose([x, w, dw]);
  t.is(tf.memory().numTensors, before);
});

test.serial('cpu loads', async (t) => {
  const info = await useBackend('cpu');
  t.is(info.name, 'cpu');
  t.is(tf.getBackend(), 'cpu');
});

for (const name of ['tensorflow', 'webgpu'] as const) {
  test.serial(`an explicitly requested ${name} backend starts or says why and how to fix it`, async (t) => {
    try {
      const info = await useBackend(name);
      t.is(tf.getBackend(), info.name);
      t.is(info.requested, name);
    } catch (err) {
      t.true(err instanceof RobenchError, `got ${String(err)}`);
      const message = (err as Error).message;
      t.regex(message, new RegExp(`backend '${name}' is unavailable`));
      t.regex(message, name === 'tensorflow' ? /@tensorflow\/tfjs-node/ : /webgpu/);
      t.regex(message, /--backend wasm/);
      t.regex((err as RobenchError).hint ?? '', /--backend wasm/);
    }
  });
}

test.serial('auto picks the first backend that probes ok, and wasm is always available here', async (t) => {
  const probes = await probeBackends();
  t.deepEqual(probes.map((p) => p.name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
  for (const p of probes) {
    if (!p.ok) t.truthy(p.reason, `${p.name} fails without a reason`);
  }
  t.true(probes.find((p) => p.name === 'wasm')!.ok);
  t.true(probes.find((p) => p.name === 'cpu')!.ok);
  const info = await useBackend('auto');
  t.is(info.requested, 'auto');
  t.is(info.name, probes.find((p) => p.ok)!.name);
  t.is(tf.getBackend(), info.name);
  if (info.name === 'wasm') t.regex(info.detail ?? '', /skipped tensorflow \(.+\); webgpu \(.+\)/);
});

test.serial('probing restores the backend that was active', async (t) => {
  await useBackend('cpu');
  await probeBackends();
  t.is(tf.getBackend(), 'cpu');
});

test.serial('backend names are validated with the valid choices in the message', (t) => {
  t.is(parseBackendName(' WASM '), 'wasm');
  t.is(parseBackendName('auto'), 'auto');
  const err = t.throws(() => parseBackendName('gpu'), { instanceOf: UsageError });
  t.regex(err?.message ?? '', /unknown backend 'gpu'.*auto, tensorflow, webgpu, wasm, cpu/);
});
