/**
 * Reads numeric variables from MATLAB Level 5 MAT-files: a 128-byte header (text,
 * subsystem offset, version, endian indicator), then data elements, each an 8-byte
 * tag (type, byte count) or a 4-byte "small element" tag with up to 4 bytes of data.
 * miCOMPRESSED elements hold a zlib stream of further elements; miMATRIX elements
 * hold array flags, dimensions, name and the real (and imaginary) part.
 */
import { inflateSync } from 'node:zlib';
import { RobenchError } from '../core/errors.js';

export const MI = {
  INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9,
  INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18,
} as const;

const ELEMENT_BYTES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };

const CLASS_NAMES: Record<number, string> = {
  1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single',
  8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
};
const NUMERIC_CLASSES = new Set(['double', 'single', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']);

export type MatNumeric = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

export interface MatVariable {
  name: string;
  className: string;
  /** MATLAB dimensions; data is column-major (first index fastest). */
  dims: number[];
  /** The real part as stored (MATLAB may store a double array as e.g. miUINT8); null for non-numeric classes. */
  real: MatNumeric | null;
  complex: boolean;
}

const fail = (file: string, what: string): never => {
  throw new RobenchError(`${file}: ${what}`, 'The file is corrupt, truncated or not a MATLAB v5 MAT-file; delete it and fetch it again.');
};

interface Element {
  type: number;
  data: Uint8Array;
  /** Offset of the next element. */
  next: number;
}

class Reader {
  constructor(readonly file: string, readonly le: boolean) {}

  element(buf: Uint8Array, off: number, where: string): Element {
    if (off + 8 > buf.length) fail(this.file, `truncated: ${where} at byte ${off} has no room for its 8-byte tag`);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const first = view.getUint32(off, this.le);
    if (first >>> 16 !== 0) {
      const bytes = first >>> 16;
      if (bytes > 4) fail(this.file, `${where} at byte ${off}: small data element claims ${bytes} bytes (at most 4)`);
      return { type: first & 0xffff, data: buf.subarray(off + 4, off + 4 + bytes), next: off + 8 };
    }
    const bytes = view.getUint32(off + 4, this.le);
    const start = off + 8;
    if (start + bytes > buf.length) {
      fail(this.file, `truncated: ${where} at byte ${off} declares ${bytes} bytes but only ${buf.length - start} remain`);
    }
    // Compressed elements are not padded; every other element is padded to 8 bytes.
    const padded = first === MI.COMPRESSED ? bytes : Math.ceil(bytes / 8) * 8;
    return { type: first, data: buf.subarray(start, start + bytes), next: Math.min(start + padded, buf.length) };
  }

  numeric(type: number, bytes: Uint8Array, what: string): MatNumeric {
    const size = ELEMENT_BYTES[type];
    if (size === undefined) fail(this.file, `${what}: data type ${type} is not numeric`);
    if (bytes.length % size! !== 0) fail(this.file, `${what}: ${bytes.length} bytes is not a whole number of ${size}-byte values`);
    if (type === MI.UINT8) return bytes;
    if (type === MI.INT8) return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    // Copy (Buffer#slice would share memory) so the typed array is aligned, swapping bytes for big-endian files.
    const copy = new Uint8Array(bytes);
    if (!this.le) {
      for (let i = 0; i < copy.length; i += size!) copy.subarray(i, i + size!).reverse();
    }
    const b = copy.buffer;
    switch (type) {
      case MI.INT16: return new Int16Array(b);
      case MI.UINT16: return new Uint16Array(b);
      case MI.INT32: return new Int32Array(b);
      case MI.UINT32: return new Uint32Array(b);
      case MI.SINGLE: return new Float32Array(b);
      case MI.DOUBLE: return new Float64Array(b);
      case MI.INT64: return new BigInt64Array(b);
      default: return new BigUint64Array(b);
    }
  }

  matrix(data: Uint8Array, at: number): MatVariable | null {
    if (data.length === 0) return null;
    const where = `array at byte ${at}`;
    const flags = this.element(data, 0, `${where}: array flags`);
    if (flags.type !== MI.UINT32 || flags.data.length !== 8) fail(this.file, `${where}: array flags are not 8 bytes of miUINT32`);
    const word = this.numeric(MI.UINT32, flags.data, where)[0] as number;
    const className = CLASS_NAMES[word & 0xff] ?? `class ${word & 0xff}`;
    const complex = (word & 0x0800) !== 0;
    const dimsEl = this.element(data, flags.next, `${where}: dimensions`);
    if (dimsEl.type !== MI.INT32) fail(this.file, `${where}: dimensions are not miINT32`);
    const dims = Array.from(this.numeric(MI.INT32, dimsEl.data, where) as Int32Array);
    if (dims.length < 2 || dims.length > 32 || dims.some((d) => d < 0)) {
      fail(this.file, `${where}: invalid dimensions [${dims.slice(0, 8).join(', ')}${dims.length > 8 ? ', ...' : ''}]`);
    }
    const nameEl = this.element(data, dimsEl.next, `${where}: name`);
    if (nameEl.type !== MI.INT8 && nameEl.type !== MI.UINT8 && nameEl.type !== MI.UTF8) fail(this.file, `${where}: array name is not text`);
    const name = Buffer.from(nameEl.data).toString('utf8');
    if (!NUMERIC_CLASSES.has(className)) return { name, className, dims, real: null, complex };
    const realEl = this.element(data, nameEl.next, `${where}: real part of "${name}"`);
    const real = this.numeric(realEl.type, realEl.data, `variable "${name}"`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (real.length !== count) {
      fail(this.file, `wrong size: variable "${name}" is ${dims.join('x')} (${count} values) but holds ${real.length}`);
    }
    return { name, className, dims, real, complex };
  }

  elements(buf: Uint8Array, start: number, out: Map<string, MatVariable>, base: number): void {
    for (let off = start; off < buf.length; ) {
      const el = this.element(buf, off, 'data element');
      if (el.type === MI.COMPRESSED) {
        let inflated: Buffer;
        try {
          inflated = inflateSync(el.data);
        } catch (e) {
          fail(this.file, `compressed element at byte ${base + off} is truncated or corrupt (${(e as Error).message})`);
        }
        this.elements(inflated!, 0, out, base + off);
      } else if (el.type === MI.MATRIX) {
        const v = this.matrix(el.data, base + off);
        if (v) out.set(v.name, v);
      }
      off = el.next;
    }
  }
}

export function parseMat(buf: Uint8Array, file: string): Map<string, MatVariable> {
  if (buf.length < 128) fail(file, `truncated: ${buf.length} bytes, shorter than the 128-byte MAT-file header`);
  const head = Buffer.from(buf.subarray(0, 116)).toString('latin1');
  if (head.startsWith('MATLAB 7.3 MAT-file')) {
    fail(file, 'a MATLAB v7.3 (HDF5) file; only v5 MAT-files (the SVHN originals) are supported');
  }
  if (!head.startsWith('MATLAB 5.0 MAT-file')) fail(file, 'not a MATLAB v5 MAT-file (header text does not start with "MATLAB 5.0 MAT-file")');
  const endian = String.fromCharCode(buf[126]!, buf[127]!);
  if (endian !== 'IM' && endian !== 'MI') fail(file, `bad endian indicator "${endian}" (expected "IM" or "MI")`);
  const reader = new Reader(file, endian === 'IM');
  const version = new DataView(buf.buffer, buf.byteOffset + 124, 2).getUint16(0, reader.le);
  if (version !== 0x0100) fail(file, `MAT-file version 0x${version.toString(16)} is not 0x0100`);
  const vars = new Map<string, MatVariable>();
  reader.elements(buf, 128, vars, 0);
  return vars;
}
