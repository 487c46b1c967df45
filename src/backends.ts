/**
 * Chooses and starts the TensorFlow.js backend robench computes on.
 *
 * 'auto' takes the fastest one that actually starts: native TensorFlow (tfjs-node-gpu or
 * tfjs-node), WebGPU on a hardware adapter, then wasm (with robench's fast conv2d gradient
 * kernels), then the plain JavaScript cpu backend. The native and WebGPU packages are
 * optional and not dependencies of robench, so they are loaded by dynamic import and any
 * failure to load simply moves on to the next candidate.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { RobenchError, UsageError } from './errors.js';
import { registerWasmGradientKernels } from './wasm-kernels.js';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The tfjs backend now active, as tf.getBackend() reports it. */
  name: string;
  requested: BackendName;
  /** Human-readable specifics: which package, SIMD/threads, what 'auto' skipped and why. */
  detail?: string;
}

export interface BackendProbe {
  name: Exclude<BackendName, 'auto'>;
  ok: boolean;
  /** Why it cannot be used, and how to fix that; absent when ok. */
  reason?: string;
  detail?: string;
}

type ConcreteBackend = Exclude<BackendName, 'auto'>;

/** Preference order for 'auto': fastest first. */
const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/** A backend that could not be started: `reason` says why, `fix` what the user can do. */
class BackendUnavailable extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}

/** Checks a user-supplied string (e.g. a --backend flag) and narrows it to BackendName. */
export function parseBackendName(value: string): BackendName {
  const name = value.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new UsageError(
    `unknown backend '${value}'; choose one of ${BACKEND_NAMES.join(', ')}`,
    'pass --backend auto to let robench pick the fastest available one',
  );
}

function describeImportError(spec: string, err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    const message = err instanceof Error ? err.message : '';
    // A missing transitive dependency is a broken install, not an absent package.
    if (message.includes(`'${spec}'`)) return `${spec} is not installed`;
  }
  const firstLine = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return `${spec} failed to load: ${firstLine}`;
}

