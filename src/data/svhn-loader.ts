/**
 * Loads an SVHN split from its MAT v5 file: `X` is uint8 32x32x3xN in MATLAB's
 * column-major order and `y` is Nx1 with digits 1..10, where 10 means the digit 0.
 */
import { RobenchError } from '../core/errors.js';
import type { DatasetLoadOptions, DatasetSplit, ImageShape } from '../core/plugin-api.js';
import type { DatasetManifest } from './manifests.js';
import { parseMat, type MatVariable } from './mat5.js';
import { UNIT } from './pixels.js';
import { openSplit, splitOf, takeCount, type DecodedSplit } from './split.js';

export const SVHN_SHAPE: ImageShape = [32, 32, 3];

const fail = (file: string, what: string): never => {
  throw new RobenchError(`${file}: ${what}`, 'The file is not an original SVHN .mat file; delete it and fetch it again.');
};

function variable(vars: Map<string, MatVariable>, name: string, file: string): MatVariable {
  const v = vars.get(name);
  if (!v) fail(file, `has no variable "${name}" (found: ${[...vars.keys()].join(', ') || 'none'})`);
  if (!v!.real || v!.complex) fail(file, `variable "${name}" is not a real numeric array (class ${v!.className})`);
  return v!;
}

export function decodeSvhn(buf: Uint8Array, file: string, samples: number | undefined): DecodedSplit {
  const vars = parseMat(buf, file);
  const X = variable(vars, 'X', file);
  const y = variable(vars, 'y', file);
  const [h, w, c, n] = X.dims as [number, number, number, number];
  if (X.dims.length !== 4 || h !== 32 || w !== 32 || c !== 3) fail(file, `X is ${X.dims.join('x')}, expected 32x32x3xN`);
  if (!(X.real instanceof Uint8Array)) fail(file, `X is stored as ${X.real!.constructor.name}, expected uint8 bytes`);
  if (y.real!.length !== n) fail(file, `y holds ${y.real!.length} labels for ${n} images`);
  const count = takeCount(samples, n, 'images');
  const src = X.real as Uint8Array;
  const unit = UNIT;
  const images = new Float32Array(count * h * w * c);
  // NHWC output index ((i*h + r)*w + col)*c + ch from MATLAB's r + h*(col + w*(ch + c*i)).
  let o = 0;
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++) {
        const base = r + h * col + h * w * c * i;
        for (let ch = 0; ch < c; ch++) images[o++] = unit[src[base + h * w * ch]!]!;
      }
    }
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(y.real![i]);
    if (!Number.isInteger(v) || v < 1 || v > 10) fail(file, `label ${v} at index ${i} is outside 1..10`);
    labels[i] = v % 10;
  }
  return { images, labels, count };
}

export async function loadSvhnSplit(m: DatasetManifest, opts: DatasetLoadOptions): Promise<DatasetSplit> {
  const files = await openSplit(m, opts);
  const name = m.split[opts.split][0]!;
  return splitOf(decodeSvhn(files.bytes.get(name)!, files.labels.get(name)!, opts.samples), SVHN_SHAPE, files.source);
}
