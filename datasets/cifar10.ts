import { CIFAR10, CIFAR_SHAPE, defineDataset, loadCifarSplit } from '../src/sdk.js';

export default defineDataset({
  id: 'cifar10',
  description: 'CIFAR-10 (Krizhevsky 2009) colour images, 32x32x3, 50,000 train / 10,000 test (first 1,000 test images bundled)',
  imageShape: CIFAR_SHAPE,
  classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  // Per-channel (R, G, B) mean and population std over all 50,000x1024 training
  // pixels in [0, 1], computed once from the original data_batch_1..5.bin.
  normalization: { mean: [0.491400, 0.482158, 0.446531], std: [0.247032, 0.243485, 0.261588] },
  load: (opts) => loadCifarSplit(CIFAR10, opts),
});
