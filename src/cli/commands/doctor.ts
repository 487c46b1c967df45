/**
 * `robench doctor`: which TensorFlow.js backends load here, why the others do not and how
 * to fix that, which one 'auto' picks, and how fast each that loads runs a conv layer.
 */
import * as tf from '@tensorflow/tfjs';
import { probeBackends, useBackend, type BackendProbe } from '../../runtime/backends.js';
import type { CommandModule } from '../command.js';

/**
 * Batch, size and channels of the benchmark's conv layer, like a block of the compact zoo
 * nets; small because the cpu backend's filter gradient runs at a few tens of MFLOP/s.
 */
const BENCH = { batch: 8, size: 28, cin: 8, cout: 16, kernel: 3 };

export interface MicroBenchmark {
  /** Forward pass plus the input and filter gradients, in GFLOP per second. */
  gflops: number;
  iterations: number;
  seconds: number;
}

/**
 * Times forward and backward passes of one 3x3 conv layer on the active backend for about
 * `seconds`, after one untimed pass that compiles shaders and warms caches. Each pass ends
 * in an asynchronous read, which waits for a GPU to finish and works on every backend.
 */
export async function microBenchmark(seconds: number): Promise<MicroBenchmark> {
  const { batch, size, cin, cout, kernel } = BENCH;
  const x = tf.randomUniform([batch, size, size, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([kernel, kernel, cin, cout], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))));
  const pass = async (): Promise<void> => {
    const [dx, dw] = grads([x, w]);
    const probe = tf.tidy(() => tf.add(tf.sum(dx), tf.sum(dw)));
    await probe.data();
    tf.dispose([dx, dw, probe]);
  };
  try {
    await pass();
    let iterations = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      await pass();
      iterations++;
      elapsed = (performance.now() - start) / 1000;
    } while (elapsed < seconds);
    const flopsPerConv = 2 * batch * size * size * kernel * kernel * cin * cout;
    return { gflops: (3 * flopsPerConv * iterations) / elapsed / 1e9, iterations, seconds: elapsed };
  } finally {
    tf.dispose([x, w]);
  }
}

export interface DoctorReport {
  probes: (BackendProbe & { benchmark?: MicroBenchmark; benchmarkError?: string })[];
  /** The backend `--backend auto` starts here. */
  auto: string;
}

/** Probes every backend and benchmarks each that loads; leaves 'auto's choice active. */
export async function diagnose(seconds = 5): Promise<DoctorReport> {
  const probes: DoctorReport['probes'] = await probeBackends();
  for (const probe of probes) {
    if (!probe.ok) continue;
    try {
      await useBackend(probe.name);
      probe.benchmark = await microBenchmark(seconds);
    } catch (err) {
      probe.benchmarkError = err instanceof Error ? err.message : String(err);
    }
  }
  const auto = await useBackend('auto');
  return { probes, auto: auto.name };
}

/** The report as text lines: a status line per backend with its details indented below. */
export function formatDoctorReport(report: DoctorReport): string[] {
  const { batch, size, cin, cout, kernel } = BENCH;
  const lines = [
    `robench doctor: TensorFlow.js ${tf.version.tfjs}, Node ${process.version}, ${process.platform} ${process.arch}`,
    `benchmark: ${kernel}x${kernel} conv, ${batch}x${size}x${size}x${cin} -> ${cout} channels, forward + input and filter gradients`,
    '',
  ];
  for (const p of report.probes) {
    const status = !p.ok ? 'does not load' : p.auto ? 'loads' : "loads, but 'auto' does not pick it";
    lines.push(`${p.name.padEnd(10)}  ${status}`);
    if (p.detail !== undefined) lines.push(`  ${p.detail}`);
    if (p.reason !== undefined) lines.push(`  ${p.ok ? '' : 'why: '}${p.reason}`);
    if (p.benchmark !== undefined) {
      const b = p.benchmark;
      // The ratio to wasm (always present) is the one comparison a user acts on; measured here, not quoted.
      const wasm = report.probes.find((q) => q.name === 'wasm')?.benchmark;
      const ratio = wasm && p.name !== 'wasm' && b.gflops > 0 ? wasm.gflops / b.gflops : undefined;
      const versus = ratio === undefined ? '' : ratio >= 1 ? `: ${ratio.toPrecision(ratio >= 10 ? 3 : 2)}x slower than wasm here` : `: ${(1 / ratio).toPrecision(2)}x faster than wasm here`;
      lines.push(`  benchmark: ${b.gflops.toPrecision(3)} GFLOP/s (${b.iterations} pass${b.iterations === 1 ? '' : 'es'} in ${b.seconds.toFixed(1)} s)${versus}`);
    }
    if (p.benchmarkError !== undefined) lines.push(`  benchmark failed: ${p.benchmarkError}`);
  }
  lines.push('', `--backend auto uses ${report.auto} here`);
  return lines;
}

export async function doctorCommand(opts: { seconds?: number } = {}): Promise<void> {
  const report = await diagnose(opts.seconds);
  for (const line of formatDoctorReport(report)) console.log(line);
}

export const doctorModule: CommandModule = {
  name: ['doctor'],
  description: 'which tfjs backends load here, why the others do not, and a 5-second benchmark of each',
  settings: [],
  run: () => doctorCommand(),
};
