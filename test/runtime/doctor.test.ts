/** robench doctor (issue 35): Dawn's raw warnings stay out of its output, and cpu's speed is the ratio it measured. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { formatDoctorReport, type DoctorReport } from '../../src/cli/commands/doctor.js';
import { root } from '../helpers/cli.js';

test('the cpu line states the cpu/wasm ratio the benchmark measured, not a quoted figure', (t) => {
  const bench = (gflops: number) => ({ gflops, iterations: 10, seconds: 5 });
  const report: DoctorReport = {
    auto: 'wasm',
    probes: [
      { name: 'wasm', ok: true, auto: true, detail: 'SIMD', benchmark: bench(3.11) },
      { name: 'cpu', ok: true, auto: true, detail: 'plain JavaScript', benchmark: bench(0.0111) },
    ],
  };
  const text = formatDoctorReport(report).join('\n');
  t.regex(text, /cpu .*\n.*\n {2}benchmark: 0\.0111 GFLOP\/s \(10 passes in 5\.0 s\): 280x slower than wasm here/);
  t.notRegex(text, /30x/);
  t.notRegex(text, /\(10 passes in 5\.0 s\): [\d.]+x slower than wasm here\ncpu/, 'no ratio of wasm to itself');
});

test('probing every backend, as doctor does, prints none of Dawn\'s or the Vulkan loader\'s raw warnings', async (t) => {
  const script = "const { probeBackends } = await import('./src/runtime/backends.ts'); const p = await probeBackends(); console.log(JSON.stringify(p.map((x) => [x.name, x.ok])));";
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((done, fail) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 120_000 }, (err, stdout, stderr) => (err ? fail(err) : done({ stdout, stderr }))),
  );
  t.deepEqual(JSON.parse(stdout).map(([name]: [string]) => name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
  t.notRegex(stderr, /Couldn't load Vulkan|BackendVk\.cpp|third_party\/dawn/);
});
