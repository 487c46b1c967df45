/** Gallery items of real MNIST digits, each perturbed by a fixed +-eps pattern, their pictures written as a run writes them. */
import mnist from '../../datasets/mnist.js';
import { amplifiedDifference, galleryPath, writeGalleryFiles } from '../../src/report/gallery-images.js';
import type { GalleryItem } from '../../src/evaluation/gallery.js';
import { encodePng } from '../../src/report/png-image.js';

/** The first advPredictions.length test digits at budget eps, predicted as given; pictures go to `<dir>/gallery/`. */
export async function gallerySample(dir: string, eps: number, advPredictions: string[]): Promise<GalleryItem[]> {
  const data = await mnist.load({ split: 'test', samples: advPredictions.length, offline: true });
  const [h, w, c] = data.shape;
  const size = h * w * c;
  const files = new Map<string, Uint8Array>();
  const file = (pixels: Float32Array): string => {
    const png = encodePng(pixels, h, w, c);
    files.set(galleryPath(png), png);
    return galleryPath(png);
  };
  const items = advPredictions.map((adv, i) => {
    const clean = data.images.slice(i * size, (i + 1) * size);
    const perturbed = clean.map((v, k) => Math.min(1, Math.max(0, v + (Math.sin(k * 12.9898 + i) > 0 ? eps : -eps))));
    const difference = amplifiedDifference(clean, perturbed);
    const label = String(data.labels[i]);
    return {
      sample: i,
      perturbation: eps,
      trueLabel: label,
      cleanPrediction: label,
      advPrediction: adv,
      images: { clean: file(clean), adversarial: file(perturbed), difference: file(difference.pixels) },
      amplification: difference.amplification,
    };
  });
  await writeGalleryFiles(dir, files);
  return items;
}
