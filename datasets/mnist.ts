import { defineDataset, IDX_SHAPE, loadIdxSplit, MNIST } from '../src/sdk.js';

export default defineDataset({
  id: 'mnist',
  description: 'MNIST handwritten digits, 28x28 grey, 60,000 train / 10,000 test (first 1,000 test images bundled)',
  imageShape: IDX_SHAPE,
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  // Mean and population std of all 60,000x784 training pixels in [0, 1], computed
  // once from the original train-images-idx3-ubyte.gz (sha256 440fcabf...).
  normalization: { mean: [0.130660], std: [0.308108] },
  load: (opts) => loadIdxSplit(MNIST, opts),
});
