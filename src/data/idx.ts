/**
 * The idx format of MNIST and Fashion-MNIST: a 4-byte magic number (two zero bytes,
 * a type code, the number of dimensions), then each dimension as a big-endian
 * uint32, then the values in row-major order.
 */
import { RobenchError } from '../core/errors.js';

const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  dims: number[];
  /** The values, a view into the file's bytes. */
  data: Uint8Array;
}

const fail = (file: string, what: string): never => {
  throw new RobenchError(`${file}: ${what}`, 'The file is corrupt or not an original idx file; delete it and fetch it again.');
};

export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.length < 4) fail(file, `truncated: ${buf.length} bytes, shorter than the idx header`);
  if (buf[0] !== 0 || buf[1] !== 0) fail(file, 'not an idx file (bad magic number)');
  if (buf[2] !== UNSIGNED_BYTE) fail(file, `idx type code 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`);
  const rank = buf[3]!;
  if (rank < 1) fail(file, 'idx header declares no dimensions');
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) fail(file, `truncated inside the idx header (${buf.length} of ${headerBytes} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerBytes;
  if (have < size) fail(file, `truncated: the header says ${dims.join('x')} (${size} bytes of data) but the file holds ${have}`);
  if (have > size) fail(file, `wrong size: ${have - size} bytes after the ${dims.join('x')} values the header declares`);
  return { dims, data: buf.subarray(headerBytes) };
}

/** Expects `rank` dimensions whose trailing sizes are `inner`; returns the leading count. */
export function expectIdxShape(arr: IdxArray, file: string, inner: number[]): number {
  const want = [-1, ...inner];
  const ok = arr.dims.length === want.length && inner.every((d, i) => arr.dims[i + 1] === d);
  if (!ok) fail(file, `dimensions ${arr.dims.join('x')} are not N${inner.map((d) => `x${d}`).join('')}`);
  return arr.dims[0]!;
}

export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`encodeIdx: ${data.length} values for dimensions ${dims.join('x')}`);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  const view = new DataView(out.buffer);
  out[2] = UNSIGNED_BYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
