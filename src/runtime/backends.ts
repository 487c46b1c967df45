/**
 * Chooses and starts the TensorFlow.js backend robench computes on.
 *
 * 'auto' takes the fastest one that actually starts: native TensorFlow (tfjs-node-gpu or
 * tfjs-node), WebGPU on a hardware adapter (src/runtime/webgpu.ts), then wasm (with robench's fast conv2d gradient
 * kernels), then the plain JavaScript cpu backend. The native and WebGPU packages are
 * optional and not dependencies of robench, so they are loaded by dynamic import and any
 * failure to load simply moves on to the next candidate.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { RobenchError, UsageError } from '../core/errors.js';
import { registerWasmKernels } from './wasm-kernels.js';
import { ADAPTER_FIX, startWebgpu, WebgpuUnavailable } from './webgpu.js';
import { probeWebgpuInChild } from './webgpu-probe.js';

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
  /** It starts when requested by name. */
  ok: boolean;
  /** 'auto' would take it when every backend before it in the order fails. */
  auto: boolean;
  /** Why it cannot be used and how to fix that, or, when ok, why 'auto' passes it over. */
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

/** A started backend: what it is, and why 'auto' would pass it over if it would. */
interface Started {
  detail: string;
  autoRefusal?: string;
}

/**
 * 'auto' takes WebGPU only on a hardware adapter; an explicit request also accepts a software
 * one (lavapipe), which is how WebGPU is tested on machines without a GPU. 'auto' looks for
 * the adapter in a child process first, so that Dawn starts here (printing its warnings)
 * only when it is to be used.
 */
async function startWebgpuBackend(explicit: boolean): Promise<Started> {
  try {
    if (!explicit) {
      const adapter = await probeWebgpuInChild();
      if (adapter === null) throw new WebgpuUnavailable('no WebGPU adapter was found (Dawn found no Vulkan, Metal or D3D12 device)', ADAPTER_FIX);
      if (adapter.software) throw new WebgpuUnavailable(`the only WebGPU adapter is ${adapter.summary}, slower than wasm`, 'pass --backend webgpu to use it anyway');
    }
    const adapter = await startWebgpu(explicit);
    const started: Started = { detail: adapter.summary };
    if (adapter.software) started.autoRefusal = 'a software adapter is slower than wasm';
    return started;
  } catch (err) {
    if (err instanceof WebgpuUnavailable) throw new BackendUnavailable(err.reason, `${err.fix}, or use --backend wasm`);
    throw err;
  }
}

async function startWasm(): Promise<string> {
  registerWasmKernels();
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
  // Its first tensor would print tfjs's "install our node backend" banner: advice robench
  // already gives in its own words (robench doctor, and the detail below), not on every run.
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  // How much slower than wasm depends on the machine and the layer (robench doctor measured
  // 30x and 280x on two): doctor states the ratio its own benchmark measures instead of a figure.
  return 'plain JavaScript, far slower than wasm (`robench doctor` measures by how much here)';
}

const detailOnly = (start: () => Promise<string>) => async (): Promise<Started> => ({ detail: await start() });

/** `explicit`: the user asked for this backend by name, rather than 'auto' trying it. */
const STARTERS: Record<ConcreteBackend, (explicit: boolean) => Promise<Started>> = {
  tensorflow: detailOnly(startTensorflow),
  webgpu: startWebgpuBackend,
  wasm: detailOnly(startWasm),
  cpu: detailOnly(startCpu),
};

async function tryStart(name: ConcreteBackend, explicit: boolean): Promise<({ ok: true } & Started) | { ok: false; failure: BackendUnavailable }> {
  try {
    return { ok: true, ...(await STARTERS[name](explicit)) };
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
    const result = await tryStart(name, true);
    if (!result.ok) {
      const { reason, fix } = result.failure;
      throw new RobenchError(`backend '${name}' is unavailable: ${reason}; ${fix}`, fix);
    }
    return { name: tf.getBackend(), requested: name, detail: result.detail };
  }
  const skipped: string[] = [];
  for (const candidate of AUTO_ORDER) {
    const result = await tryStart(candidate, false);
    if (result.ok) {
      const detail = skipped.length === 0 ? result.detail : `${result.detail}; skipped ${skipped.join('; ')}`;
      return { name: tf.getBackend(), requested: 'auto', detail };
    }
    skipped.push(`${candidate} (${result.failure.reason})`);
  }
  throw new RobenchError(`no TensorFlow.js backend could start: ${skipped.join('; ')}`, 'reinstall robench\'s dependencies');
}

/**
 * Tries every backend as an explicit request would, and reports which start and which of
 * those 'auto' would take, for a diagnostics command. The backend active before the call is
 * restored afterwards.
 */
/** Why WebGPU cannot start here, as a child process finds it, or undefined where an adapter exists. */
async function webgpuAbsence(): Promise<string | undefined> {
  try {
    const adapter = await probeWebgpuInChild();
    return adapter === null ? `no WebGPU adapter was found (Dawn found no Vulkan, Metal or D3D12 device); ${ADAPTER_FIX}, or use --backend wasm` : undefined;
  } catch (err) {
    if (err instanceof WebgpuUnavailable) return `${err.reason}; ${err.fix}, or use --backend wasm`;
    throw err;
  }
}

export async function probeBackends(): Promise<BackendProbe[]> {
  const previous = tf.getBackend();
  const probes: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    // Dawn started in this process prints the Vulkan loader's raw warnings (with its build paths)
    // where there is no adapter: ask a child process first, as 'auto' does, and start it here only
    // where the child found one.
    if (name === 'webgpu') {
      const absent = await webgpuAbsence();
      if (absent !== undefined) {
        probes.push({ name, ok: false, auto: false, reason: absent });
        continue;
      }
    }
    const result = await tryStart(name, true);
    if (!result.ok) {
      probes.push({ name, ok: false, auto: false, reason: `${result.failure.reason}; ${result.failure.fix}` });
      continue;
    }
    const probe: BackendProbe = { name, ok: true, auto: result.autoRefusal === undefined, detail: result.detail };
    if (result.autoRefusal !== undefined) probe.reason = `'auto' passes it over: ${result.autoRefusal}`;
    probes.push(probe);
  }
  if (previous !== undefined && previous !== tf.getBackend()) await activate(previous);
  return probes;
}
