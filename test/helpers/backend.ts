/**
 * The backend an attack or engine suite runs on. `npm test` runs those suites once on cpu and
 * again on wasm (ROBENCH_TEST_BACKEND=wasm): kernels differ between backends in ways that
 * weaken attacks (tfjs-backend-wasm's Sign is 0 below float32 epsilon), and a suite that only
 * ever ran on cpu never saw that. WebGPU reads asynchronously only; test/runtime/webgpu.test.ts covers it.
 */
import { useBackend, parseBackendName } from '../../src/runtime/backends.js';

export const testBackend = parseBackendName(process.env.ROBENCH_TEST_BACKEND ?? 'cpu');
await useBackend(testBackend);
