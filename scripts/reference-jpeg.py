#!/usr/bin/python3
"""
PIL's JPEG round trip (save with quality q, open again), the bytes src/image/libjpeg-roundtrip.ts must
reproduce (test/image/libjpeg-roundtrip.test.ts): the first two bundled CIFAR-10 test images at the
CIFAR-10-C qualities, a 28x28 crop (a height that is not a whole 16-pixel MCU), and noise at odd
sizes and extreme qualities. The fixture holds the inputs and the sha256 of PIL's output for each.
Needs numpy and Pillow (Debian 12: python3-numpy python3-pil):
  /usr/bin/python3 scripts/reference-jpeg.py test/fixtures/jpeg-reference.json
"""
import gzip
import hashlib
import io
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    raw = gzip.open(os.path.join(root, 'datasets/bundled/cifar-10/test_batch.1000.bin.gz')).read()
    cifar = [np.frombuffer(raw[i * 3073 + 1:(i + 1) * 3073], np.uint8).reshape(3, 32, 32).transpose(1, 2, 0).copy() for i in (0, 1)]
    rs = np.random.RandomState(0)
    images = cifar + [cifar[0][:28, :28].copy(), rs.randint(0, 256, (9, 13, 3)).astype(np.uint8), rs.randint(0, 256, (8, 8, 3)).astype(np.uint8)]
    runs = [(i, q) for i in (0, 1) for q in (80, 65, 58, 50, 40)] + [(2, 80), (3, 95), (4, 10)]
    cases = []
    for i, q in runs:
        im = images[i]
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, 'JPEG', quality=q)
        out = np.asarray(Image.open(buf).convert('RGB'))
        cases.append({'image': i, 'quality': q, 'sha256': hashlib.sha256(out.tobytes()).hexdigest(),
                      'meanChange': round(float(np.mean(np.abs(out.astype(float) - im))), 4)})
    fixture = {'about': 'written by scripts/reference-jpeg.py with Pillow ' + PIL.__version__ + ": sha256 of the RGB bytes of Image.open(save(image, 'JPEG', quality))",
               'images': [{'h': im.shape[0], 'w': im.shape[1], 'rgb': im.reshape(-1).tolist()} for im in images], 'cases': cases}
    with open(sys.argv[1], 'w') as fh:
        json.dump(fixture, fh, separators=(',', ':'))
        fh.write('\n')


if __name__ == '__main__':
    main()
