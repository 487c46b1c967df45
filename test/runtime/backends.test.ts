import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { parseBackendName, probeBackends, useBackend } from '../../src/runtime/backends.js';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { describeAdapter } from '../../src/runtime/webgpu.js';
import { diagnose, formatDoctorReport } from '../../src/cli/commands/doctor.js';

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

test.serial('auto picks the first backend it may take, and wasm is always available here', async (t) => {
  const probes = await probeBackends();
  t.deepEqual(probes.map((p) => p.name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
  for (const p of probes) {
    if (!p.ok) t.truthy(p.reason, `${p.name} fails without a reason`);
    if (!p.ok) t.false(p.auto);
    // Only a software WebGPU adapter starts on request yet is passed over by auto.
    if (p.ok && !p.auto) t.regex(`${p.name} ${p.reason}`, /^webgpu 'auto' passes it over: a software adapter/);
  }
  t.true(probes.find((p) => p.name === 'wasm')!.auto);
  t.true(probes.find((p) => p.name === 'cpu')!.auto);
  const info = await useBackend('auto');
  t.is(info.requested, 'auto');
  t.is(info.name, probes.find((p) => p.auto)!.name);
  t.is(tf.getBackend(), info.name);
  if (info.name === 'wasm') t.regex(info.detail ?? '', /skipped tensorflow \(.+\); webgpu \(.+\)/);
});

test('adapters are described by vendor and architecture, software ones by their driver', (t) => {
  const lavapipe = describeAdapter({
    vendor: 'mesa',
    architecture: 'software',
    device: 'llvmpipe-llvm-15-0-6-256-bits-',
    description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
    isFallbackAdapter: true,
  });
  t.true(lavapipe.software);
  t.is(lavapipe.summary, 'mesa, software (lavapipe): llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1');
  const nvidia = describeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false });
  t.false(nvidia.software);
  t.is(nvidia.summary, 'nvidia hopper, hardware: NVIDIA H100 80GB HBM3');
  // Older Dawn builds leave isFallbackAdapter out; the driver name still gives SwiftShader away.
  const swiftshader = describeAdapter({ vendor: 'google', architecture: '', device: 'SwiftShader Device (Subzero)', description: '' });
  t.true(swiftshader.software);
  t.is(swiftshader.summary, 'google, software (SwiftShader)');
  t.is(describeAdapter({ vendor: '', architecture: '', device: '', description: '' }).summary, 'unknown vendor, hardware');
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

test.serial('doctor benchmarks every backend that loads, explains the others and names auto\'s choice', async (t) => {
  const before = tf.memory().numTensors;
  const report = await diagnose(0.05);
  t.is(tf.memory().numTensors, before);
  t.deepEqual(report.probes.map((p) => p.name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
  for (const p of report.probes) {
    if (p.ok) {
      t.is(p.benchmarkError, undefined);
      t.true(p.benchmark!.iterations >= 1 && p.benchmark!.seconds >= 0.05 && p.benchmark!.gflops > 0, `${p.name}: ${JSON.stringify(p.benchmark)}`);
    } else {
      t.is(p.benchmark, undefined);
      t.truthy(p.reason);
    }
  }
  t.is(report.auto, report.probes.find((p) => p.auto)!.name);
  t.is(tf.getBackend(), report.auto);
  const text = formatDoctorReport(report).join('\n');
  for (const p of report.probes) t.regex(text, new RegExp(`^${p.name} +${p.ok ? 'loads' : 'does not load'}`, 'm'));
  t.is(text.match(/GFLOP\/s/g)?.length, report.probes.filter((p) => p.ok).length);
  t.regex(text, new RegExp(`--backend auto uses ${report.auto} here`));
});
