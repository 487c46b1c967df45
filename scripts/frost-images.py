#!/usr/bin/python3
"""
Writes attacks/frost/frost1..5.png, the frost photographs of github:hendrycks/robustness
(ImageNet-C/create_c, Apache-2.0) as make_cifar_c.py's frost uses them: read with cv2.imread and
shrunk with cv2.resize(fx=0.2, fy=0.2) (bilinear), the step the generator runs before cropping,
saved losslessly in RGB order. frost6.jpg is left out: the generator draws np.random.randint(5).
Needs OpenCV (Debian 12: python3-opencv):
  /usr/bin/python3 scripts/frost-images.py ../robustness attacks/frost
"""
import os
import sys

import cv2


def main():
    source, out = os.path.join(sys.argv[1], 'ImageNet-C/create_c'), sys.argv[2]
    for n, name in enumerate(['frost1.png', 'frost2.png', 'frost3.png', 'frost4.jpg', 'frost5.jpg'], 1):
        small = cv2.resize(cv2.imread(os.path.join(source, name)), (0, 0), fx=0.2, fy=0.2)
        # cv2.imwrite takes BGR, so the PNG holds RGB as every other reader expects.
        cv2.imwrite(os.path.join(out, f'frost{n}.png'), small)
        print(name, '->', f'frost{n}.png', small.shape)


if __name__ == '__main__':
    main()
