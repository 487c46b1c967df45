#!/usr/bin/python3
"""
Statistics of the CIFAR-10-C reference corruptions on fixed images, the values
test/attacks/corruption.test.ts holds robench's corruptions to.

It runs the published generator itself, not a re-implementation: the distortion
functions of make_cifar_c.py from a checkout of github:hendrycks/robustness are
executed from that file (its torch/torchvision imports and the dataset loop at
the end are skipped, since they only load and save CIFAR-10). Needs numpy,
scipy, scikit-image, OpenCV, Pillow and Wand (ImageMagick); on Debian 12:
  apt-get install python3-numpy python3-scipy python3-skimage python3-opencv python3-pil python3-wand
and run it with /usr/bin/python3:
  /usr/bin/python3 scripts/reference-corruptions.py ../robustness test/fixtures/corruptions-reference.json

The images are the first two of the bundled CIFAR-10 test subset. Each
corruption and severity is run with numpy seeds 0..SEEDS-1; the output is
truncated to uint8 as the generator saves it. Per draw it records, in grey
levels, the mean absolute change from the clean image and the mean and standard
deviation of the corrupted image; the fixture keeps their mean and spread over
the draws, so a test can allow exactly the variation the random parts cause.

Greyscale: the generator is for colour images only. Its glass_blur on a 2-D
array (what MNIST-C's generator feeds it) truly swaps pixels, as its elements
are scalars, so the fixture also holds glass_blur on the images' PIL 'L' grey
version, with the 2-D array blurred over both spatial axes (the generator's
multichannel=True would treat a 2-D array's columns as channels).
"""
import ast
import gzip
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image

SEEDS = 40
IMAGES = [0, 1]
NAMES = ['gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
         'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression',
         'speckle_noise', 'gaussian_blur', 'spatter', 'saturate']


def load_reference(path):
    """The generator's imports (less torch) and definitions, executed from its own source."""
    source = open(path).read()
    tree = ast.parse(source)
    keep = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and getattr(node.value.func, 'id', '') == 'print':
            break  # the dataset loop starts here
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or '']
            if any(m.split('.')[0] in ('torch', 'torchvision') for m in modules):
                continue
        keep.append(node)
    namespace = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, 'exec'), namespace)
    return namespace, hashlib.sha256(source.encode()).hexdigest()


def bundled_images(root):
    raw = gzip.open(os.path.join(root, 'datasets/bundled/cifar-10/test_batch.1000.bin.gz')).read()
    out = []
    for i in IMAGES:
        record = np.frombuffer(raw[i * 3073 + 1:(i + 1) * 3073], np.uint8)
        out.append(record.reshape(3, 32, 32).transpose(1, 2, 0).copy())
    return out


def stats(clean, corrupted):
    c = clean.astype(np.float64)
    x = corrupted.astype(np.float64)
    return [float(np.mean(np.abs(x - c))), float(np.mean(x)), float(np.std(x))]


def summary(draws):
    a = np.array(draws)
    return {'mean': [round(v, 4) for v in a.mean(0)], 'sd': [round(v, 4) for v in a.std(0, ddof=1)]}


def run(f, clean, to_input):
    """Mean and spread of the statistics over the seeded draws, for each severity."""
    out = []
    for severity in range(1, 6):
        draws = []
        for seed in range(SEEDS):
            np.random.seed(seed)
            draws.append(stats(clean, np.uint8(np.asarray(f(to_input(clean), severity)))))
        out.append(summary(draws))
    return out


def main():
    reference_path, out_path = sys.argv[1], sys.argv[2]
    generator = os.path.join(reference_path, 'ImageNet-C/create_c/make_cifar_c.py')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    images = bundled_images(root)
    ns, sha = load_reference(generator)
    os.chdir(os.path.dirname(generator))  # frost reads ./frost*.png

    colour = {name: [run(ns[name], im, Image.fromarray) for im in images] for name in NAMES}

    skimage_gaussian = ns['gaussian']
    ns['gaussian'] = lambda x, sigma, multichannel=False, **kw: skimage_gaussian(x, sigma=sigma, multichannel=x.ndim == 3 and multichannel, **kw)
    greys = [np.asarray(Image.fromarray(im).convert('L')) for im in images]
    grey = {'glass_blur': [run(ns['glass_blur'], g, lambda a: a.copy()) for g in greys]}

    fixture = {
        'about': 'written by scripts/reference-corruptions.py: per image, corruption and severity (1-5), the mean and '
                 'sample sd over numpy seeds of [mean |corrupted - clean|, mean, std] in grey levels of the uint8 output',
        'generator': 'hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py',
        'generatorSha256': sha,
        'seeds': SEEDS,
        'images': {'colour': [im.reshape(-1).tolist() for im in images], 'grey': [g.reshape(-1).tolist() for g in greys]},
        'colour': colour,
        'grey': grey,
    }
    with open(out_path, 'w') as fh:
        json.dump(fixture, fh, separators=(',', ':'))
        fh.write('\n')


if __name__ == '__main__':
    main()
