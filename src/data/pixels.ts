/** Byte to [0, 1] float, as a table: one lookup per pixel is the fastest conversion in V8. */
export const UNIT = new Float32Array(256);
for (let i = 0; i < 256; i++) UNIT[i] = i / 255;

/** Writes `src` as [0, 1] floats into `dst` starting at `offset`. */
export function bytesToUnit(src: Uint8Array, dst: Float32Array, offset = 0): void {
  const unit = UNIT;
  for (let i = 0; i < src.length; i++) dst[offset + i] = unit[src[i]!]!;
}
