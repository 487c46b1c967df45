/**
 * Asks a child process which WebGPU adapter Dawn would give, so that 'auto' can pass over
 * WebGPU without Dawn starting here: Dawn and the Vulkan loader print their warnings
 * ("... artificially reduced ...") from native code straight to file descriptor 2, where
 * this process cannot filter them. In the child they land in a pipe; the last one says why
 * Dawn could not start, where it could not.
 */
import { execFile } from 'node:child_process';
import { ADAPTER_FIX, describeAdapter, INSTALL_FIX, WebgpuUnavailable, type AdapterInfo, type WebgpuAdapter } from './webgpu.js';

const SCRIPT = `
const dawn = await import(process.argv[1]);
const adapter = await dawn.create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter && adapter.info;
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter } : null));
process.exit(0);
`;

/** Long enough for Dawn to enumerate a slow software driver; a hung driver must not hang robench. */
const TIMEOUT_MS = 30_000;

/** The adapter Dawn would give, or null where it finds none. */
export async function probeWebgpuInChild(): Promise<WebgpuAdapter | null> {
  let entry: string;
  try {
    entry = import.meta.resolve('webgpu');
  } catch {
    throw new WebgpuUnavailable('webgpu is not installed', INSTALL_FIX);
  }
  const { stdout, stderr, failure } = await new Promise<{ stdout: string; stderr: string; failure?: Error }>((done) => {
    execFile(process.execPath, ['--input-type=module', '-e', SCRIPT, entry], { timeout: TIMEOUT_MS }, (err, out, errOut) => done({ stdout: out, stderr: errOut, failure: err ?? undefined }));
  });
  const messages = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (failure !== undefined) {
    throw new WebgpuUnavailable(`Dawn could not start: ${messages.at(-1) ?? failure.message}`, ADAPTER_FIX);
  }
  const info = JSON.parse(stdout) as AdapterInfo | null;
  return info === null ? null : describeAdapter(info);
}
