/**
 * CIFAR-10 binary batches: 3073-byte records of one label byte followed by the
 * 32x32 red plane, then green, then blue (each row-major).
 */
import { RobenchError } from '../core/errors.js';
import { UNIT } from './pixels.js';

export const CIFAR_RECORD_BYTES = 3073;
const PLANE = 1024;

/** Checks a batch's size and returns its record count. */
export function cifarRecordCount(buf: Uint8Array, file: string, expected?: number): number {
  if (buf.length % CIFAR_RECORD_BYTES !== 0) {
    throw new RobenchError(
      `${file}: wrong size: ${buf.length} bytes is not a whole number of ${CIFAR_RECORD_BYTES}-byte CIFAR records (truncated?)`,
      'Delete the file and fetch it again.',
    );
  }
  const n = buf.length / CIFAR_RECORD_BYTES;
  if (expected !== undefined && n !== expected) {
    throw new RobenchError(`${file}: wrong size: ${n} records, expected ${expected}`, 'Delete the file and fetch it again.');
  }
  return n;
}

/**
 * Decodes the first `count` records of `buf` into NHWC [0, 1] pixels and labels,
 * writing image i of the batch at position `at + i` of the outputs.
 */
export function decodeCifarRecords(buf: Uint8Array, file: string, count: number, images: Float32Array, labels: Int32Array, at: number): void {
  const unit = UNIT;
  for (let n = 0; n < count; n++) {
    const rec = n * CIFAR_RECORD_BYTES;
    const label = buf[rec]!;
    if (label > 9) {
      throw new RobenchError(`${file}: record ${n} has label ${label}, outside 0..9 (not a CIFAR-10 batch?)`, 'Delete the file and fetch it again.');
    }
    labels[at + n] = label;
    const px = rec + 1;
    let o = (at + n) * PLANE * 3;
    for (let p = 0; p < PLANE; p++, o += 3) {
      images[o] = unit[buf[px + p]!]!;
      images[o + 1] = unit[buf[px + PLANE + p]!]!;
      images[o + 2] = unit[buf[px + 2 * PLANE + p]!]!;
    }
  }
}
