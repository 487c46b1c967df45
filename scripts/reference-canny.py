#!/usr/bin/python3
"""
OpenCV's cv2.Canny(layer, 50, 150) on spatter's liquid layers, the edges src/image/canny.ts must
reproduce exactly (test/image/canny.test.ts). The layers are made as make_cifar_c.py's spatter makes
them at severities 1-3 (its liquid branch), plus uniform noise, whose gradients point every way.
Needs numpy, scikit-image and OpenCV (Debian 12: python3-numpy python3-skimage python3-opencv):
  /usr/bin/python3 scripts/reference-canny.py test/fixtures/canny-reference.json
"""
import json
import sys

import cv2
import numpy as np
from skimage.filters import gaussian

LIQUID = [(0.62, 0.1, 0.7, 0.7), (0.65, 0.1, 0.8, 0.7), (0.65, 0.3, 1, 0.69)]


def main():
    cases = []
    for loc, scale, sigma, threshold in LIQUID:
        for seed in range(4):
            np.random.seed(seed)
            layer = gaussian(np.random.normal(size=(32, 32), loc=loc, scale=scale), sigma=sigma)
            layer[layer < threshold] = 0
            cases.append((layer * 255).astype(np.uint8))
    cases.append(np.random.RandomState(0).randint(0, 256, (28, 32)).astype(np.uint8))
    out = [{'h': int(c.shape[0]), 'w': int(c.shape[1]), 'image': c.reshape(-1).tolist(), 'edges': cv2.Canny(c, 50, 150).reshape(-1).tolist()} for c in cases]
    with open(sys.argv[1], 'w') as fh:
        json.dump({'about': 'written by scripts/reference-canny.py with OpenCV ' + cv2.__version__ + ': cv2.Canny(image, 50, 150)', 'cases': out}, fh, separators=(',', ':'))
        fh.write('\n')


if __name__ == '__main__':
    main()
