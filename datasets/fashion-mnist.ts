import { defineDataset, FASHION_MNIST, IDX_SHAPE, loadIdxSplit } from '../src/sdk.js';

export default defineDataset({
  id: 'fashion-mnist',
  description: 'Fashion-MNIST (Zalando) clothing images, 28x28 grey, 60,000 train / 10,000 test (first 1,000 test images bundled)',
  imageShape: IDX_SHAPE,
  classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  // Mean and population std of all 60,000x784 training pixels in [0, 1], computed
  // once from the original train-images-idx3-ubyte.gz (sha256 3aede38d...).
  normalization: { mean: [0.286041], std: [0.353024] },
  load: (opts) => loadIdxSplit(FASHION_MNIST, opts),
});
