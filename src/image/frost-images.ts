/**
 * The five frost photographs CIFAR-10-C's frost blends in (github:hendrycks/robustness,
 * ImageNet-C/create_c, Apache-2.0: attacks/frost/LICENSE), stored as the generator uses them:
 * shrunk by cv2.resize(fx=0.2, fy=0.2) before it crops, in RGB (scripts/frost-images.py).
 * Read once, on first use.
 */
import { readFileSync } from 'node:fs';
import { decode } from 'fast-png';
import { image, type Img } from './image-ops.js';
import { assetPath } from '../core/paths.js';

let photos: Img[] | undefined;

export function frostPhotos(): Img[] {
  photos ??= [1, 2, 3, 4, 5].map((n) => {
    const file = assetPath('attacks', 'frost', `frost${n}.png`);
    const png = decode(readFileSync(file));
    if (png.channels !== 3 || png.depth !== 8) throw new Error(`${file}: expected an 8-bit RGB PNG, got ${png.channels} channels of ${png.depth} bits`);
    return image(png.height, png.width, 3, Float64Array.from(png.data, (v) => v / 255));
  });
  return photos;
}
