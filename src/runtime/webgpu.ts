/**
 * Starting and stopping tfjs-backend-webgpu on Node through Dawn (the `webgpu` package).
 *
 * Both packages are optional peer dependencies (a user installs them to compute on a GPU), loaded by dynamic import. tfjs-backend-webgpu
 * registers itself only if `navigator.gpu` exists when it is first imported, so the Dawn
 * GPU object is installed there beforehand. Dawn keeps the process alive for as long as that
 * object is reachable, which is why `releaseWebgpu` exists.
 */
import * as tf from '@tensorflow/tfjs';

/** The fields of GPUAdapterInfo robench reports; Dawn fills them from the driver. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn's own verdict: a CPU implementation such as lavapipe or SwiftShader. */
  isFallbackAdapter?: boolean;
}

interface GpuAdapter {
  readonly info: AdapterInfo;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapter | null>;
}
interface WebGpuPackage {
  create(options: string[]): Gpu;
  globals: Record<string, unknown>;
}

export interface WebgpuAdapter {
  info: AdapterInfo;
  /** True for a CPU implementation of the GPU API, which is slower than the wasm backend. */
  software: boolean;
  /** One line for results and `robench doctor`: vendor, architecture, software or hardware. */
  summary: string;
}

/** Why the WebGPU backend cannot start (`reason`), and what to do about it (`fix`). */
export class WebgpuUnavailable extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}

export const INSTALL_FIX = 'install the optional packages `webgpu` and `@tensorflow/tfjs-backend-webgpu@4.22.0` (npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0)';
export const ADAPTER_FIX = 'install a GPU driver with Vulkan support, or for a CPU-only machine Mesa >= 25 lavapipe (scripts/install-lavapipe.sh on Debian)';

const SOFTWARE_DRIVERS: readonly [RegExp, string][] = [
  [/llvmpipe|lavapipe/i, 'lavapipe'],
  [/swiftshader/i, 'SwiftShader'],
  [/warp|microsoft basic render/i, 'WARP'],
];

/** Recognises a software adapter by Dawn's flag, the architecture it reports, or the driver name. */
export function describeAdapter(info: AdapterInfo): WebgpuAdapter {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const driver = SOFTWARE_DRIVERS.find(([pattern]) => pattern.test(text))?.[1];
  const software = info.isFallbackAdapter === true || info.architecture === 'software' || driver !== undefined;
  const kind = software ? `software (${driver ?? 'CPU fallback'})` : 'hardware';
  const name = [info.vendor, info.architecture !== 'software' ? info.architecture : '']
    .filter((s) => s !== '').join(' ') || 'unknown vendor';
  const description = info.description !== '' ? `: ${info.description}` : '';
  // Dawn's GPUAdapterInfo exposes its fields as prototype getters, which a spread would drop.
  const copy: AdapterInfo = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  if (info.isFallbackAdapter !== undefined) copy.isFallbackAdapter = info.isFallbackAdapter;
  return { info: copy, software, summary: `${name}, ${kind}${description}` };
}

function importError(spec: string, err: unknown): WebgpuUnavailable {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const missing = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${spec}'`);
  return new WebgpuUnavailable(missing ? `${spec} is not installed` : `${spec} failed to load: ${message.split('\n')[0]}`, INSTALL_FIX);
}

/** Imports by a runtime string so TypeScript does not require the optional packages. */
async function importOptional(spec: string): Promise<unknown> {
  return import(spec);
}

let dawn: WebGpuPackage | undefined;
let gpu: Gpu | undefined;

async function loadDawn(): Promise<WebGpuPackage> {
  if (dawn === undefined) {
    try {
      dawn = (await importOptional('webgpu')) as WebGpuPackage;
    } catch (err) {
      throw importError('webgpu', err);
    }
  }
  return dawn;
}

function installNavigatorGpu(value: Gpu | undefined): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: value }, configurable: true, writable: true });
  } else {
    Object.defineProperty(g.navigator, 'gpu', { value, configurable: true, writable: true });
  }
}

/**
 * Finds the adapter tfjs-backend-webgpu would use (it asks for high performance), without
 * starting a backend. Throws WebgpuUnavailable when the packages or an adapter are missing.
 */
export async function findWebgpuAdapter(): Promise<WebgpuAdapter> {
  const pkg = await loadDawn();
  if (gpu === undefined) {
    try {
      gpu = pkg.create([]);
    } catch (err) {
      throw new WebgpuUnavailable(`Dawn could not start: ${err instanceof Error ? err.message : String(err)}`, ADAPTER_FIX);
    }
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new WebgpuUnavailable('no WebGPU adapter was found (Dawn found no Vulkan, Metal or D3D12 device)', ADAPTER_FIX);
  }
  return describeAdapter(adapter.info);
}

/**
 * Makes tfjs-backend-webgpu the active backend. A software adapter is refused unless
 * `allowSoftware` (an explicit --backend webgpu) because it is slower than wasm.
 */
export async function startWebgpu(allowSoftware: boolean): Promise<WebgpuAdapter> {
  const adapter = await findWebgpuAdapter();
  if (adapter.software && !allowSoftware) {
    throw new WebgpuUnavailable(
      `the only WebGPU adapter is ${adapter.summary}, slower than wasm`,
      'pass --backend webgpu to use it anyway',
    );
  }
  Object.assign(globalThis, dawn!.globals);
  installNavigatorGpu(gpu);
  if (tf.findBackendFactory('webgpu') === null) {
    try {
      await importOptional('@tensorflow/tfjs-backend-webgpu');
    } catch (err) {
      throw importError('@tensorflow/tfjs-backend-webgpu', err);
    }
    if (tf.findBackendFactory('webgpu') === null) {
      throw new WebgpuUnavailable(
        '@tensorflow/tfjs-backend-webgpu loaded but registered with a different copy of @tensorflow/tfjs than robench uses',
        'install @tensorflow/tfjs-backend-webgpu at the version of @tensorflow/tfjs (npm ls @tensorflow/tfjs-core should list one copy)',
      );
    }
  }
  let started = false;
  try {
    started = await tf.setBackend('webgpu');
  } catch (err) {
    throw new WebgpuUnavailable(`the WebGPU backend failed to initialise on ${adapter.summary}: ${err instanceof Error ? err.message : String(err)}`, ADAPTER_FIX);
  }
  if (!started) throw new WebgpuUnavailable(`the WebGPU backend failed to initialise on ${adapter.summary}`, ADAPTER_FIX);
  return adapter;
}
