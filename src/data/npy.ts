/**
 * NumPy's .npy format (numpy.lib.format, versions 1.0 and 2.0), for images and labels:
 *   bytes 0-5  magic "\x93NUMPY";  6-7  version (major, minor)
 *   then the header length, uint16 LE (1.0) or uint32 LE (2.0), then the header: an ASCII
 *   Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, h, w, c), }
 *   padded with spaces and ended by '\n' so that the data starts on a 64-byte boundary;
 *   then the array's values in C order.
 * Written here (about a hundred lines) rather than taken from npm: npyjs, the maintained
 * package, only reads, and robench must write float32 NHWC examples that numpy.load reads.
 * The header is matched with a pattern, never evaluated; sizes are checked against the shape
 * before any value is read, so a truncated or lying file is an error naming it.
 */
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../core/errors.js';
import { writeFileAtomic } from '../runtime/atomic.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Larger files are refused before reading: 1 GiB holds 87,000 CIFAR images as float32. */
export const MAX_NPY_BYTES = 2 ** 30;

export type NpyDtype = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

/** numpy's descr for each type (little-endian; one-byte types have no byte order). */
const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8' };
const SIZE: Record<NpyDtype, number> = { float32: 4, float64: 8, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 };

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** The values as numbers, in C order (64-bit integers beyond 2^53 are refused). */
  data: Float32Array | Float64Array | Int32Array | Uint32Array | Int8Array | Uint8Array | Int16Array | Uint16Array | number[];
}

/** The .npy bytes of a float32 or int32 array (version 1.0). */
export function encodeNpy(data: Float32Array | Int32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`encodeNpy: shape [${shape}] holds ${count} values, the data ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : '<i4';
  // A 1-tuple needs its trailing comma in Python: (5,)
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  if (header.length > 0xffff) throw new RangeError('encodeNpy: header too long for version 1.0');
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Little-endian on every platform Node runs on (x86, ARM); checked so a big-endian one fails loudly.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('encodeNpy: big-endian platforms are not supported');
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export async function writeNpy(path: string, data: Float32Array | Int32Array, shape: number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}

/** The array in .npy bytes; `name` is what errors call the file. */
export function decodeNpy(bytes: Uint8Array, name: string): NpyArray {
  const bad = (what: string, hint = 'write it with numpy.save (a plain, C-ordered array of numbers)'): never => {
    throw new UsageError(`${name} is not a .npy file robench reads: ${what}`, hint);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) bad('it does not start with the .npy magic bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major !== 1 && major !== 2 && major !== 3) bad(`format version ${major}.${bytes[7]}`);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) bad('the file ends inside its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerStart + headerLength > bytes.length) bad('the file ends inside its header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) bad(`its header ${JSON.stringify(header.trim().slice(0, 120))} lacks descr, fortran_order or shape`);
  if (fortran === 'True') bad('the array is in Fortran order', 'save a C-ordered array: numpy.save(path, numpy.ascontiguousarray(a))');
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((k) => DESCR[k] === descr || DESCR[k].replace('|', '<') === descr || DESCR[k].replace('<', '|') === descr);
  if (dtype === undefined) bad(`its values are of type '${descr}'`, 'save little-endian numbers: float32 or float64 images, integer labels (e.g. a.astype(numpy.float32))');
  const shape = shapeText!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`its shape (${shapeText}) is not a list of sizes`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const expected = count * SIZE[dtype!];
  if (bytes.length - dataStart !== expected) bad(`its shape (${shape.join(', ')}) of ${descr} needs ${expected} bytes of data, the file holds ${bytes.length - dataStart}`);
  // A copy: a Buffer from readFile is a view into a shared pool, not aligned for the typed array.
  const raw = Uint8Array.from(bytes.subarray(dataStart, dataStart + expected)).buffer;
  const data = (() => {
    switch (dtype!) {
      case 'float32': return new Float32Array(raw);
      case 'float64': return new Float64Array(raw);
      case 'int8': return new Int8Array(raw);
      case 'uint8': return new Uint8Array(raw);
      case 'int16': return new Int16Array(raw);
      case 'uint16': return new Uint16Array(raw);
      case 'int32': return new Int32Array(raw);
      case 'uint32': return new Uint32Array(raw);
      case 'int64':
      case 'uint64': {
        const big = dtype === 'int64' ? new BigInt64Array(raw) : new BigUint64Array(raw);
        return Array.from(big, (v, i) => {
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) bad(`value ${v} at position ${i} is beyond 2^53`);
          return Number(v);
        });
      }
    }
  })();
  return { dtype: dtype!, shape, data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, 'check the path');
  });
  if (!info.isFile()) throw new UsageError(`${path} is not a regular file`, 'give the path of a .npy file');
  if (info.size > MAX_NPY_BYTES) throw new UsageError(`${path} is ${info.size} bytes, more than the ${MAX_NPY_BYTES} robench reads`, 'split the array into smaller files');
  return decodeNpy(await readFile(path), path);
}
