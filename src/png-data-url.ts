/** Images as PNG data URLs: how the gallery embeds its pictures in results.json and report.html. */
import { encode } from 'fast-png';

/** Encodes NHWC pixels in [0, 1] (one image, 1, 3 or 4 channels) as a PNG data URL. */
export function imageToPngDataUrl(pixels: Float32Array, h: number, w: number, c: number): string {
  if (![h, w].every((n) => Number.isInteger(n) && n > 0)) throw new Error(`imageToPngDataUrl: height and width must be positive integers, got ${h}x${w}`);
  if (![1, 3, 4].includes(c)) throw new Error(`imageToPngDataUrl: ${c} channels given; PNG takes 1 (grey), 3 (RGB) or 4 (RGBA)`);
  if (pixels.length !== h * w * c) throw new Error(`imageToPngDataUrl: ${pixels.length} values for a ${h}x${w}x${c} image (needs ${h * w * c}); pass one image, not a batch`);
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (!Number.isFinite(v)) throw new Error(`imageToPngDataUrl: pixel ${i} is ${v}; pixels must be finite values in [0, 1]`);
    bytes[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  const png = encode({ width: w, height: h, data: bytes, channels: c, depth: 8 });
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}
