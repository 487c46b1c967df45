/** Images as PNG: how the gallery stores its pictures (gallery/*.png) and report.html embeds them (data URLs). */
import { decode, encode } from 'fast-png';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Encodes NHWC pixels in [0, 1] (one image, 1, 3 or 4 channels) as an 8-bit PNG. */
export function encodePng(pixels: Float32Array, h: number, w: number, c: number): Uint8Array {
  if (![h, w].every((n) => Number.isInteger(n) && n > 0)) throw new Error(`encodePng: height and width must be positive integers, got ${h}x${w}`);
  if (![1, 3, 4].includes(c)) throw new Error(`encodePng: ${c} channels given; PNG takes 1 (grey), 3 (RGB) or 4 (RGBA)`);
  if (pixels.length !== h * w * c) throw new Error(`encodePng: ${pixels.length} values for a ${h}x${w}x${c} image (needs ${h * w * c}); pass one image, not a batch`);
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (!Number.isFinite(v)) throw new Error(`encodePng: pixel ${i} is ${v}; pixels must be finite values in [0, 1]`);
    bytes[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return encode({ width: w, height: h, data: bytes, channels: c, depth: 8 });
}

/**
 * The picture enlarged by the smallest whole factor that makes it at least `minWidth` wide, each
 * pixel a block of factor x factor (nearest neighbour): the enlargement is in the file, so no
 * viewer blurs a 28x28 digit by smoothing it.
 */
export function upscalePng(png: Uint8Array, minWidth: number): { png: Uint8Array; width: number; height: number } {
  const { width, height, channels, depth, data, palette } = decode(png);
  const factor = Math.max(1, Math.ceil(minWidth / width));
  const [w, h] = [width * factor, height * factor];
  const out = new (data.constructor as Uint8ArrayConstructor)(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = (Math.floor(y / factor) * width + Math.floor(x / factor)) * channels;
      out.set(data.subarray(from, from + channels), (y * w + x) * channels);
    }
  }
  return { png: encode({ width: w, height: h, data: out, channels, depth, ...(palette ? { palette } : {}) }), width: w, height: h };
}

export const isPng = (bytes: Uint8Array): boolean => bytes.length > SIGNATURE.length && SIGNATURE.every((b, i) => bytes[i] === b);

/** A data:image/png;base64 URL of PNG bytes. */
export function pngDataUrl(png: Uint8Array): string {
  if (!isPng(png)) throw new Error('pngDataUrl: the bytes are not a PNG (no PNG signature)');
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}