/** Imports an optional package by a runtime name, so TypeScript and bundlers don't require it. */
async function importOptional(spec: string): Promise<unknown> {
  return import(spec);
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function startTensorflow(): Promise<string> {
  const failures: string[] = [];
  for (const spec of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(spec);
    } catch (err) {
      failures.push(describeImportError(spec, err));
      continue;
    }
    if (tf.findBackendFactory('tensorflow') === null) {
      failures.push(`${spec} loaded but registered its backend with a different copy of @tensorflow/tfjs than robench uses`);
      continue;
    }
    if (await activate('tensorflow')) return spec;
    failures.push(`${spec} loaded but the native TensorFlow backend failed to initialise`);
  }
  throw new BackendUnavailable(
    failures.join('; '),
    'install it with `npm install @tensorflow/tfjs-node` (matching your @tensorflow/tfjs version), or use --backend wasm',
  );
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { isFallbackAdapter?: boolean; vendor?: string; architecture?: string; description?: string };
}
interface WebGpuPackage {
  create(options: string[]): { requestAdapter(options?: object): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

async function startWebgpu(): Promise<string> {
  const fix = 'install the `webgpu` and `@tensorflow/tfjs-backend-webgpu` packages on a machine with a GPU, or use --backend wasm';
  let gpuPackage: WebGpuPackage;
  try {
    gpuPackage = (await importOptional('webgpu')) as WebGpuPackage;
  } catch (err) {
    throw new BackendUnavailable(describeImportError('webgpu', err), fix);
  }
  const gpu = gpuPackage.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) throw new BackendUnavailable('no WebGPU adapter was found', fix);
  if (adapter.isFallbackAdapter === true || adapter.info?.isFallbackAdapter === true) {
    throw new BackendUnavailable('the only WebGPU adapter is a software fallback, slower than wasm', fix);
  }
  // tfjs-backend-webgpu looks for navigator.gpu and the WebGPU constants on globalThis.
  Object.assign(globalThis, gpuPackage.globals);
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (g.navigator.gpu === undefined) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
  try {
    await importOptional('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    throw new BackendUnavailable(describeImportError('@tensorflow/tfjs-backend-webgpu', err), fix);
  }
  if (tf.findBackendFactory('webgpu') === null) {
    throw new BackendUnavailable('@tensorflow/tfjs-backend-webgpu loaded but did not register a backend in this runtime', fix);
  }
  if (!(await activate('webgpu'))) {
    throw new BackendUnavailable('the WebGPU backend failed to initialise on the adapter found', fix);
  }
  const info = adapter.info;
  return ['webgpu', info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
}

async function startWasm(): Promise<string> {
  registerWasmGradientKernels();
  if (!(await activate('wasm'))) {
    throw new BackendUnavailable(
      'the wasm backend failed to initialise (its .wasm binary could not be loaded or compiled)',
      'reinstall @tensorflow/tfjs-backend-wasm, or use --backend cpu',
    );
  }
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  return `${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multi-threaded' : 'single-threaded'}, fast conv2d gradients`;
}

async function startCpu(): Promise<string> {
  if (!(await activate('cpu'))) {
    throw new BackendUnavailable('the cpu backend failed to initialise', 'reinstall @tensorflow/tfjs');
  }
  return 'plain JavaScript, about 30x slower than wasm';
}

const STARTERS: Record<ConcreteBackend, () => Promise<string>> = {
  tensorflow: startTensorflow,
  webgpu: startWebgpu,
  wasm: startWasm,
  cpu: startCpu,
};

async function tryStart(name: ConcreteBackend): Promise<{ ok: true; detail: string } | { ok: false; failure: BackendUnavailable }> {
  try {
    return { ok: true, detail: await STARTERS[name]() };
  } catch (err) {
    const failure = err instanceof BackendUnavailable
      ? err
      : new BackendUnavailable(`backend '${name}' failed to start: ${err instanceof Error ? err.message : String(err)}`, 'use --backend wasm');
    return { ok: false, failure };
  }
}

/**
 * Makes `requested` the active tfjs backend and reports what is running. 'auto' falls
 * through to the next candidate on failure; an explicitly requested backend that cannot
 * start is a RobenchError naming the cause and the fix.
 */
export async function useBackend(requested: BackendName): Promise<BackendInfo> {
  const name = parseBackendName(requested);
  if (name !== 'auto') {
    const result = await tryStart(name);
    if (!result.ok) {
      const { reason, fix } = result.failure;
      throw new RobenchError(`backend '${name}' is unavailable: ${reason}; ${fix}`, fix);
    }
    return { name: tf.getBackend(), requested: name, detail: result.detail };
  }
  const skipped: string[] = [];
  for (const candidate of AUTO_ORDER) {
    const result = await tryStart(candidate);
    if (result.ok) {
      const detail = skipped.length === 0 ? result.detail : `${result.detail}; skipped ${skipped.join('; ')}`;
      return { name: tf.getBackend(), requested: 'auto', detail };
    }
    skipped.push(`${candidate} (${result.failure.reason})`);
  }
  throw new RobenchError(`no TensorFlow.js backend could start: ${skipped.join('; ')}`, 'reinstall robench\'s dependencies');
}

/**
 * Tries every backend and reports which start, for a diagnostics command. The backend
 * active before the call is restored afterwards.
 */
export async function probeBackends(): Promise<BackendProbe[]> {
  const previous = tf.getBackend();
  const probes: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    const result = await tryStart(name);
    probes.push(result.ok
      ? { name, ok: true, detail: result.detail }
      : { name, ok: false, reason: `${result.failure.reason}; ${result.failure.fix}` });
  }
  if (previous !== undefined && previous !== tf.getBackend()) await activate(previous);
  return probes;
}
